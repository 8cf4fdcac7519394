"""The compiled greedy NMS (darknet_py/cpu/nms.py) against boxes.py's matrix of every pair: the same boxes kept,
degenerate boxes included (NaN, inf, zero size, identical ones); do_nms_obj and do_nms_sort give the same
detections either way. The original Darknet's detections are compared in tests/test_detector.py."""
import copy

import numpy as np
import pytest

from darknet_py import boxes
from darknet_py.boxes import Detection, do_nms_obj, do_nms_sort
from darknet_py.cpu import jit, nms

pytestmark = pytest.mark.skipif(not jit.available(), reason="numba is not installed (pip install .[fast])")


def random_boxes(n, seed=0):
    rng = np.random.default_rng(seed)
    b = rng.random((n, 4), dtype=np.float32) * np.float32([1, 1, .5, .5])
    if n > 8:
        b[1] = np.nan
        b[2, 2] = np.inf
        b[3, 2:] = 0   # a point
        b[5] = b[4]    # a twin: IoU 1
        b[6] = 0       # all zero: 0 / 0
    return b


@pytest.mark.parametrize("n", [1, 2, 9, 200, 845])
@pytest.mark.parametrize("thresh", [0., .4, .45, 1.])
def test_compiled_keeps_what_the_matrix_keeps(n, thresh):
    b = random_boxes(n, seed=n)
    want = boxes._greedy_keep(boxes.iou_matrix(b) > np.float32(thresh))
    assert np.array_equal(nms.greedy_keep(b, np.arange(n), thresh), want)
    ranked = np.random.default_rng(1).permutation(n)[: max(1, n // 2)]  # a subset, in another order
    want = boxes._greedy_keep(boxes.iou_matrix(b[ranked]) > np.float32(thresh))
    assert np.array_equal(nms.greedy_keep(b, ranked, thresh), want)


def detections(n, classes, seed=0):
    rng = np.random.default_rng(seed)
    probs = np.where(rng.random((n, classes)) > .7, rng.random((n, classes), dtype=np.float32), 0).astype(np.float32)
    objectness = np.where(rng.random(n) > .2, rng.random(n), 0)
    objectness[:20:3] = .5  # ties keep Darknet's order
    return [Detection(box, float(o), p) for box, o, p in zip(random_boxes(n, seed), objectness, probs)]


@pytest.mark.parametrize("nms_function", [do_nms_obj, do_nms_sort])
def test_nms_functions_equal_with_and_without_the_kernel(nms_function, monkeypatch):
    dets = detections(845, 20)
    compiled = nms_function(copy.deepcopy(dets), 20, .45)
    monkeypatch.setattr(nms, "available", lambda: False)
    plain = nms_function(copy.deepcopy(dets), 20, .45)
    assert len(compiled) == len(plain)
    for a, b in zip(compiled, plain):
        assert np.array_equal(a.bbox, b.bbox, equal_nan=True) and a.objectness == b.objectness
        assert np.array_equal(a.prob, b.prob) and a.sort_class == b.sort_class
