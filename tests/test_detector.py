"""Final detection lists against the original Darknet's `detector test` pipeline on a real image; the Detector API."""
import cv2
import numpy as np
import pytest

import oracle
from conftest import (
    DARKNET_DATA,
    ROOT,
    darknet_cfg,
    needs_oracle,
    project_cfg,
    read_video,
    sample_frames,
    sane_parameters,
    write_video,
)
from darknet_py.boxes import do_nms_obj, do_nms_sort, region_detections
from darknet_py.detector import detect_images, letterboxes
from darknet_py.image import load_image, resize_image
from darknet_py.network import Network


def as_rows(dets):
    """(class, prob, x, y, w, h) for every nonzero class probability, in list order."""
    return [(j, float(d["prob"][j] if isinstance(d, dict) else d.prob[j]), *map(float, d["bbox"] if isinstance(d, dict) else d.bbox))
            for d in dets for j in np.flatnonzero(d["prob"] if isinstance(d, dict) else d.prob)]


@needs_oracle
@pytest.mark.parametrize("name", ["yolov2-tiny", "yolov2-voc"])
@pytest.mark.parametrize("thresh", [.5, .25, .1])
def test_detections_equal_darknet(name, thresh, random_weights):
    cfg = darknet_cfg(name)
    weights = random_weights(cfg, seed=7, confident=True)
    image = DARKNET_DATA / "dog.jpg"
    expected = oracle.detections(cfg, weights, image, thresh=thresh)
    net = Network.from_cfg(cfg).load_weights(weights)
    assert_same(detect_images(net, [image], thresh=thresh)[0], expected)


def assert_same(ours, expected):
    """Same classes in Darknet's order, same probabilities and boxes (float32 rounding apart)."""
    ours, expected = as_rows(ours), as_rows(expected)
    assert len(expected) > 0
    assert [r[0] for r in ours] == [r[0] for r in expected]
    np.testing.assert_allclose([r[1:] for r in ours], [r[1:] for r in expected], rtol=1e-4, atol=1e-6)


def assert_same_set(ours, expected, rtol=1e-4, atol=1e-6):
    """The same rows (class, probability, box) as the oracle's, in any order: with hundreds of detections of
    random weights, two probabilities of a class come within the float32 rounding of the network (1e-6) of
    each other, and which one qsort puts first is that rounding's choice."""
    ours, expected = as_rows(ours), as_rows(expected)
    assert len(expected) > 0 and len(ours) == len(expected)
    unmatched = list(ours)
    for row in expected:
        match = next((k for k, r in enumerate(unmatched) if r[0] == row[0]
                      and np.allclose(r[1:], row[1:], rtol=rtol, atol=atol)), None)
        assert match is not None, f"no detection of ours matches the oracle's {row}"
        unmatched.pop(match)


@needs_oracle
def test_detection_boxes_after_nms_obj(random_weights):
    cfg = darknet_cfg("yolov2-tiny")
    weights = random_weights(cfg, seed=7, confident=True)
    net = Network.from_cfg(cfg).load_weights(weights)
    x = np.random.default_rng(2).random((1,) + net.input_shape, dtype=np.float32)
    expected = oracle.detections(cfg, weights, x, im_w=640, im_h=480, thresh=.2, nms=.4, nms_kind="obj")
    net.forward(x)
    ours = do_nms_obj(region_detections(net.layers[-1], 0, 640, 480, net.w, net.h, .2), 80, .4)
    assert_same(ours, expected)


@needs_oracle
@pytest.mark.parametrize("thresh", [.5, .1])
def test_yolo9000_detections_with_the_cpu_builds_tree(thresh, random_weights, monkeypatch):
    """yolo9000's detection list (hierarchy_top_prediction, -hier .5), the CPU build's region reproduced."""
    from darknet_py.layers.region import RegionLayer
    monkeypatch.setattr(RegionLayer, "darknet_cpu_tree_layout", True)
    cfg = darknet_cfg("yolo9000")
    weights = random_weights(cfg)
    net = Network.from_cfg(cfg).load_weights(weights)
    net.resize(160, 128)
    x = np.random.default_rng(3).random((1,) + net.input_shape, dtype=np.float32)
    expected = oracle.detections(cfg, weights, x, im_w=500, im_h=375, thresh=thresh, size=(160, 128))
    net.forward(x)
    ours = do_nms_sort(region_detections(net.layers[-1], 0, 500, 375, net.w, net.h, thresh, .5), 9418)
    assert_same(ours, expected)


