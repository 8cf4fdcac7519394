"""Self-test of the oracle harness (tests/oracle/__init__.py + tests/oracle/darknet_dump.c)."""

import numpy as np
import pytest

import oracle
from conftest import SHARED, conv, maxpool, section

pytestmark = pytest.mark.skipif(not oracle.available(), reason="pjreddie darknet (the oracle) not installed")

CFG = oracle.DARKNET_DIR / "cfg"
DATA = oracle.DARKNET_DIR / "data"
TINY_WEIGHTS = SHARED / "weights" / "tiny.weights"

# A detector small enough to give sane random weights by hand: conv+BN, maxpool, conv, region.
SMALL_REGION_CFG = """[net]
batch=64
subdivisions=8
width=32
height=32
channels=3

""" + (
    conv(8) + maxpool() + conv(16, size=1, activation="linear", batch_normalize=0)
    + section("region", anchors="1.0,1.5, 3.0,2.0", bias_match=1, classes=3, coords=4, num=2, softmax=1))


def small_region_weights(path, seed=0):
    """Darknet 0.2.0 weights for SMALL_REGION_CFG: header, then per conv layer biases,
    [scales, rolling_mean, rolling_variance,] weights (load_convolutional_weights' order)."""
    rng = np.random.default_rng(seed)
    n1, n2 = 8, 16
    parts = [rng.uniform(-.1, .1, n1), rng.uniform(.5, 1.5, n1), rng.uniform(-.1, .1, n1),
             rng.uniform(.5, 1.5, n1), rng.normal(0, .2, n1 * 3 * 9),
             rng.uniform(-.1, .1, n2), rng.normal(0, .3, n2 * n1)]
    with open(path, "wb") as f:
        np.array([0, 2, 0], np.int32).tofile(f)
        np.array([0], np.uint64).tofile(f)  # seen: size_t since version 0.2
        np.concatenate(parts).astype(np.float32).tofile(f)


def test_harness_compiles():
    assert oracle.BINARY.exists()


def test_yolov2_tiny_without_weights_shapes():
    cfg = CFG / "yolov2-tiny.cfg"
    x = oracle.random_input(cfg, batch=2)
    assert x.shape == (2, 3, 416, 416) and x.dtype == np.float32
    outs = oracle.layer_outputs(cfg, None, x)
    expected = [("convolutional", 16, 416), ("maxpool", 16, 208), ("convolutional", 32, 208),
                ("maxpool", 32, 104), ("convolutional", 64, 104), ("maxpool", 64, 52),
                ("convolutional", 128, 52), ("maxpool", 128, 26), ("convolutional", 256, 26),
                ("maxpool", 256, 13), ("convolutional", 512, 13), ("maxpool", 512, 13),
                ("convolutional", 1024, 13), ("convolutional", 512, 13),
                ("convolutional", 425, 13), ("region", 425, 13)]
    assert [(t, a.shape) for t, a in outs] == [(t, (2, c, s, s)) for t, c, s in expected]


def test_resize_network():
    cfg = CFG / "yolov2-tiny.cfg"
    outs = oracle.layer_outputs(cfg, None, oracle.random_input(cfg, size=(320, 256)), size=(320, 256))
    assert outs[-1][1].shape == (1, 425, 8, 10)


def test_failure_is_reported():
    with pytest.raises(oracle.OracleError, match="darknet_dump"):
        oracle.layer_outputs(CFG / "yolov2-tiny.cfg", None, np.zeros((1, 3, 8, 8), np.float32))


def test_detections_match_region_output(tmp_path):
    cfg, weights = tmp_path / "small.cfg", tmp_path / "small.weights"
    cfg.write_text(SMALL_REGION_CFG)
    small_region_weights(weights)
    x = oracle.random_input(cfg, seed=1)
    region = oracle.layer_outputs(cfg, weights, x)[-1][1][0].reshape(2, 8, 16 * 16)
    thresh = .3
    dets = oracle.detections(cfg, weights, x[0], thresh=thresh, nms_kind="none")
    # get_region_detections fills one detection per anchor and cell: index n*w*h + cell.
    assert len(dets) == 2 * 16 * 16
    obj = region[:, 4].ravel()
    got = np.array([d["objectness"] for d in dets])
    np.testing.assert_array_equal(got, np.where(obj > thresh, obj, 0))
    cls = obj[:, None] * region[:, 5:].transpose(0, 2, 1).reshape(-1, 3)
    np.testing.assert_allclose(np.stack([d["prob"] for d in dets]), np.where(cls > thresh, cls, 0),
                               rtol=1e-6)
    col = np.tile(np.arange(16), 16 * 2)
    np.testing.assert_allclose([d["bbox"][0] for d in dets], (col + region[:, 0].ravel()) / 16,
                               rtol=1e-6)
    # do_nms_sort keeps the count and only zeroes probabilities.
    kept = oracle.detections(cfg, weights, x[0], 32, 32, thresh=thresh)
    assert len(kept) == len(dets)
    assert sum(len(d["classes"]) for d in kept) <= sum(len(d["classes"]) for d in dets)


