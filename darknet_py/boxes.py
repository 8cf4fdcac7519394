"""Detection layers' outputs to detections (`network.c: get_network_boxes`, `region_layer.c:
get_region_detections`, `yolo_layer.c: get_yolo_detections`, `detection_layer.c: get_detection_detections`),
and box arithmetic and NMS (`box.c`).

A Detection is Darknet's `detection`: a centre-format box relative to the image, the objectness and one
probability per class. Arithmetic is float32 where Darknet's is float, so thresholds cut where Darknet's do.
"""
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .cpu import nms as compiled_nms
from .gpu.device import to_numpy
from .wordtree.tree import hierarchy_predictions

F32 = np.float32
NMS_THRESH = .45  # test_detector's do_nms_sort threshold


@dataclass
class Detection:
    bbox: np.ndarray        # x, y, w, h (float32), centre format, relative to the image
    objectness: float
    prob: np.ndarray        # (classes,) float32, 0 where below the threshold
    sort_class: int = -1


class BoxArrays(NamedTuple):
    """A list of Detections as three arrays, a row each: what the decoders compute, before (or instead of) the
    one object per box a Detection list makes. A yolov2 frame has 845 boxes, and making their objects holds
    Python's lock long enough to slow a forward running beside it (the demo: nms_obj_above)."""
    bbox: np.ndarray        # (n, 4) float32
    objectness: np.ndarray  # (n,) float32
    prob: np.ndarray        # (n, classes) float32

    def detections(self, rows=None):
        """The Detections of these rows (all by default), in that order; each one's bbox and prob are views of
        its row."""
        objectness = self.objectness.tolist()
        return [Detection(self.bbox[i], objectness[i], self.prob[i])
                for i in (range(len(objectness)) if rows is None else rows)]

    @classmethod
    def of(cls, dets):
        """The arrays of a Detection list."""
        if not dets:
            return cls(np.zeros((0, 4), F32), np.zeros(0, F32), np.zeros((0, 0), F32))
        return cls(np.stack([d.bbox for d in dets]).astype(F32), np.array([d.objectness for d in dets], F32),
                   np.stack([d.prob for d in dets]).astype(F32))

    @classmethod
    def concatenate(cls, parts):
        return cls(*(np.concatenate(arrays) for arrays in zip(*parts))) if len(parts) != 1 else parts[0]


INT_MIN = -2 ** 31
DETECTION_TYPES = ("yolo", "region", "detection")  # the layers get_network_boxes decodes


def _output(layer, output):
    """The output to decode: the one given, else the layer's last."""
    return to_numpy(layer.output if output is None else output)


def c_int(v):
    """C's float -> int on x86 (cvttsd2si): truncation toward zero; NaN, inf and values past an int give INT_MIN."""
    return int(v) if math.isfinite(v) and abs(v) < 2 ** 31 else INT_MIN


def pixel_box(bbox, im_w, im_h):
    """left, top, right, bottom in pixels, as draw_detections computes them, each clamped into the image (Darknet
    clamps one side of each and draw_box the rest). A degenerate network's NaN or inf box is kept, as Darknet
    keeps it: its corners become x86's INT_MIN, then an edge of the image."""
    x, y, w, h = (float(v) for v in bbox)
    left, right = c_int((x - w / 2.) * im_w), c_int((x + w / 2.) * im_w)
    top, bot = c_int((y - h / 2.) * im_h), c_int((y + h / 2.) * im_h)
    clamp = lambda v, size: min(max(v, 0), size - 1)
    return clamp(left, im_w), clamp(top, im_h), clamp(right, im_w), clamp(bot, im_h)


def region_detections(layer, batch_index, im_w, im_h, net_w, net_h, thresh, hier_thresh=.5, relative=True,
                      class_map=None, output=None):
    """region_boxes as a Detection list."""
    return region_boxes(layer, batch_index, im_w, im_h, net_w, net_h, thresh, hier_thresh, relative, class_map,
                        output).detections()


