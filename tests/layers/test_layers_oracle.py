"""Every layer's output against the original Darknet: same cfg, same random weights, same input tensor.

Each layer is checked alone, on the oracle's own inputs, within TOLERANCE (1e-5 of its max |value|), on the
reference layers and on the fast CPU path; and end to end (Network.forward), where rounding piles up through the
layers, within CHAINED_TOLERANCE (conftest.py says how that bound was measured, on AVX2 and AVX-512 kernels).
"""
import os

import numpy as np
import pytest

import oracle
from conftest import (CHAINED_TOLERANCE, TOLERANCE, assert_matches, chained_errors, conv, darknet_cfg, maxpool,
                      needs_oracle, project_cfg, relative_error, section)
from darknet_py.layers.convolutional import binarize_weights
from darknet_py.layers.region import RegionLayer
from darknet_py.network import Network
from darknet_py.weights import write_random_weights

CASES = [  # (cfg, size (w, h) or None for the cfg's own, batch)
    ("yolov2-tiny", None, 1),
    ("yolov2-tiny-voc", None, 2),
    ("yolov2", (416, 416), 1),
    ("yolov2", (608, 608), 1),
    ("yolov2", (480, 320), 1),   # non-square
    ("yolov2-voc", (352, 352), 2),
    ("darknet19", None, 2),
    ("tiny", None, 3),
]


def compare(cfg, weights, size, batch, seed=0, oracle_cfg=None):
    """The network, its input and the oracle's every layer (oracle_cfg: run the original on another cfg)."""
    net = Network.from_cfg(cfg)
    if size:
        net.resize(*size)
    net.load_weights(weights)
    x = np.random.default_rng(seed).random((batch,) + net.input_shape, dtype=np.float32)
    ref = oracle.layer_outputs(oracle_cfg or cfg, weights, x, size=size)
    assert len(ref) == len(net.layers)
    return net, x, ref


def assert_tree_region_matches(net, x, ref):
    """A WordTree network under the CPU build's broken region tree softmax (flat offsets, temperature 0 -> NaN,
    reproduced with darknet_cpu_tree_layout): the region's NaNs where the oracle's are and its finite values
    within the bounds, end to end and alone; every layer before it as assert_matches."""
    region, expected = net.layers[-1], ref[-1][1]
    assert np.isnan(expected).any()
    finite = ~np.isnan(expected)
    end_to_end = np.asarray(net.forward(x)).reshape(expected.shape)
    alone = np.asarray(region.forward(ref[-2][1].copy(), net)).reshape(expected.shape)
    for ours, bound in ((end_to_end, CHAINED_TOLERANCE), (alone, TOLERANCE)):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
        assert relative_error(ours[finite], expected[finite]) < bound
    net.layers.pop()  # the layers before it, as any network's
    try:
        return assert_matches(net, x, ref[:-1])
    finally:
        net.layers.append(region)


@needs_oracle
@pytest.mark.parametrize("name,size,batch", CASES, ids=[f"{c}-{s[0]}x{s[1]}-b{b}" if s else f"{c}-b{b}" for c, s, b in CASES])
def test_every_layer_matches_darknet(name, size, batch, random_weights):
    cfg = darknet_cfg(name)
    assert_matches(*compare(cfg, random_weights(cfg), size, batch))


@needs_oracle
def test_project_cfg_runs_like_the_original(random_weights):
    """Our own cfg/yolov2-tiny.cfg with the weights made for the original gives the original's outputs."""
    weights = random_weights(darknet_cfg("yolov2-tiny"))
    assert_matches(*compare(project_cfg("yolov2-tiny"), weights, None, 1, oracle_cfg=darknet_cfg("yolov2-tiny")))


