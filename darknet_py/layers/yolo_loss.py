"""YOLOv3's loss (`yolo_layer.c: forward_yolo_layer` with net.train, Darknet 2018-09 61c9d02e).

Deltas are target - output on the [yolo] layer's activated output, per image:
  1. every prediction: objectness toward 0, unless its box overlaps some truth by more than
     ignore_thresh (then no objectness gradient), or by more than truth_thresh (then it also learns that
     truth: objectness 1, its classes, its box);
  2. every truth: the anchor of best shape among all `num` (centres aligned, anchor sizes in input
     pixels); when this layer predicts that anchor (it is in the mask), the prediction at the truth's
     cell regresses its box to it (scale 2 - w*h), its objectness to 1 and its classes to the label.
Box targets are tx = x*w - i, ty = y*h - j against the sigmoid outputs and tw = log(w*net_w/anchor_w),
th = log(h*net_h/anchor_h) against the raw ones. Arithmetic is float32 where Darknet's is float and
double where its C promotes (exp, log), so the deltas are its bits up to the order of sums.
"""
import math
from dataclasses import dataclass

import numpy as np

from ..boxes import box_iou
from ..gpu.device import to_numpy
from .region_loss import ratio

F32 = np.float32
TRUTHS = 90  # make_yolo_layer: l.truths = 90*(4 + 1), the truth rows per image whatever `max` says
RECALL_IOU, RECALL75_IOU = .5, .75


@dataclass
class YoloStats:
    """The sums behind Darknet's "Region <layer> Avg IOU ..." line of a [yolo] layer."""
    layer: int
    predictions: int
    avg_iou: float = 0.
    avg_cat: float = 0.
    avg_obj: float = 0.
    avg_anyobj: float = 0.
    recall: float = 0.
    recall75: float = 0.
    count: int = 0
    class_count: int = 0

    def line(self):
        return (f"Region {self.layer} Avg IOU: {ratio(self.avg_iou, self.count)}, "
                f"Class: {ratio(self.avg_cat, self.class_count)}, Obj: {ratio(self.avg_obj, self.count)}, "
                f"No Obj: {ratio(self.avg_anyobj, self.predictions)}, .5R: {ratio(self.recall, self.count)}, "
                f".75R: {ratio(self.recall75, self.count)},  count: {self.count}")


