"""darknet_py.eval.anchors: IoU k-means on synthetic clusters and on coco128's labels (paper Fig. 2, Table 1)."""
import numpy as np
import pytest

from conftest import SHARED
from darknet_py.eval import anchors as A

COCO128_LABELS = SHARED / "datasets" / "coco128" / "labels" / "train2017"
needs_coco = pytest.mark.skipif(not COCO128_LABELS.is_dir(), reason="coco128 not available")


def synthetic(seed=0, n=150):
    """Boxes around three well separated shapes (tall, square, wide) of different sizes."""
    rng = np.random.default_rng(seed)
    centres = np.array([[1., 3.], [4., 4.], [9., 2.]])
    return np.concatenate([c * rng.uniform(.93, 1.07, (n, 2)) for c in centres]), centres


def test_wh_iou_by_hand():
    iou = A.wh_iou([[2, 2], [1, 4]], [[2, 2], [4, 1]])
    np.testing.assert_allclose(iou, [[1, 2 / 6], [2 / 6, 1 / 7]])


@pytest.mark.parametrize("init", ["kmeans++", "random"])
def test_recovers_known_clusters(init):
    boxes, centres = synthetic()
    anchors, iou = A.kmeans_anchors(boxes, 3, seed=1, init=init, n_init=3)
    order = np.argsort(centres.prod(1))
    np.testing.assert_allclose(anchors, centres[order], rtol=.02)
    assert iou > .9
    assert iou == pytest.approx(A.avg_iou(boxes, anchors))
    assert (np.diff(anchors.prod(1)) > 0).all()  # sorted by area


def test_deterministic_with_seed():
    boxes, _ = synthetic(3)
    a1, i1 = A.kmeans_anchors(boxes, 4, seed=7)
    a2, i2 = A.kmeans_anchors(boxes, 4, seed=7)
    np.testing.assert_array_equal(a1, a2)
    assert i1 == i2


def test_label_sizes_in_grid_cells(tmp_path):
    (tmp_path / "a.txt").write_text("0 .5 .5 .25 .5\n3 0 0 .2 .2\n1 .1 .1 .5 .125\n")
    sizes = A.label_sizes(A.label_files(tmp_path), 416, 320)
    # 416/32 = 13 and 320/32 = 10 cells; the x == y == 0 classification label is skipped
    np.testing.assert_allclose(sizes, [[.25 * 13, .5 * 10], [.5 * 13, .125 * 10]], rtol=1e-6)


def test_hand_picked_anchors_shapes():
    h = A.hand_picked_anchors(416, 416)
    assert h.shape == (9, 2)
    np.testing.assert_allclose(h[1], [128 / 600 * 13] * 2)
    np.testing.assert_allclose(h[0, 0] / h[0, 1], .5)
    assert A.format_anchors(h[:2], 2) == "1.96,3.92, 2.77,2.77"


@needs_coco
def test_coco128_figure2_and_table1():
    boxes = A.label_sizes(A.label_files(COCO128_LABELS), 416, 416)
    curve = A.iou_curve(boxes, range(1, 10), seed=0)
    ious = [iou for _, iou, _ in curve]
    assert all(b > a for a, b in zip(ious, ious[1:])), ious
    k5 = curve[4][1]
    # Table 1: 5 IoU clusters beat Faster R-CNN's 9 hand-picked anchors (so any 5 of them too) and
    # 5 Euclidean (SSE) clusters
    assert k5 > A.avg_iou(boxes, A.hand_picked_anchors(416, 416))
    assert k5 > A.kmeans_anchors(boxes, 5, seed=0, n_init=5, metric="sse")[1]
    assert k5 > .45


def test_sse_metric_and_bad_arguments():
    boxes, centres = synthetic()
    anchors, _ = A.kmeans_anchors(boxes, 3, seed=0, n_init=2, metric="sse")
    np.testing.assert_allclose(anchors, centres[np.argsort(centres.prod(1))], rtol=.02)
    with pytest.raises(ValueError, match="metric"):
        A.kmeans_anchors(boxes, 3, metric="l1")
    with pytest.raises(ValueError, match="k <="):
        A.kmeans_anchors(boxes[:2], 3)
