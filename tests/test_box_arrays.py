"""The decoders' BoxArrays and the demo's decoding on them (boxes.nms_obj_above, detector.frame_detections): the
same detections, in the same order, as the Detection-list path they stand for - do_nms_obj over every box, then
the ones with a class above the threshold - with ties, empty boxes and degenerate ones, with and without the
compiled NMS. (That path is checked against the original Darknet in test_detector.py and commands/test_demo.py.)"""
import copy

import numpy as np
import pytest

from conftest import project_cfg
from darknet_py.boxes import BoxArrays, Detection, classes_above, do_nms_obj, get_network_boxes, nms_obj_above
from darknet_py.cpu import nms as compiled_nms
from darknet_py.detector import Outputs, forward_prepared, frame_detections, prepare
from darknet_py.network import Network


def box_arrays(n, classes, seed=0):
    """Detections as the decoders leave them: about a fifth empty (objectness 0, no class), ties in objectness,
    a NaN box, a point and twins."""
    rng = np.random.default_rng(seed)
    bbox = rng.random((n, 4), dtype=np.float32) * np.float32([1, 1, .4, .4])
    objectness = np.where(rng.random(n) > .2, rng.random(n, dtype=np.float32), 0).astype(np.float32)
    objectness[:30:4] = .75
    prob = rng.random((n, classes), dtype=np.float32) * objectness[:, None]
    prob = np.where((rng.random((n, classes)) > .6) & (objectness[:, None] > 0), prob, 0).astype(np.float32)
    if n > 8:
        bbox[1], bbox[3, 2:], bbox[5] = np.nan, 0, bbox[4]
    return BoxArrays(bbox, objectness, prob)


def list_path(boxes, classes, nms, thresh):
    dets = boxes.detections()
    return [d for d, _ in classes_above(do_nms_obj(dets, classes, nms) if nms else dets, thresh)]


def assert_same_detections(ours, expected):
    assert len(ours) == len(expected)
    for a, b in zip(ours, expected):
        assert np.array_equal(a.bbox, b.bbox, equal_nan=True) and a.objectness == b.objectness
        assert np.array_equal(a.prob, b.prob) and a.sort_class == b.sort_class


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("nms", [0, .4, .45, 1.])
@pytest.mark.parametrize("thresh", [0., .2, .5])
@pytest.mark.parametrize("n", [1, 9, 845])
def test_nms_obj_above_equals_do_nms_obj_then_the_classes_above(n, thresh, nms, compiled, monkeypatch):
    if not compiled:
        monkeypatch.setattr(compiled_nms, "available", lambda: False)
    boxes = box_arrays(n, 20, seed=n)
    ours = nms_obj_above(copy.deepcopy(boxes), nms, thresh)
    assert_same_detections(ours, list_path(copy.deepcopy(boxes), 20, nms, thresh))
    if n == 845 and nms in (.4, .45):  # NMS took some
        assert len(ours) < np.count_nonzero(boxes.prob.max(axis=1) > thresh)


def test_no_boxes_and_only_empty_boxes():
    assert nms_obj_above(BoxArrays.of([]), .4, .5) == []
    empty = BoxArrays(np.ones((5, 4), np.float32), np.zeros(5, np.float32), np.zeros((5, 3), np.float32))
    assert nms_obj_above(empty, .4, 0.) == [] and do_nms_obj(empty.detections(), 3, .4) != []


def test_arrays_of_a_detection_list_give_it_back():
    dets = box_arrays(50, 7).detections()
    assert_same_detections(BoxArrays.of(dets).detections(), dets)


@pytest.mark.parametrize("name", ["yolov2-tiny", "yolov3-tiny"])
def test_a_frames_detections_as_the_demo_decoded_them(name, random_weights):
    """frame_detections on a forward's Outputs, and on the same detections handed over as a list (what a GPU
    gives), against get_network_boxes + do_nms_obj + the classes above thresh."""
    cfg = project_cfg(name)
    net = Network.from_cfg(cfg).load_weights(random_weights(cfg, seed=3, confident=True))
    net.resize(160, 128)
    frame = np.random.default_rng(5).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    outputs = forward_prepared(net, [prepare(net, frame)], .2, .5)[0]
    for thresh, nms in [(.2, .4), (.5, .4), (.2, 0)]:
        dets = get_network_boxes(net, 0, 200, 120, thresh, .5, outputs=outputs.layers)
        expected = list_path(BoxArrays.of(dets), 80, nms, thresh)
        assert expected or thresh == .5
        assert_same_detections(frame_detections(net, outputs, thresh, .5, nms), expected)
        handed = Outputs(200, 120, dets=get_network_boxes(net, 0, 200, 120, thresh, .5, outputs=outputs.layers))
        assert_same_detections(frame_detections(net, handed, thresh, .5, nms), expected)


def test_detections_are_views_of_their_rows():
    boxes = box_arrays(4, 3)
    d = boxes.detections([2])[0]
    assert isinstance(d, Detection) and np.shares_memory(d.prob, boxes.prob)
    assert d.objectness == float(boxes.objectness[2])
