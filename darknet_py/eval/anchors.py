"""Dimension clusters (YOLO9000 paper, section 2 "Dimension Clusters", Figure 2 and Table 1).

k-means over the training boxes' (w, h) with the distance d(box, centroid) = 1 - IoU(box, centroid),
the boxes and centroids placed at the same centre, so only shape and size matter. Sizes are in
network grid cells (label w * width / 32), the unit of a [region] layer's `anchors`, or in input pixels
(stride 1), the unit of YOLOv3's [yolo] anchors, which yolo_masks shares out among its scales. The Euclidean
distance (Table 1's "Cluster SSE" row, also what AlexeyAB's calc_anchors runs through cv::kmeans) is
available for comparison.
"""
from pathlib import Path

import numpy as np

from ..data.lists import read_labels

STRIDE = 32  # YOLOv2 downsamples by 32: a 416 input gives the 13x13 grid the anchors are measured in
MAX_ITER = 300  # k-means iterations cap; convergence (no assignment changes) usually comes far earlier
# Faster R-CNN's hand-picked anchors (the paper's "Anchor Boxes 9" row): box sides 128, 256, 512 pixels
# on a ~600-pixel image, i.e. these fractions of the image, at aspect ratios 1:2, 1:1, 2:1 (w/h).
HAND_SCALES = (128 / 600, 256 / 600, 512 / 600)
HAND_RATIOS = (.5, 1., 2.)


def label_sizes(label_files, width, height, stride=STRIDE):
    """(N, 2) float64 box sizes in grid cells from Darknet label files (`class x y w h`, normalised).

    Classification-only labels (x == y == 0, YOLO9000) and empty boxes carry no shape and are skipped.
    """
    rows = [read_labels(p) for p in label_files]
    labels = np.concatenate(rows) if rows else np.zeros((0, 5), np.float32)
    keep = ~((labels[:, 1] == 0) & (labels[:, 2] == 0)) & (labels[:, 3] > 0) & (labels[:, 4] > 0)
    return labels[keep, 3:5].astype(np.float64) * [width / stride, height / stride]


def label_files(directory):
    """The .txt label files under a directory, sorted (so results do not depend on listing order)."""
    return sorted(Path(directory).rglob("*.txt"))


def wh_iou(boxes, centroids):
    """IoU of (N, 2) sizes against (K, 2) sizes, all centred at the origin: (N, K)."""
    b, c = np.asarray(boxes, float)[:, None, :], np.asarray(centroids, float)[None, :, :]
    inter = np.minimum(b[..., 0], c[..., 0]) * np.minimum(b[..., 1], c[..., 1])
    return inter / (b[..., 0] * b[..., 1] + c[..., 0] * c[..., 1] - inter)


def avg_iou(boxes, anchors):
    """The paper's "Avg IOU": mean over boxes of the IoU with their closest (best-IoU) anchor."""
    return float(wh_iou(boxes, anchors).max(1).mean())


def distances(boxes, centroids, metric="iou"):
    """(N, K) k-means distances: 1 - IoU (the paper's), or squared Euclidean on (w, h) ("sse")."""
    if metric == "iou":
        return 1 - wh_iou(boxes, centroids)
    if metric == "sse":
        return ((np.asarray(boxes, float)[:, None, :] - np.asarray(centroids, float)[None]) ** 2).sum(-1)
    raise ValueError(f"metric must be 'iou' or 'sse', got {metric!r}")


def _init_centroids(boxes, k, rng, init, metric):
    """k starting centroids: k-means++ under the metric, or k distinct random boxes."""
    if init == "random":
        return boxes[rng.choice(len(boxes), k, replace=False)].copy()
    if init != "kmeans++":
        raise ValueError(f"init must be 'kmeans++' or 'random', got {init!r}")
    chosen = [boxes[rng.integers(len(boxes))]]
    for _ in range(1, k):
        d = distances(boxes, np.array(chosen), metric).min(1)
        total = (d ** 2).sum()
        # all boxes identical to a chosen centroid: any pick is as good
        pick = rng.choice(len(boxes), p=d ** 2 / total) if total > 0 else rng.integers(len(boxes))
        chosen.append(boxes[pick])
    return np.array(chosen)