@needs_oracle
def test_yolo9000_tree(random_weights, monkeypatch):
    """yolo9000 (9418-class WordTree region) at a small size.

    Every layer before [region] matches. The CPU build's region tree softmax is broken (flat offsets,
    temperature 0 -> NaN); with darknet_cpu_tree_layout we reproduce it exactly, NaNs included.
    """
    cfg = darknet_cfg("yolo9000")
    monkeypatch.setattr(RegionLayer, "darknet_cpu_tree_layout", True)
    assert_tree_region_matches(*compare(cfg, random_weights(cfg), (128, 96), 1))


# ----------------------------------------------------------------------------------------------------
# The model zoo: every cfg of the original's cfg folder but its text RNNs (rnn, rnn.train, gru), at its own
# size and at a small other size, batch 2, through the fast path and the reference layers, all against one
# oracle run. Darknet's resize_network stops at a [connected], [local] or [dropout] before the first
# [avgpool]: those networks get their other size from a cfg copy (oracle.cfg_with_size) and their own
# random weights. The own-size runs of the large networks take minutes on two cores: in `make test` they
# run at batch 1 (their other size proves the batch at 2), with DARKNET_PY_FULL_ZOO=1 (`make test-zoo`) at 2.

ZOO = ["alexnet", "cifar", "cifar.test", "darknet", "darknet19", "darknet19_448", "darknet53", "darknet53_448",
       "darknet9000", "densenet201", "extraction", "extraction.conv", "extraction22k", "go", "go.test", "jnet-conv",
       "resnet101", "resnet152", "resnet18", "resnet34", "resnet50", "resnext101-32x4d", "resnext152-32x4d",
       "resnext50", "strided", "t1.test", "tiny", "vgg-16", "vgg-conv", "writing", "yolo9000", "yolov1",
       "yolov1-tiny", "yolov2", "yolov2-tiny", "yolov2-tiny-voc", "yolov2-voc", "yolov3", "yolov3-openimages",
       "yolov3-spp", "yolov3-tiny", "yolov3-voc"]
OTHER_SIZE = {"go": (13, 13), "go.test": (13, 13), "jnet-conv": (16, 16), "cifar": (20, 20), "cifar.test": (24, 24),
              "alexnet": (131, 131), "yolov1": (192, 192), "yolov1-tiny": (192, 192), "t1.test": (160, 160),
              "vgg-16": (128, 128), "strided": (128, 128)}
DEFAULT_OTHER_SIZE = (96, 64)
FULL_ZOO = os.environ.get("DARKNET_PY_FULL_ZOO", "") not in ("", "0")
HEAVY = {"alexnet", "darknet19_448", "darknet53", "darknet53_448", "darknet9000", "densenet201", "extraction22k",
         "resnet34", "resnet50", "resnet101", "resnet152", "resnext50", "resnext101-32x4d", "resnext152-32x4d", "vgg-16",
         "vgg-conv", "yolo9000", "yolov1", "yolov2", "yolov2-voc", "yolov3", "yolov3-openimages", "yolov3-spp",
         "yolov3-voc"}
RESIZABLE = {"convolutional", "crop", "maxpool", "region", "yolo", "route", "shortcut", "upsample", "reorg", "cost"}


def darknet_resizes(net):
    """resize_network's loop: every layer up to the first [avgpool] must be of a type it resizes, and a
    [shortcut] only of a layer of its own size (resize_shortcut_layer asserts it, so the ResNets' strided
    shortcuts stop it)."""
    for layer in net.layers:
        if layer.type == "avgpool":
            return True
        if layer.type not in RESIZABLE or (layer.type == "shortcut" and layer.from_shape != layer.in_shape):
            return False
    return True


@pytest.fixture(scope="module")
def zoo_network(tmp_path_factory):
    """zoo_network(cfg) -> (network with random weights, its .weights file, its own (w, h)); the last one
    is kept, so a cfg's two sizes share one build (a YOLOv3 takes seconds to build and write)."""
    folder, last = tmp_path_factory.mktemp("zoo"), {}

    def get(cfg):
        if last.get("cfg") != cfg:
            last.clear()
            net = Network.from_cfg(cfg)
            weights = folder / f"{cfg.stem}.weights"
            write_random_weights(net, weights, seed=1)
            last.update(cfg=cfg, result=(net, weights, (net.w, net.h)))
        return last["result"]
    return get


