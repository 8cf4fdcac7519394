"""YOLOv1's loss (`detection_layer.c: forward_detection_layer` with net.train, Darknet 2018-09 61c9d02e).

The truth is a grid, per cell: is-object, the one-hot classes, then x, y (offsets in the cell), w, h
(relative to the image). Per cell, every box confidence goes toward 0 (noobject_scale); a cell with an
object also regresses its class probabilities to the one-hot (class_scale) and its "responsible" box -
the one of best IoU with the truth (or, when none overlaps, of least RMSE) - regresses its confidence to
1 (or the IoU with rescore) and its coordinates to the truth's (coord_scale; sqrt(w), sqrt(h) with sqrt=1).
Deltas are target - output; the cost is sum(delta^2), as Darknet's final assignment makes it.
"""
import math
from dataclasses import dataclass

import numpy as np

from ..boxes import box_iou
from ..gpu.device import to_numpy
from .region_loss import ratio

F32 = np.float32
FIRST_RMSE = 20  # best_rmse starts at 20: a box farther than that from the truth is never chosen by RMSE
RANDOM_SEEN = 64000  # random=1 picks the responsible box at random while net.seen < 64000
FORCED_AREA = .1  # forced=1: box 1 for truths smaller than this (w*h), box 0 otherwise


@dataclass
class DetectionStats:
    """The sums behind Darknet's "Detection Avg IOU ..." line."""
    predictions: int
    classes: int
    avg_iou: float = 0.
    avg_cat: float = 0.
    avg_allcat: float = 0.
    avg_obj: float = 0.
    avg_anyobj: float = 0.
    count: int = 0

    def line(self):
        return (f"Detection Avg IOU: {ratio(self.avg_iou, self.count)}, Pos Cat: {ratio(self.avg_cat, self.count)}, "
                f"All Cat: {ratio(self.avg_allcat, self.count * self.classes)}, "
                f"Pos Obj: {ratio(self.avg_obj, self.count)}, Any Obj: {ratio(self.avg_anyobj, self.predictions)}, "
                f"count: {self.count}")


def cell_box(values, side, sqrt):
    """float_to_box of a predicted box with x, y divided by side (and w, h squared with sqrt=1), float32."""
    x, y, w, h = (F32(v) for v in values)
    if sqrt:
        w, h = w * w, h * h
    return x / F32(side), y / F32(side), w, h


class DetectionLoss:
    """One forward_detection_layer training pass over a batch: fills `delta` and `stats`, returns the cost."""

    def __init__(self, layer, output, truth, seen):
        self.l = layer
        b = output.shape[0]
        self.out = to_numpy(output).reshape(b, -1)
        self.truth = to_numpy(truth).astype(F32).reshape(b, layer.cells, 1 + layer.classes + 4)
        self.seen = seen
        self.delta = np.zeros_like(self.out)
        self.stats = DetectionStats(b * layer.cells * layer.num, layer.classes)

    def run(self):
        for b in range(self.out.shape[0]):
            for cell in range(self.l.cells):
                self.cell_terms(b, cell)
        return float(np.sum(self.delta.astype(np.float64) ** 2))

    def cell_terms(self, b, cell):
        l, out, delta, truth = self.l, self.out[b], self.delta[b], self.truth[b, cell]
        cells, n, classes = l.cells, l.num, l.classes
        confidence = slice(cells * classes + cell * n, cells * classes + (cell + 1) * n)
        delta[confidence] = F32(l.noobject_scale) * (0 - out[confidence])
        self.stats.avg_anyobj += float(out[confidence].sum(dtype=np.float64))
        if not int(truth[0]):  # int is_obj = net.truth[...]: C truncates
            return
        probs = slice(cell * classes, (cell + 1) * classes)
        delta[probs] = F32(l.class_scale) * (truth[1:1 + classes] - out[probs])
        self.stats.avg_cat += float(out[probs][truth[1:1 + classes] != 0].sum(dtype=np.float64))
        self.stats.avg_allcat += float(out[probs].sum(dtype=np.float64))
        tx, ty, tw, th = truth[1 + classes:]
        target = (tx / F32(l.side), ty / F32(l.side), tw, th)
        boxes = cells * (classes + n) + cell * n * 4
        best = self.responsible(out[boxes:boxes + n * 4].reshape(n, 4), target)
        box = boxes + best * 4
        iou = float(box_iou(cell_box(out[box:box + 4], l.side, l.sqrt), target))
        p = cells * classes + cell * n + best
        self.stats.avg_obj += float(out[p])
        # object_scale * (1. - output): the C computes it in double (the literal 1.) and stores a float
        delta[p] = F32(l.object_scale * (1. - float(out[p])))
        if l.rescore:
            delta[p] = F32(l.object_scale) * (F32(iou) - out[p])
        for k, t in enumerate((tx, ty, tw, th)):
            if l.sqrt and k >= 2:  # coord_scale * (sqrt(truth) - output), in double
                delta[box + k] = F32(l.coord_scale * (math.sqrt(float(t)) - float(out[box + k])))
            else:
                delta[box + k] = F32(l.coord_scale) * (t - out[box + k])
        self.stats.avg_iou += iou
        self.stats.count += 1

    def responsible(self, boxes, target):
        """The box that learns the truth: best IoU; while none overlaps, least RMSE (from 20); then forced
        and random override it as Darknet does."""
        l = self.l
        best, best_iou, best_rmse = -1, F32(0), F32(FIRST_RMSE)
        for j, values in enumerate(boxes):
            box = cell_box(values, l.side, l.sqrt)
            iou = box_iou(box, target)
            # box_rmse: float differences, squared and summed in double (pow), sqrt stored as a float
            rmse = F32(math.sqrt(sum(float(F32(a) - F32(t)) ** 2 for a, t in zip(box, target))))
            if best_iou > 0 or iou > 0:
                if iou > best_iou:
                    best, best_iou = j, iou
            elif rmse < best_rmse:
                best, best_rmse = j, rmse
        if l.forced:
            best = 1 if target[2] * target[3] < F32(FORCED_AREA) else 0
        if l.random and self.seen < RANDOM_SEEN:
            best = int(l.rng.integers(l.num))
        # Darknet indexes box -1 (the previous cell's last) when no box is within RMSE 20; we take box 0
        return max(best, 0)


def detection_loss(layer, output, truth, seen):
    """forward_detection_layer's training half: (delta (B, inputs) float32, cost = sum(delta^2), DetectionStats).

    output: the layer's output; truth: (B, side*side*(1 + classes + 4)) grid rows as data.c's
    fill_truth_region writes them.
    """
    loss = DetectionLoss(layer, output, truth, seen)
    cost = loss.run()
    return loss.delta, cost, loss.stats