class YoloLoss:
    """One forward_yolo_layer training pass over a batch: fills `delta` and `stats`, returns the cost."""

    def __init__(self, layer, output, truth, net_w, net_h):
        self.l = layer
        b = output.shape[0]
        _, self.h, self.w = layer.in_shape
        self.net_w, self.net_h = net_w, net_h
        self.out = to_numpy(output).reshape(b, layer.num, layer.entries, self.h, self.w)
        self.truth = to_numpy(truth).astype(F32).reshape(b, -1)
        self.delta = np.zeros_like(self.out)
        self.stats = YoloStats(layer.number, layer.num * self.h * self.w * b)
        self.anchors = layer.biases.reshape(-1, 2).astype(F32)  # all `num`, in input pixels

    def truths(self, b):
        """The image's truth rows (x, y, w, h, class) up to the first with x == 0 (Darknet's `break`)."""
        rows = self.truth[b, :TRUTHS * 5].reshape(-1, 5)[:self.l.max_boxes]
        end = next((t for t, row in enumerate(rows) if not row[0]), len(rows))
        return rows[:end]

    def pred_boxes(self, out, anchors):
        """get_yolo_box for every anchor and cell of out (n, entries, h, w): four (n, h, w) float32 arrays."""
        cols = np.arange(self.w, dtype=F32)[None, None, :]
        rows = np.arange(self.h, dtype=F32)[None, :, None]
        x = (cols + out[:, 0]) / F32(self.w)
        y = (rows + out[:, 1]) / F32(self.h)
        bw = (np.exp(out[:, 2].astype(np.float64)) * anchors[:, 0, None, None] / self.net_w).astype(F32)
        bh = (np.exp(out[:, 3].astype(np.float64)) * anchors[:, 1, None, None] / self.net_h).astype(F32)
        return x, y, bw, bh

    def run(self):
        for b in range(self.out.shape[0]):
            truths = self.truths(b)
            self.background_terms(b, truths)
            for truth in truths:
                self.truth_terms(b, truth)
        return float(np.sum(self.delta.astype(np.float64) ** 2))

    def background_terms(self, b, truths):
        """The loop over every prediction: objectness toward 0 unless it overlaps a truth well enough."""
        l, out, delta = self.l, self.out[b], self.delta[b]
        obj = out[:, 4]
        self.stats.avg_anyobj += float(obj.sum(dtype=np.float64))
        delta[:, 4] = 0 - obj
        if not len(truths):
            return
        boxes = self.pred_boxes(out, self.anchors[l.mask])
        ious = box_iou([v[..., None] for v in boxes], truths[:, :4].T)  # (n, h, w, truths)
        ious = np.where(np.isnan(ious), F32(0), ious)  # a NaN IoU (0/0) never passes Darknet's `iou > best`
        best = ious.max(axis=-1)  # Darknet's strict '>' from 0: argmax is the first of equal maxima
        delta[:, 4][best > l.ignore_thresh] = 0
        for n, j, i in zip(*np.nonzero(best > l.truth_thresh)):
            t = int(np.argmax(ious[n, j, i]))
            delta[n, 4, j, i] = 1 - out[n, 4, j, i]
            self.class_delta(out, delta, n, j, i, self.label(truths[t]), count=False)
            self.box_delta(out, delta, truths[t], n, l.mask[n], j, i)

    def truth_terms(self, b, truth):
        """One truth: the best-shaped anchor of all `num`; if this layer predicts it, that prediction learns."""
        l, out, delta = self.l, self.out[b], self.delta[b]
        # C converts x*w to int by truncation; x == 1 would index past the grid (Darknet writes out of bounds)
        i, j = min(int(truth[0] * F32(self.w)), self.w - 1), min(int(truth[1] * F32(self.h)), self.h - 1)
        shapes = (F32(0), F32(0), self.anchors[:, 0] / F32(self.net_w), self.anchors[:, 1] / F32(self.net_h))
        ious = box_iou(shapes, (F32(0), F32(0), truth[2], truth[3]))
        best_n = int(np.argmax(ious)) if ious.max() > 0 else 0
        if best_n not in l.mask:
            return
        n = l.mask.index(best_n)
        iou = float(self.box_delta(out, delta, truth, n, best_n, j, i))
        self.stats.avg_obj += float(out[n, 4, j, i])
        delta[n, 4, j, i] = 1 - out[n, 4, j, i]
        self.class_delta(out, delta, n, j, i, self.label(truth), count=True)
        self.stats.count += 1
        self.stats.class_count += 1
        self.stats.recall += iou > RECALL_IOU
        self.stats.recall75 += iou > RECALL75_IOU
        self.stats.avg_iou += iou

    def label(self, truth):
        label = int(truth[4])
        return self.l.map[label] if self.l.map is not None else label

    def box_delta(self, out, delta, truth, n, anchor, j, i):
        """delta_yolo_box for the prediction of mask entry n (anchor index `anchor`) at cell (j, i), scale
        2 - w*h; returns the IoU of its box with the truth."""
        aw, ah = self.anchors[anchor]
        p = out[n, :4, j, i]
        with np.errstate(over="ignore"):  # exp of a large tw is inf in C too
            size = np.exp(p[2:4].astype(np.float64)) * self.anchors[anchor] / (self.net_w, self.net_h)
        pred = ((F32(i) + p[0]) / F32(self.w), (F32(j) + p[1]) / F32(self.h), *size.astype(F32))
        iou = box_iou(pred, truth[:4])
        targets = (truth[0] * F32(self.w) - F32(i), truth[1] * F32(self.h) - F32(j),
                   F32(math.log(truth[2] * F32(self.net_w) / aw)), F32(math.log(truth[3] * F32(self.net_h) / ah)))
        scale = F32(2) - truth[2] * truth[3]
        for k, target in enumerate(targets):
            delta[n, k, j, i] = scale * (target - p[k])
        return iou

    def class_delta(self, out, delta, n, j, i, label, count):
        """delta_yolo_class: one-hot minus the output; an anchor whose classes already have targets (a second
        truth on it) only gets its own class set."""
        classes = out[n, 5:, j, i]
        if delta[n, 5, j, i]:
            delta[n, 5 + label, j, i] = 1 - classes[label]
        else:
            target = np.zeros_like(classes)
            target[label] = 1
            delta[n, 5:, j, i] = target - classes
        if count:
            self.stats.avg_cat += float(classes[label])


def yolo_loss(layer, output, truth, net_w, net_h):
    """forward_yolo_layer's training half: (delta (B, C, H, W) float32, cost = sum(delta^2), YoloStats).

    output: the [yolo] layer's activated output; truth: (B, 90*5) rows of x, y, w, h, class (normalised);
    net_w, net_h: the network input size (the unit of the anchors).
    """
    loss = YoloLoss(layer, output, truth, net_w, net_h)
    cost = loss.run()
    return loss.delta.reshape(output.shape), cost, loss.stats