def region_boxes(layer, batch_index, im_w, im_h, net_w, net_h, thresh, hier_thresh=.5, relative=True,
                 class_map=None, output=None):
    """_region_boxes with C's float semantics: a degenerate network's exp(tw) overflows to inf silently."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        return _region_boxes(layer, batch_index, im_w, im_h, net_w, net_h, thresh, hier_thresh, relative,
                             class_map, output)


def _region_boxes(layer, batch_index, im_w, im_h, net_w, net_h, thresh, hier_thresh=.5, relative=True,
                  class_map=None, output=None):
    """get_region_detections for one image of the batch, then correct_region_boxes (letterbox inverse): BoxArrays.

    One detection per anchor and cell, in Darknet's order (anchor-major). For tree models, either the
    `class_map` columns (e.g. COCO's 80 through coco9k.map) or the single hierarchy_top_prediction class.
    Computed for all anchors and cells at once, in Darknet's float/double arithmetic.
    """
    _, h, w = layer.out_shape
    num = layer.num
    out = _output(layer, output)[batch_index].reshape(num, layer.entries, h, w).astype(F32, copy=True)
    first_class = layer.coords + (0 if layer.background else 1)
    # get_region_box: tx, ty already through the logistic in forward; tw, th scaled in double.
    cols = np.arange(w, dtype=F32)[None, None, :]
    rows = np.arange(h, dtype=F32)[None, :, None]
    anchors = layer.biases[:2 * num].reshape(num, 2)[:, :, None, None]
    boxes = np.stack([(cols + out[:, 0]) / F32(w), (rows + out[:, 1]) / F32(h),
                      (np.exp(out[:, 2].astype(np.float64)) * anchors[:, 0] / w).astype(F32),
                      (np.exp(out[:, 3].astype(np.float64)) * anchors[:, 1] / h).astype(F32)], axis=-1)
    scale = np.ones((num, h, w), F32) if layer.background else out[:, layer.coords]
    classes = out[:, first_class:first_class + layer.classes]
    if layer.tree is not None:
        hierarchy_predictions(classes, layer.tree, axis=1)
    scale = scale.reshape(-1)
    p = classes.transpose(0, 2, 3, 1).reshape(num * h * w, layer.classes)
    if layer.tree is not None and class_map is not None:
        mapped = scale[:, None] * p[:, class_map]
        probs = np.where(mapped > thresh, mapped, F32(0))
    elif layer.tree is not None:
        probs = np.zeros_like(p)
        for k in np.flatnonzero(scale > thresh):
            probs[k, layer.tree.top_prediction(p[k], hier_thresh)] = scale[k]
    else:
        scaled = scale[:, None] * p
        probs = np.where((scale[:, None] > thresh) & (scaled > thresh), scaled, F32(0))
    boxes = correct_boxes(boxes.reshape(-1, 4), im_w, im_h, net_w, net_h, relative)
    return BoxArrays(boxes, np.where(scale > thresh, scale, F32(0)), probs.astype(F32))


def yolo_detections(layer, batch_index, im_w, im_h, net_w, net_h, thresh, relative=True, output=None):
    """yolo_boxes as a Detection list."""
    return yolo_boxes(layer, batch_index, im_w, im_h, net_w, net_h, thresh, relative, output).detections()


def yolo_boxes(layer, batch_index, im_w, im_h, net_w, net_h, thresh, relative=True, output=None):
    """get_yolo_detections for one image of the batch, then correct_yolo_boxes (the letterbox inverse): BoxArrays.

    Only the predictions with objectness above thresh, cell by cell and within a cell anchor by anchor
    (Darknet's order); class probabilities objectness * p(class), kept above thresh. Anchors are in
    network-input pixels. Darknet averages a batch of exactly 2 with its flipped copy here (for
    `valid2`); the images of a batch are independent in darknet-py, so each is decoded as it is.
    """
    _, h, w = layer.out_shape
    out = _output(layer, output)[batch_index].reshape(layer.num, layer.entries, h, w)
    out = out.transpose(2, 3, 0, 1).reshape(h * w * layer.num, layer.entries).astype(F32, copy=False)
    keep = np.flatnonzero(out[:, 4] > F32(thresh))
    out = out[keep]
    cell, anchor = np.divmod(keep, layer.num)
    anchors = layer.anchor_sizes()[anchor].astype(np.float64)
    # get_yolo_box: (i + x)/lw in float; exp(tw) * anchor_w / net_w in double, stored as float (an untrained
    # network's large tw gives inf, as C's exp and cast do: silently)
    with np.errstate(over="ignore"):
        boxes = np.stack([((cell % w).astype(F32) + out[:, 0]) / F32(w),
                          ((cell // w).astype(F32) + out[:, 1]) / F32(h),
                          (np.exp(out[:, 2].astype(np.float64)) * anchors[:, 0] / net_w).astype(F32),
                          (np.exp(out[:, 3].astype(np.float64)) * anchors[:, 1] / net_h).astype(F32)], axis=1)
    objectness = out[:, 4]
    probs = objectness[:, None] * out[:, 5:]
    probs = np.where(probs > F32(thresh), probs, F32(0))
    return BoxArrays(correct_boxes(boxes, im_w, im_h, net_w, net_h, relative), objectness, probs)


def detection_detections(layer, batch_index, w, h, thresh, output=None):
    """detection_boxes as a Detection list."""
    return detection_boxes(layer, batch_index, w, h, thresh, output).detections()


def detection_boxes(layer, batch_index, w, h, thresh, output=None):
    """get_detection_detections (YOLOv1) for one image, as BoxArrays: one detection per cell and box, cell-major; boxes
    times w, h (1, 1 for relative boxes), objectness the raw confidence, class probabilities confidence *
    p(class) kept above thresh. No letterbox correction: a YOLOv1 input is a plain resize (examples/yolo.c)."""
    out = _output(layer, output)[batch_index].reshape(-1).astype(F32, copy=False)
    cells, n, classes, side = layer.cells, layer.num, layer.classes, layer.side
    probs = out[:cells * classes].reshape(cells, 1, classes)
    scale = out[cells * classes:cells * (classes + n)].reshape(cells, n)
    raw = out[cells * (classes + n):].reshape(cells, n, 4)
    col = (np.arange(cells) % side).astype(F32)[:, None]
    row = (np.arange(cells) // side).astype(F32)[:, None]
    # (x + col) / side * w in float; pow(w, sqrt ? 2 : 1) * w in double, stored as float
    power = 2 if layer.sqrt else 1
    boxes = np.stack([(raw[..., 0] + col) / F32(side) * F32(w), (raw[..., 1] + row) / F32(side) * F32(h),
                      (raw[..., 2].astype(np.float64) ** power * w).astype(F32),
                      (raw[..., 3].astype(np.float64) ** power * h).astype(F32)], axis=-1)
    p = scale[:, :, None] * probs
    p = np.where(p > F32(thresh), p, F32(0))
    return BoxArrays(boxes.reshape(-1, 4), scale.reshape(-1), p.reshape(-1, classes))


def get_network_boxes(net, batch_index, im_w, im_h, thresh, hier_thresh=.5, relative=True, class_map=None,
                      outputs=None):
    """network_boxes as a Detection list."""
    return network_boxes(net, batch_index, im_w, im_h, thresh, hier_thresh, relative, class_map, outputs).detections()


def network_boxes(net, batch_index, im_w, im_h, thresh, hier_thresh=.5, relative=True, class_map=None, outputs=None):
    """get_network_boxes (fill_network_boxes), as BoxArrays: the detections of every [yolo], [region] and
    [detection] layer of `net`, in layer order, for image `batch_index` of the last forward (of size
    im_w x im_h), or of `outputs` ({layer index: its batch's output}, kept from a forward: a pipeline decodes
    one frame while the network runs the next).

    [yolo] and [region] boxes undo the letterbox and are relative to the image, or in its pixels when not
    `relative`. [detection] (YOLOv1) boxes are relative, or in image pixels: Darknet's fill_network_boxes
    passes the image size to get_detection_detections whatever `relative` says and callers that letterbox
    (detector test, valid) get boxes off the image; we follow examples/yolo.c, which resizes and asks for
    w, h = 1, 1 or the image size (see detector.letterboxes).
    """
    parts = []
    for i, layer in enumerate(net.layers):
        output = outputs[i] if outputs is not None and layer.type in DETECTION_TYPES else None
        if layer.type == "yolo":
            parts.append(yolo_boxes(layer, batch_index, im_w, im_h, net.w, net.h, thresh, relative, output))
        elif layer.type == "region":
            parts.append(region_boxes(layer, batch_index, im_w, im_h, net.w, net.h, thresh, hier_thresh, relative,
                                      class_map, output))
        elif layer.type == "detection":
            w, h = (1, 1) if relative else (im_w, im_h)
            parts.append(detection_boxes(layer, batch_index, w, h, thresh, output))
    return BoxArrays.concatenate(parts) if parts else BoxArrays.of([])


def detections_from_rows(indices, rows, total):
    """A region_detections list of `total` detections from decoded rows (gpu.Plan.decode): rows[k] =
    x, y, w, h, objectness, class probabilities of detection indices[k]; the rest have objectness and
    probabilities 0 (and a zero box, unused: nothing reads the box of an empty detection)."""
    rows = np.asarray(rows, F32)
    boxes = np.zeros((total, 4), F32)
    probs = np.zeros((total, rows.shape[1] - 5), F32)
    objectness = np.zeros(total)
    boxes[indices], objectness[indices], probs[indices] = rows[:, :4], rows[:, 4], rows[:, 5:]
    return [Detection(box, obj, prob) for box, obj, prob in zip(boxes, objectness.tolist(), probs)]


def correct_boxes(boxes, im_w, im_h, net_w, net_h, relative=True):
    """correct_region_boxes on (n, 4) centre-format boxes: undo the letterbox with Darknet's integer
    new_w/new_h, double offsets and float boxes; pixels unless relative. Returns a new array."""
    if F32(net_w) / F32(im_w) < F32(net_h) / F32(im_h):
        new_w, new_h = net_w, (im_h * net_w) // im_w
    else:
        new_h, new_w = net_h, (im_w * net_h) // im_h
    x, y, w, h = np.asarray(boxes, F32).T
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # an image so thin its letterbox is 0 px
        sx, sy = F32(new_w) / F32(net_w), F32(new_h) / F32(net_h)
        ox, oy = (net_w - new_w) / 2. / net_w, (net_h - new_h) / 2. / net_h
        gx, gy = F32(net_w) / F32(new_w), F32(net_h) / F32(new_h)
        x = ((x.astype(np.float64) - ox) / np.float64(sx)).astype(F32)
        y = ((y.astype(np.float64) - oy) / np.float64(sy)).astype(F32)
        w, h = w * gx, h * gy
    if not relative:
        x, w, y, h = x * F32(im_w), w * F32(im_w), y * F32(im_h), h * F32(im_h)
    return np.stack([x, y, w, h], axis=1)


def box_iou(a, b):
    """box.c box_iou on centre-format boxes a, b = (x, y, w, h), in float32 as Darknet.

    Each coordinate may be a scalar or an array; they broadcast, so one call compares many boxes.
    """
    ax, ay, aw, ah = (np.asarray(v, F32) for v in a)
    bx, by, bw, bh = (np.asarray(v, F32) for v in b)
    half = F32(2)

    def overlap(x1, w1, x2, w2):  # box.c overlap's ternaries (not min/max: they differ on NaN, e.g. 0 * inf)
        l1, l2, r1, r2 = x1 - w1 / half, x2 - w2 / half, x1 + w1 / half, x2 + w2 / half
        return np.where(r1 < r2, r1, r2) - np.where(l1 > l2, l1, l2)
    with np.errstate(all="ignore"):  # NaN / inf boxes of a degenerate network give NaN, as in C, silently
        w, h = overlap(ax, aw, bx, bw), overlap(ay, ah, by, bh)
        inter = np.where((w < 0) | (h < 0), F32(0), w * h)
        return (inter / (aw * ah + bw * bh - inter)).astype(F32)


def _empty_last(objectness):
    """do_nms_*'s swap loop, which moves the detections of objectness 0 to the end: (the indices of the others, in
    the order it leaves them; the indices of the empty ones)."""
    order = list(range(len(objectness)))
    k = len(order) - 1
    i = 0
    while i <= k:
        if objectness[order[i]] == 0:
            order[i], order[k] = order[k], order[i]
            k -= 1
        else:
            i += 1
    return order[:k + 1], order[k + 1:]


def _drop_empty(dets):
    """do_nms_*: move detections with objectness 0 to the end and keep the rest (lists of both)."""
    live, empty = _empty_last([d.objectness for d in dets])
    return [dets[i] for i in live], [dets[i] for i in empty]


def iou_matrix(boxes):
    """box_iou of every pair of (n, 4) centre-format boxes."""
    b = np.asarray(boxes, F32).reshape(-1, 4)
    return box_iou(b.T[:, :, None], b.T[:, None, :])  # [i, j]: box i against box j


def _greedy_keep(over):
    """Walk boxes in order; each one still kept suppresses the later ones it overlaps (over[i, j])."""
    keep = np.ones(len(over), bool)
    for i in range(len(over)):
        if keep[i]:
            keep[i + 1:] &= ~over[i, i + 1:]
    return keep


class _Overlaps:
    """Greedy suppression among ranked subsets of the same boxes: compiled pair by pair where numba is present
    (cpu/nms.py, the same floats), else from one matrix of every pair's IoU > thresh, made at the first use."""

    def __init__(self, boxes, thresh):
        self.boxes, self.thresh, self.over = np.asarray(boxes, F32).reshape(-1, 4), thresh, None

    def keep(self, ranked):
        """Of the boxes `ranked` (indices, best first): True for each one no better box suppresses."""
        if compiled_nms.available():
            return compiled_nms.greedy_keep(self.boxes, ranked, self.thresh)
        if self.over is None:
            self.over = iou_matrix(self.boxes) > F32(self.thresh)
        return _greedy_keep(self.over[np.ix_(ranked, ranked)])


def do_nms_sort(dets, classes, thresh=NMS_THRESH):
    """Per class: sort by that class's probability, zero it in later boxes overlapping by more than thresh.

    Darknet sorts with qsort (glibc's is a stable merge sort here); we sort stably too, each class's sort
    starting from the previous class's order as Darknet's in-place sorts do, so equal probabilities keep
    Darknet's order. The overlaps come from _Overlaps (compiled pair by pair, or one matrix of all pairs).
    Returns all detections in Darknet's final order.
    """
    live, empty = _drop_empty(dets)
    if not live:
        return empty
    overlaps = _Overlaps([d.bbox for d in live], thresh)
    probs = np.stack([d.prob for d in live])
    order = np.arange(len(live))
    for k in range(classes):
        order = order[np.argsort(-probs[order, k], kind="stable")]
        ranked = order[probs[order, k] != 0]
        if len(ranked) > 1:
            probs[ranked[~overlaps.keep(ranked)], k] = 0
    for d, p in zip(live, probs):
        d.prob[:] = p
        d.sort_class = classes - 1
    return [live[i] for i in order] + empty


def _nms_obj_order(bbox, objectness, thresh):
    """do_nms_obj on a list's boxes (n, 4) and objectness (Python floats): (the live detections' indices sorted by
    objectness, best first - a stable sort, as glibc's qsort; which of them no better box suppresses; the indices
    of the empty ones, which go last)."""
    live, empty = _empty_last(objectness)
    if not live:
        return live, np.zeros(0, bool), empty
    live.sort(key=lambda i: -objectness[i])
    return live, _Overlaps(np.asarray(bbox, F32).reshape(-1, 4)[live], thresh).keep(np.arange(len(live))), empty


def do_nms_obj(dets, classes, thresh):
    """Sort by objectness; a box overlapping a better one by more than thresh loses every class."""
    live, keep, empty = _nms_obj_order([d.bbox for d in dets], [d.objectness for d in dets], thresh)
    for i, kept in zip(live, keep):
        dets[i].sort_class = -1
        if not kept:
            dets[i].objectness = 0
            dets[i].prob[:] = 0
    return [dets[i] for i in live + empty]


def nms_obj_above(boxes, nms, thresh):
    """The Detections with a class above thresh that do_nms_obj(boxes.detections(), _, nms) leaves (nms=0: no NMS),
    in its order: everything demo.c prints, draws and writes of a frame, with objects made for those alone.
    (Boxes it suppresses lose every class, so the kept live ones are all that can be above thresh, then the
    empty ones, whose probabilities the decoders left 0.)"""
    order = np.arange(len(boxes.objectness))
    if nms:
        live, keep, empty = _nms_obj_order(boxes.bbox, boxes.objectness.tolist(), nms)
        order = np.concatenate([np.asarray(live, np.intp)[keep], np.asarray(empty, np.intp)])
    return boxes.detections(order[(boxes.prob[order] > thresh).any(axis=1)].tolist())


def classes_above(dets, thresh):
    """[(detection, [class, ...])] for the detections with some class prob > thresh, classes in index order:
    what draw_detections labels and prints, in its order (one comparison for all of them)."""
    if not dets:
        return []
    rows, classes = np.nonzero(np.stack([d.prob for d in dets]) > thresh)
    found = {}
    for i, j in zip(rows.tolist(), classes.tolist()):
        found.setdefault(i, []).append(j)
    return [(dets[i], js) for i, js in found.items()]