# YOLOv3 (three [yolo] scales, letterboxed as `detector test`) and YOLOv1 ([detection], resized as
# examples/yolo.c: Darknet's detector test letterboxes it and leaves its boxes off the image, so the oracle
# gets the resized image as a tensor and w = h = 1, the relative boxes yolo.c asks for). Small sizes keep
# the oracle quick: resize_network for YOLOv3, a cfg copy for YOLOv1 (its [connected] cannot resize).
# Thresholds where each keeps tens to a hundred or two of the confident random weights' detections.
ZOO_DETECTORS = [("yolov3-tiny", None, (.3, .25, .2)), ("yolov3", (160, 128), (.5, .3, .2)),
                 ("yolov3-spp", (160, 128), (.6, .5, .4)), ("yolov1", (192, 192), (.8, .6, .5)),
                 ("yolov1-tiny", None, (.5, .4, .3))]


@needs_oracle
@pytest.mark.parametrize("name,size,thresholds", ZOO_DETECTORS, ids=[name for name, _, _ in ZOO_DETECTORS])
def test_zoo_detections_equal_darknet(name, size, thresholds, random_weights, tmp_path):
    cfg = darknet_cfg(name)
    if size and name.startswith("yolov1"):
        cfg, size = oracle.cfg_with_size(cfg, *size, tmp_path), None
    weights = random_weights(cfg, seed=7, confident=True)
    net = Network.from_cfg(cfg).load_weights(weights)
    if size:
        net.resize(*size)
    image = DARKNET_DATA / "dog.jpg"
    if letterboxes(net):
        expected = oracle.detections(cfg, weights, image, thresh=thresholds, size=size)
    else:
        x = resize_image(load_image(image), net.w, net.h)
        expected = oracle.detections(cfg, weights, x, im_w=1, im_h=1, thresh=thresholds, size=size)
    for thresh, theirs in zip(thresholds, expected):
        assert_same_set(detect_images(net, [image], thresh=thresh)[0], theirs)


# ------------------------------------------------------------------------------ the Detector API

def test_detector_finds_what_detect_finds_with_names(small_detector):
    from darknet_py.detector import Detector, detect
    names = (ROOT / "data" / "coco.names").read_text().splitlines()
    net = Network.from_cfg(small_detector[0]).load_weights(small_detector[1])
    det = Detector(net, ROOT / "cfg" / "coco.data", thresh=.25)
    image = DARKNET_DATA / "dog.jpg"
    found = det(image)
    assert found == detect(net, image, names, thresh=.25) and found and found[0].name in names
    assert det(cv2.imread(str(image))) == found  # a frame as cv2 gives it
    frames = sample_frames(3)
    for batched, single in zip(det.batch(frames), [det(f) for f in frames]):  # one forward of 3
        assert [f.name for f in batched] == [f.name for f in single] and batched
        np.testing.assert_allclose([f.prob for f in batched], [f.prob for f in single], atol=1e-5)  # float rounding
        np.testing.assert_allclose([f.box for f in batched], [f.box for f in single], atol=1)


def test_detector_video_yields_each_frame_with_its_objects(small_detector, tmp_path):
    from darknet_py.detector import Detector
    net = Network.from_cfg(small_detector[0]).load_weights(small_detector[1])
    det = Detector(net, ROOT / "data" / "coco.names")
    clip = write_video(tmp_path / "clip.avi", sample_frames(6))
    frames, _, _ = read_video(clip)
    got = list(det.video(str(clip)))
    assert [i for i, _, _ in got] == list(range(6))
    assert all(np.array_equal(frame, f) and found == det(f) for (_, frame, found), f in zip(got, frames))
    averaged = [found for _, _, found in det.video(clip, avgframes=3)]  # demo.c's 3-frame average
    assert len(averaged[0]) < len(got[0][2]) and averaged != [found for _, _, found in got]


def test_classify_with_names(small_detector):
    from darknet_py.detector import Prediction, classify
    net = Network.from_cfg(project_cfg("tiny"))
    sane_parameters(net)
    plain = classify(net, DARKNET_DATA / "dog.jpg", top=3)
    named = classify(net, DARKNET_DATA / "dog.jpg", top=3, names=[f"class{i}" for i in range(1000)])
    assert named == [Prediction(i, f"class{i}", p) for i, p in plain]
