"""YOLOv2's region loss (`region_layer.c: forward_region_layer` with net.train, Darknet 2018-09 61c9d02e).

Deltas are target - output on the region layer's *activated* output (sigmoid tx, ty, objectness;
softmax / tree-softmax / logistic classes; raw tw, th), indexed as Darknet's entry_index on a flat
per-batch array. The loss runs on the host, as Darknet pulls the GPU output to the CPU for it.
"""
import math
from dataclasses import dataclass

import numpy as np

from ..boxes import box_iou
from ..gpu.device import to_numpy

F32 = np.float32
MAX_TRUTHS = 30  # make_region_layer: l.truths = 30*(coords + 1), at most 30 boxes per image
PRIOR_SEEN = 12800  # while net.seen < 12800 every prediction is pulled toward its anchor box
PRIOR_SCALE = .01  # the weight of that pull (delta_region_box(..., .01, ...))
RECALL_IOU = .5  # a matched truth counts toward "Avg Recall" when its IoU exceeds this
ONLY_CLASS = 100000  # truth x and y above this: a classification-only label (YOLO9000's ImageNet data)
ONLY_CLASS_OBJ = .3  # objectness target Darknet computes for such labels, then overwrites with 0


def ratio(a, b):
    """a/b as printf's %f prints C's float division: 0/0 is a NaN with the sign bit set on x86, which glibc
    prints as "-nan"; x/0 is +-inf."""
    return f"{a / b:f}" if b else ("-nan" if a == 0 else f"{math.copysign(math.inf, a):f}")


@dataclass
class RegionStats:
    """The sums behind Darknet's "Region Avg IOU ..." line."""
    avg_iou: float = 0.
    avg_cat: float = 0.
    avg_obj: float = 0.
    avg_anyobj: float = 0.
    recall: float = 0.
    count: int = 0
    class_count: int = 0
    predictions: int = 0

    def line(self):
        return (f"Region Avg IOU: {ratio(self.avg_iou, self.count)}, Class: {ratio(self.avg_cat, self.class_count)}, "
                f"Obj: {ratio(self.avg_obj, self.count)}, No Obj: {ratio(self.avg_anyobj, self.predictions)}, "
                f"Avg Recall: {ratio(self.recall, self.count)},  count: {self.count}")


