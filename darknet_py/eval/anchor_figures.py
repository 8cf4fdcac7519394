"""The YOLO9000 paper's dimension-cluster figures for a dataset: Figure 2 (average IoU of the closest
prior vs the number of clusters K) drawn as a PNG with OpenCV, and Table 1 (IoU clusters vs Euclidean
clusters vs Faster R-CNN's hand-picked anchors). The clustering itself is darknet_py.eval.anchors.
"""
import cv2
import numpy as np

from ..errors import DarknetError
from . import anchors as A

N_INIT = 5             # k-means restarts per K (the best average IoU is kept), as anchors.iou_curve
FIGURE_KS = range(1, 10)  # Figure 2's x axis: K = 1..9
# Table 1's rows in the paper's order: (box generation, how, number of priors). The paper's values on
# VOC 2007 are 58.7, 61.0, 60.9, 67.2 (it has no "Cluster SSE 9" row; we add it for symmetry).
TABLE1_ROWS = (("Cluster SSE", "sse", 5), ("Cluster IOU", "iou", 5), ("Anchor Boxes", "hand", 9),
               ("Cluster SSE", "sse", 9), ("Cluster IOU", "iou", 9))
PLOT_SIZE = (720, 480)   # figure width, height in pixels
MARGIN = (80, 50, 30, 60)  # left, top, right, bottom, around the plotting area
FONT = cv2.FONT_HERSHEY_SIMPLEX
IOU_COLOR = (160, 90, 20)   # BGR: the IoU-cluster curve (the paper's)
SSE_COLOR = (40, 130, 230)  # BGR: the Euclidean-cluster curve
HAND_COLOR = (40, 40, 200)  # BGR: the 9 hand-picked anchors


def table1(boxes, width, height, seed=0, n_init=N_INIT):
    """[(box generation, K, avg IoU)] for TABLE1_ROWS over (N, 2) box sizes in grid cells."""
    rows = []
    for name, how, k in TABLE1_ROWS:
        if how == "hand":
            iou = A.avg_iou(boxes, A.hand_picked_anchors(width, height))
        else:
            iou = A.kmeans_anchors(boxes, k, seed, n_init=n_init, metric=how)[1]
        rows.append((name, k, iou))
    return rows


def format_table1(rows):
    """Table 1 as text: Box Generation, #, Avg IOU (percent, one decimal like the paper)."""
    lines = [f"{'Box Generation':<16}{'#':>3}  Avg IOU"]
    lines += [f"{name:<16}{k:>3}  {100 * iou:.1f}" for name, k, iou in rows]
    return "\n".join(lines)


def figure2(boxes, seed=0, ks=FIGURE_KS, n_init=N_INIT):
    """Figure 2's curves: {"iou": [(K, avg IoU)], "sse": [(K, avg IoU)]} for K in ks."""
    return {metric: [(k, iou) for k, iou, _ in A.iou_curve(boxes, ks, seed, n_init=n_init, metric=metric)]
            for metric in ("iou", "sse")}


class _Axes:
    """Data to pixel coordinates of the plotting area."""

    def __init__(self, xs, ys):
        w, h = PLOT_SIZE
        left, top, right, bottom = MARGIN
        self.x0, self.x1, self.y0, self.y1 = left, w - right, h - bottom, top
        self.xlo, self.xhi = min(xs) - .5, max(xs) + .5
        self.ylo = np.floor(min(ys) * 10) / 10
        self.yhi = np.ceil(max(ys) * 10) / 10
        if self.yhi - self.ylo < .1:
            self.yhi = self.ylo + .1

    def __call__(self, x, y):
        px = self.x0 + (x - self.xlo) / (self.xhi - self.xlo) * (self.x1 - self.x0)
        py = self.y0 + (y - self.ylo) / (self.yhi - self.ylo) * (self.y1 - self.y0)
        return int(round(px)), int(round(py))


def _text(img, s, org, scale=.5, color=(0, 0, 0)):
    cv2.putText(img, s, org, FONT, scale, color, 1, cv2.LINE_AA)


def _frame(img, ax, ks, title):
    """Axes box, ticks, grid and labels."""
    for k in ks:
        x, _ = ax(k, ax.ylo)
        cv2.line(img, (x, ax.y0), (x, ax.y0 + 5), (0, 0, 0), 1)
        _text(img, str(k), (x - 5, ax.y0 + 22))
    for y in np.arange(ax.ylo, ax.yhi + 1e-9, .05):
        _, py = ax(ax.xlo, y)
        cv2.line(img, (ax.x0, py), (ax.x1, py), (225, 225, 225), 1)
        cv2.line(img, (ax.x0 - 5, py), (ax.x0, py), (0, 0, 0), 1)
        _text(img, f"{y:.2f}", (ax.x0 - 50, py + 5))
    cv2.rectangle(img, (ax.x0, ax.y1), (ax.x1, ax.y0), (0, 0, 0), 1)  # over the grid lines
    _text(img, "# Clusters", ((ax.x0 + ax.x1) // 2 - 45, ax.y0 + 48), .6)
    _text(img, "Avg IOU", (ax.x0 - 60, ax.y1 - 18), .6)
    _text(img, title, (ax.x0 + 70, ax.y1 - 18), .55)


def _curve(img, ax, points, color, label, slot):
    pts = [ax(k, v) for k, v in points]
    cv2.polylines(img, [np.array(pts, np.int32)], False, color, 2, cv2.LINE_AA)
    for p in pts:
        cv2.circle(img, p, 4, color, -1, cv2.LINE_AA)
    y = ax.y0 - 20 - 22 * slot
    cv2.line(img, (ax.x1 - 230, y - 5), (ax.x1 - 200, y - 5), color, 2)
    _text(img, label, (ax.x1 - 190, y))


def plot_figure2(path, curves, hand_iou=None, title="Avg IOU of the closest prior vs # clusters"):
    """Write Figure 2 as a PNG: the IoU- and SSE-cluster curves and, at K=9, the hand-picked anchors."""
    ks = [k for k, _ in curves["iou"]]
    values = [v for c in curves.values() for _, v in c] + ([hand_iou] if hand_iou is not None else [])
    ax = _Axes(ks, values)
    img = np.full((PLOT_SIZE[1], PLOT_SIZE[0], 3), 255, np.uint8)
    _frame(img, ax, ks, title)
    _curve(img, ax, curves["sse"], SSE_COLOR, "k-means, Euclidean (SSE)", 1)
    _curve(img, ax, curves["iou"], IOU_COLOR, "k-means, 1 - IOU", 2)
    if hand_iou is not None:
        p = ax(9, hand_iou)
        cv2.drawMarker(img, p, HAND_COLOR, cv2.MARKER_TILTED_CROSS, 14, 2)
        _text(img, "9 hand-picked", (p[0] - 120, p[1] + 5), .45, HAND_COLOR)
    if not cv2.imwrite(str(path), img):
        raise DarknetError(f"{path}: cannot write the plot (a .png path in an existing folder?)")
    return img