def test_detections_from_image_letterbox(tmp_path):
    # An image path is letterboxed by darknet as `detector test` does; the same as passing that input.
    cfg, weights = tmp_path / "small.cfg", tmp_path / "small.weights"
    cfg.write_text(SMALL_REGION_CFG)
    small_region_weights(weights)
    from_file = oracle.detections(cfg, weights, DATA / "dog.jpg", thresh=.2)
    x = oracle.letterbox(DATA / "dog.jpg", 32, 32)
    from_tensor = oracle.detections(cfg, weights, x, 768, 576, thresh=.2)
    assert len(from_file) == len(from_tensor) == 2 * 16 * 16
    for a, b in zip(from_file, from_tensor):
        assert a["bbox"] == b["bbox"] and a["classes"] == b["classes"]


def test_save_weights_round_trip(tmp_path):
    cfg, weights, out = tmp_path / "small.cfg", tmp_path / "small.weights", tmp_path / "saved"
    cfg.write_text(SMALL_REGION_CFG)
    small_region_weights(weights)
    oracle.save_weights(cfg, weights, out)
    assert out.read_bytes() == weights.read_bytes()


@pytest.mark.skipif(not TINY_WEIGHTS.exists(), reason="shared/weights/tiny.weights not present")
def test_classify_tiny_dog():
    names = (DATA / "imagenet.shortnames.list").read_text().splitlines()
    p = oracle.classify(CFG / "tiny.cfg", TINY_WEIGHTS, DATA / "dog.jpg")
    # This darknet build decodes with OpenCV: `darknet classifier predict` prints 14.18% malamute.
    assert names[p.argmax()] == "malamute" and abs(p.max() - .1418) < 5e-5
    # stb_image's decode (darknet built without OpenCV) gives the 14.51% of pjreddie's docs.
    p = oracle.classify(CFG / "tiny.cfg", TINY_WEIGHTS, oracle.load_image_stb(DATA / "dog.jpg"))
    assert names[p.argmax()] == "malamute" and abs(p.max() - .1451) < 5e-5


def test_traced_step_is_train_network_datum(tmp_path):
    """trace's hand-written train_network_datum (every stage dumped) is the library's: same costs, same weights."""
    cfg = tmp_path / "net.cfg"
    cfg.write_text("[net]\nbatch=2\nsubdivisions=1\nwidth=8\nheight=8\nchannels=3\nlearning_rate=.1\n\n"
                   + conv(4) + section("route", layers="-1") + conv(2, size=1, batch_normalize=0)
                   + section("cost", type="sse"))
    rng = np.random.default_rng(0)
    x, truth = rng.random((2, 3, 8, 8), dtype=np.float32), rng.random((2, 2, 8, 8), dtype=np.float32)
    costs, outputs, deltas = oracle.train(cfg, None, x, truth, 0, 3, tmp_path / "trained.weights")
    dump = oracle.trace(cfg, None, x, truth, 0, 3, tmp_path)
    np.testing.assert_array_equal(dump["cost"], costs)
    assert dump["final.weights"].read_bytes() == (tmp_path / "trained.weights").read_bytes()
    for i in range(4):
        np.testing.assert_array_equal(dump["out"][i], outputs[i])
        np.testing.assert_array_equal(dump["delta"][i], deltas[i])
    assert set(dump["after"][1]) == {0} and set(dump["before"][1]) == {0, 1}  # the route adds into layer 0
    assert not dump["fwd"][2].any() and dump["fwd"][3].any()  # only the loss layer's forward fills its delta