class RegionLoss:
    """One forward_region_layer training pass over a batch: fills `delta` and `stats`, returns the cost."""

    def __init__(self, layer, output, truth, seen):
        self.l = layer
        b = output.shape[0]
        _, self.h, self.w = layer.in_shape
        self.out = to_numpy(output).reshape(b, -1)
        self.truth = to_numpy(truth).astype(F32).reshape(b, -1)
        self.seen = seen
        self.delta = np.zeros_like(self.out)
        self.stats = RegionStats(predictions=layer.num * self.h * self.w * b)
        self.anchor_w = layer.biases[0::2].astype(F32)
        self.anchor_h = layer.biases[1::2].astype(F32)
        if layer.coords != 4:
            raise layer.error("the region loss supports coords=4 only (Darknet's mask coords are not implemented)")

    def index(self, location, entry):
        """entry_index(l, 0, location, entry) within one image's flat output."""
        spatial = self.w * self.h
        n, loc = divmod(location, spatial)
        return n * spatial * self.l.entries + entry * spatial + loc

    def truths(self, b):
        """The image's truth boxes (x, y, w, h, class) up to the first with x == 0 (Darknet's `break`)."""
        rows = self.truth[b, :MAX_TRUTHS * 5].reshape(-1, 5)
        end = next((t for t, row in enumerate(rows) if not row[0]), len(rows))
        return rows[:end]

    def run(self):
        for b in range(self.out.shape[0]):
            truths = self.truths(b)
            if self.l.tree is not None and self.class_only(b, truths):
                continue
            self.background_terms(b, truths)
            for truth in truths:
                self.truth_terms(b, truth)
        return float(np.sum(self.delta.astype(np.float64) ** 2))

    def pred_box(self, out, n, index, i, j, stride):
        """get_region_box: ((i + sx)/w, (j + sy)/h, exp(tw)*anchor_w/w, exp(th)*anchor_h/h) in float32."""
        x = (i + out[index]) / F32(self.w)
        y = (j + out[index + stride]) / F32(self.h)
        bw = (np.exp(out[index + 2 * stride].astype(np.float64)) * self.anchor_w[n] / self.w).astype(F32)
        bh = (np.exp(out[index + 3 * stride].astype(np.float64)) * self.anchor_h[n] / self.h).astype(F32)
        return x, y, bw, bh

    def box_delta(self, out, delta, truth, n, index, i, j, scale):
        """delta_region_box: targets tx = x*w - i, ty = y*h - j (vs the sigmoid), tw = log(w*W/anchor_w),
        th = log(h*H/anchor_h) (vs the raw output); returns the IoU of the prediction with the truth."""
        stride = self.w * self.h
        iou = box_iou(self.pred_box(out, n, index, i, j, stride), truth[:4])
        tx = truth[0] * F32(self.w) - F32(i)
        ty = truth[1] * F32(self.h) - F32(j)
        tw = F32(math.log(truth[2] * F32(self.w) / self.anchor_w[n]))
        th = F32(math.log(truth[3] * F32(self.h) / self.anchor_h[n]))
        for k, target in enumerate((tx, ty, tw, th)):
            delta[index + k * stride] = F32(scale) * (target - out[index + k * stride])
        return iou

    def class_delta(self, out, delta, index, label, scale):
        """delta_region_class: one-hot (or the tree path, each group against its softmax) minus the output."""
        stride = self.w * self.h
        scale = F32(scale)
        tree = self.l.tree
        if tree is not None:
            pred = F32(1)
            while label >= 0:
                pred *= out[index + stride * label]
                g = tree.group[label]
                offset, size = int(tree.group_offset[g]), int(tree.group_size[g])
                group = slice(index + stride * offset, index + stride * (offset + size), stride)
                delta[group] = scale * (0 - out[group])
                delta[index + stride * label] = scale * (1 - out[index + stride * label])
                label = int(tree.parent[label])
            self.stats.avg_cat += float(pred)
            return
        if delta[index] and not self.l.softmax:
            # tag = !l.softmax: a second truth on an anchor whose logistic classes already have targets
            # only sets its own class.
            delta[index + stride * label] = scale * (1 - out[index + stride * label])
            return
        classes = slice(index, index + stride * self.l.classes, stride)
        target = np.zeros(self.l.classes, F32)
        target[label] = 1
        delta[classes] = scale * (target - out[classes])
        self.stats.avg_cat += float(out[index + stride * label])

    def class_only(self, b, truths):
        """YOLO9000 classification-only labels: backprop the class tree at the location with the highest
        objectness * P(class), push every objectness toward 0 and leave the chosen one's at 0."""
        l, out, delta = self.l, self.out[b], self.delta[b]
        for truth in truths:
            if not (truth[0] > ONLY_CLASS and truth[1] > ONLY_CLASS):
                continue
            label = int(truth[4])
            obj = self.obj_view(out)
            delta_obj = self.obj_view(delta)
            delta_obj[...] = F32(l.noobject_scale) * (0 - obj)
            probability = obj.reshape(l.num, -1).copy()
            node = label
            while node >= 0:  # get_hierarchy_probability, accumulated in float32 as Darknet's float
                probability *= self.entry_view(out, l.coords + 1 + node).reshape(l.num, -1)
                node = int(l.tree.parent[node])
            flat = probability.ravel()
            best = int(np.argmax(flat)) if flat.max() > 0 else 0  # first strict maximum above maxp = 0
            self.class_delta(out, delta, self.index(best, l.coords + 1), label, l.class_scale)
            obj_index = self.index(best, l.coords)
            o = out[obj_index]
            delta[obj_index] = F32(l.object_scale) * (F32(ONLY_CLASS_OBJ) - o) if o < ONLY_CLASS_OBJ else 0
            delta[obj_index] = 0  # Darknet computes the .3 target above, then discards it
            self.stats.class_count += 1
            return True
        return False

    def entry_view(self, flat, entry):
        """One entry of every anchor as an (n, h, w) view of an image's flat array."""
        return flat.reshape(self.l.num, self.l.entries, self.h, self.w)[:, entry]

    def obj_view(self, flat):
        return self.entry_view(flat, self.l.coords)

    def background_terms(self, b, truths):
        """Every prediction: objectness toward 0 unless it overlaps a truth by more than thresh; before 12800
        images, coordinates toward the anchor box at the cell centre with weight .01."""
        l, out, delta = self.l, self.out[b], self.delta[b]
        n_idx, j_idx, i_idx = np.meshgrid(np.arange(l.num), np.arange(self.h), np.arange(self.w), indexing="ij")
        sx, sy, tw, th = (self.entry_view(out, k) for k in range(4))
        px = (i_idx + sx) / F32(self.w)
        py = (j_idx + sy) / F32(self.h)
        pw = (np.exp(tw.astype(np.float64)) * self.anchor_w[:, None, None] / self.w).astype(F32)
        ph = (np.exp(th.astype(np.float64)) * self.anchor_h[:, None, None] / self.h).astype(F32)
        best_iou = np.zeros(px.shape, F32)
        for truth in truths:
            best_iou = np.maximum(best_iou, box_iou((px, py, pw, ph), truth[:4]))
        obj = self.obj_view(out)
        self.stats.avg_anyobj += float(obj.sum(dtype=np.float64))
        target = F32(1 if l.background else 0)
        self.obj_view(delta)[...] = np.where(best_iou > F32(l.thresh), F32(0), F32(l.noobject_scale) * (target - obj))
        if self.seen < PRIOR_SEEN:
            # truth = ((i + .5)/w, (j + .5)/h, anchor_w/w, anchor_h/h), so the targets are about (.5, .5, 0, 0).
            cx = ((i_idx + F32(.5)) / F32(self.w)).astype(F32) * F32(self.w) - i_idx
            cy = ((j_idx + F32(.5)) / F32(self.h)).astype(F32) * F32(self.h) - j_idx
            aw = (self.anchor_w / F32(self.w)).astype(F32)
            ah = (self.anchor_h / F32(self.h)).astype(F32)
            cw = np.log((aw * F32(self.w) / self.anchor_w).astype(F32)).astype(F32)[:, None, None]
            ch = np.log((ah * F32(self.h) / self.anchor_h).astype(F32)).astype(F32)[:, None, None]
            for k, (target_k, value) in enumerate(((cx, sx), (cy, sy), (cw, tw), (ch, th))):
                self.entry_view(delta, k)[...] = F32(PRIOR_SCALE) * (target_k - value)

    def truth_terms(self, b, truth):
        """One truth: the best-shaped anchor at its cell regresses to it, its objectness to 1 (or the IoU
        with rescore) and its classes to the label."""
        l, out, delta = self.l, self.out[b], self.delta[b]
        i, j = int(truth[0] * F32(self.w)), int(truth[1] * F32(self.h))
        spatial = self.w * self.h
        best_iou, best_n = F32(0), 0
        for n in range(l.num):
            index = self.index(n * spatial + j * self.w + i, 0)
            _, _, pw, ph = self.pred_box(out, n, index, i, j, spatial)
            if l.bias_match:  # compare the truth's shape with the anchor's, not the prediction's
                pw, ph = self.anchor_w[n] / F32(self.w), self.anchor_h[n] / F32(self.h)
            iou = box_iou((0, 0, pw, ph), (0, 0, truth[2], truth[3]))
            if iou > best_iou:
                best_iou, best_n = iou, n
        location = best_n * spatial + j * self.w + i
        box_index = self.index(location, 0)
        # coord_scale * (2 - w*h): small boxes weigh more.
        scale = F32(l.coord_scale) * (F32(2) - truth[2] * truth[3])
        iou = float(self.box_delta(out, delta, truth, best_n, box_index, i, j, scale))
        self.stats.recall += iou > RECALL_IOU
        self.stats.avg_iou += iou
        obj_index = self.index(location, l.coords)
        o = out[obj_index]
        self.stats.avg_obj += float(o)
        delta[obj_index] = F32(l.object_scale) * (F32(iou if l.rescore else 1) - o)
        if l.background:
            delta[obj_index] = F32(l.object_scale) * (0 - o)
        label = int(truth[4])
        if l.map is not None:
            label = l.map[label]
        self.class_delta(out, delta, self.index(location, l.coords + 1), label, l.class_scale)
        self.stats.count += 1
        self.stats.class_count += 1


def region_loss(layer, output, truth, seen):
    """forward_region_layer's training half: (delta (B, C, H, W) float32, cost = sum(delta^2), RegionStats).

    output: the region layer's activated output; truth: (B, 30*5) rows of x, y, w, h, class (normalised).
    """
    loss = RegionLoss(layer, output, truth, seen)
    cost = loss.run()
    return loss.delta.reshape(output.shape), cost, loss.stats