def _kmeans_once(boxes, k, rng, init, metric, max_iter):
    centroids = _init_centroids(boxes, k, rng, init, metric)
    assign = None
    for _ in range(max_iter):
        new = distances(boxes, centroids, metric).argmin(1)
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            members = boxes[assign == j]
            if len(members):
                centroids[j] = members.mean(0)
            else:
                # an emptied cluster restarts at the box worst served by the others
                centroids[j] = boxes[distances(boxes, centroids, metric).min(1).argmax()]
    return centroids


def kmeans_anchors(boxes, k, seed=0, init="kmeans++", n_init=1, max_iter=MAX_ITER, metric="iou", progress=None):
    """k-means with distance 1 - IoU over (N, 2) box sizes: assign each box to its best-IoU centroid,
    move each centroid to its members' mean, until no assignment changes (metric="sse": Euclidean).

    n_init runs from different seeded starts keep the one with the best average IoU. Returns
    (anchors (k, 2) sorted by area, avg IoU of the boxes with their closest anchor). progress(runs done, n_init)
    after each run.
    """
    boxes = np.asarray(boxes, float).reshape(-1, 2)
    if not 1 <= k <= len(boxes):
        raise ValueError(f"need 1 <= k <= number of boxes ({len(boxes)}), got k={k}")
    rng = np.random.default_rng(seed)
    best, best_iou = None, -1.
    for run in range(n_init):
        centroids = _kmeans_once(boxes, k, rng, init, metric, max_iter)
        score = avg_iou(boxes, centroids)
        if score > best_iou:
            best, best_iou = centroids, score
        if progress:
            progress(run + 1, n_init)
    return best[np.argsort(best[:, 0] * best[:, 1], kind="stable")], best_iou


def iou_curve(boxes, ks=range(1, 10), seed=0, init="kmeans++", n_init=5, metric="iou"):
    """The paper's Figure 2 (left): [(k, avg IoU, anchors)] for each k, all from the same seed."""
    return [(k, *kmeans_anchors(boxes, k, seed, init, n_init, metric=metric)[::-1]) for k in ks]


def hand_picked_anchors(width, height, scales=HAND_SCALES, ratios=HAND_RATIOS, stride=STRIDE):
    """Faster R-CNN-style anchors in grid cells: each scale (a fraction of the image side) at each
    aspect ratio w/h, with the area of the square of that side. Returns (len(scales)*len(ratios), 2)."""
    return np.array([(s * np.sqrt(r) * width / stride, s / np.sqrt(r) * height / stride)
                     for s in scales for r in ratios])


def format_anchors(anchors, digits=4):
    """Anchors as a [region] `anchors=` value: "w1,h1, w2,h2, ..."."""
    return ", ".join(f"{w:.{digits}f},{h:.{digits}f}" for w, h in anchors)


def yolo_masks(k, layers):
    """The `mask=` of each of YOLOv3's `layers` [yolo] layers (in cfg order) for k anchors sorted by area: the
    first [yolo] predicts on the coarsest map (stride 32), so it takes the largest anchors; k/layers each,
    one more for the coarsest when they do not divide (9 anchors, 3 layers: 6,7,8 / 3,4,5 / 0,1,2 as
    yolov3.cfg; 6 and 2: 3,4,5 / 0,1,2 as yolov3-tiny.cfg)."""
    if not 1 <= layers <= k:
        raise ValueError(f"need 1 <= [yolo] layers <= anchors ({k}), got {layers}")
    masks, end = [], k
    for i in range(layers):
        size = k // layers + (i < k % layers)
        masks.append(list(range(end - size, end)))
        end -= size
    return masks