@needs_oracle
@pytest.mark.parametrize("name,own", [(name, own) for name in ZOO for own in (True, False)],
                         ids=[f"{name}-{kind}" for name in ZOO for kind in ("own-size", "other-size")])
def test_zoo_matches_darknet(name, own, zoo_network, tmp_path, monkeypatch):
    """Every layer, fed the oracle's input, within TOLERANCE of the oracle's output on the reference layers and
    the fast path, and every layer end to end within CHAINED_TOLERANCE; the worst of each is printed."""
    monkeypatch.setattr(RegionLayer, "darknet_cpu_tree_layout", True)  # yolo9000: the oracle's NaNs and all
    cfg, size = darknet_cfg(name), None
    net, weights, own_size = zoo_network(cfg)
    if not own:
        size = OTHER_SIZE.get(name, DEFAULT_OTHER_SIZE)
        if not darknet_resizes(net):
            cfg, size = oracle.cfg_with_size(cfg, *size, tmp_path), None
            net, weights, own_size = zoo_network(cfg)
    net.resize(*(size or own_size))
    batch = 1 if own and name in HEAVY and not FULL_ZOO else 2
    x = np.random.default_rng(0).random((batch,) + net.input_shape, dtype=np.float32)
    ref = oracle.layer_outputs(cfg, weights, x, size=size)
    matches = assert_tree_region_matches if name == "yolo9000" else assert_matches
    worst = matches(net, x, ref)
    print(f"zoo {name} {net.w}x{net.h} " + " ".join(f"{path} {error:.2e}" for path, error in worst.items()))


# tiny-yolo_xnor's pattern (AlexeyAB's cfg, our own version): an ordinary first layer, then binary=1 and
# xnor=1 convolutions with and without batch-norm, 3x3 and 1x1, a max pool between them.
XNOR_CFG = "[net]\nwidth=32\nheight=32\nchannels=3\n" + "".join(
    conv(8) + maxpool() + conv(16, binary=1) + conv(16, xnor=1) + maxpool() + conv(16, xnor=1, batch_normalize=0)
    + conv(8, size=1, binary=1, batch_normalize=0) + conv(12, size=1, xnor=1, binary=1)
    + section("convolutional", filters=5, size=1, activation="linear"))


@needs_oracle
def test_binary_and_xnor_convolutions_match_darknet(tmp_path):
    """xnor=1 as Darknet's CPU forward (binarized weights and +-1 inputs); binary=1 as its GPU forward, which
    the CPU build skips: the oracle gets the binary layers' weights binarized in the file (binarizing twice
    changes nothing), and with the real weights it runs them as plain convolutions."""
    cfg = tmp_path / "xnor.cfg"
    cfg.write_text(XNOR_CFG)
    net = Network.from_cfg(cfg)
    write_random_weights(net, tmp_path / "real.weights", seed=3)
    binarized = Network.from_cfg(cfg).load_weights(tmp_path / "real.weights")
    for layer in binarized.layers:
        if layer.type == "convolutional" and layer.binary and not layer.xnor:
            layer.weights[...] = binarize_weights(layer.weights)
    binarized.save_weights(tmp_path / "binarized.weights")
    x = np.random.default_rng(0).normal(size=(2,) + net.input_shape).astype(np.float32)
    ref = oracle.layer_outputs(cfg, tmp_path / "binarized.weights", x)
    assert_matches(net, x, ref)
    for i, kind, error in chained_errors(net, x, ref, fast=False):
        assert error < CHAINED_TOLERANCE, f"end to end, reference: layer {i} {kind} {error:.3g}"
    cpu_build = oracle.layer_outputs(cfg, tmp_path / "real.weights", x)
    for layer in net.layers:
        if layer.type == "convolutional" and not layer.xnor:
            layer.binary = 0
    assert_matches(net, x, cpu_build)
