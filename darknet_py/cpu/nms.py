"""Greedy NMS compiled (numba, optional - see jit.py): which of a ranked list of boxes survive, each kept box
suppressing the later ones it overlaps by more than the threshold - boxes.py's _greedy_keep over its
iou_matrix, without building the matrix. With numpy, do_nms_obj computes the IoU of all n^2 pairs first
(845 boxes for yolov2: 4-5 ms a frame, the demo's largest host cost after the letterbox); here a pair is
computed only when both its boxes are still kept.

The IoU is box.c's box_iou with the float32 operations of boxes.box_iou in the same order (the overlap's
ternaries, which differ from min/max on NaN; a negative overlap gives an intersection of 0), so the kept
boxes are the same, NaN boxes included: a NaN IoU suppresses nothing.
"""
import numpy as np

from . import jit


def _greedy_keep(boxes, ranked, thresh):
    """The kernel: a plain function numba compiles (float32 stays float32; without fastmath nothing is
    contracted or reordered)."""
    half = np.float32(2)
    keep = np.ones(len(ranked), np.bool_)
    for a in range(len(ranked)):
        if not keep[a]:
            continue
        i = ranked[a]
        ax, ay, aw, ah = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        l1, r1, t1, b1 = ax - aw / half, ax + aw / half, ay - ah / half, ay + ah / half
        area = aw * ah
        for b in range(a + 1, len(ranked)):
            if not keep[b]:
                continue
            j = ranked[b]
            bx, by, bw, bh = boxes[j, 0], boxes[j, 1], boxes[j, 2], boxes[j, 3]
            l2, r2, t2, b2 = bx - bw / half, bx + bw / half, by - bh / half, by + bh / half
            w = (r1 if r1 < r2 else r2) - (l1 if l1 > l2 else l2)
            h = (b1 if b1 < b2 else b2) - (t1 if t1 > t2 else t2)
            inter = np.float32(0) if w < 0 or h < 0 else w * h
            if inter / (area + bw * bh - inter) > thresh:
                keep[b] = False
    return keep


_kernel = jit.compiled_at_first_call(_greedy_keep, error_model="numpy")  # 0/0: NaN, as C


def available():
    return jit.available()


def greedy_keep(boxes, ranked, thresh):
    """boxes (n, 4) float32 centre format; ranked: the indices to walk, best first. Returns a bool mask over
    `ranked`: True for the boxes kept (numba must be present)."""
    return _kernel(np.ascontiguousarray(boxes, np.float32), np.ascontiguousarray(ranked, np.int64), np.float32(thresh))
