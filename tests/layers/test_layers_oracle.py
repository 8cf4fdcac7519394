"""Every layer's output against the original Darknet: same cfg, same random weights, same input tensor."""
import numpy as np
import pytest

import oracle
from conftest import darknet_cfg, needs_oracle, project_cfg, relative_error
from darknet_py.layers.region import RegionLayer
from darknet_py.network import Network

TOLERANCE = 1e-5  # of each layer's max |value|, float32

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


def compare(cfg, weights, size, batch, seed=0):
    net = Network.from_cfg(cfg)
    if size:
        net.resize(*size)
    net.load_weights(weights)
    x = np.random.default_rng(seed).random((batch,) + net.input_shape, dtype=np.float32)
    ref = oracle.layer_outputs(cfg, weights, x, size=size)
    net.forward(x)
    assert len(ref) == len(net.layers)
    return net, ref


@needs_oracle
@pytest.mark.parametrize("name,size,batch", CASES, ids=[f"{c}-{s[0]}x{s[1]}-b{b}" if s else f"{c}-b{b}" for c, s, b in CASES])
def test_every_layer_matches_darknet(name, size, batch, random_weights):
    cfg = darknet_cfg(name)
    net, ref = compare(cfg, random_weights(cfg), size, batch)
    for i, (layer, (kind, expected)) in enumerate(zip(net.layers, ref)):
        assert layer.type == kind
        if kind == "cost":
            continue
        ours = np.asarray(layer.output).reshape(expected.shape)
        assert relative_error(ours, expected) < TOLERANCE, f"layer {i} {kind}"


@needs_oracle
def test_project_cfg_runs_like_the_original(random_weights):
    """Our own cfg/yolov2-tiny.cfg with the weights made for the original gives the original's outputs."""
    weights = random_weights(darknet_cfg("yolov2-tiny"))
    net, ref = compare(project_cfg("yolov2-tiny"), weights, None, 1)
    _, ref = compare(darknet_cfg("yolov2-tiny"), weights, None, 1)
    assert relative_error(net.layers[-1].output, ref[-1][1]) < TOLERANCE


@needs_oracle
def test_yolo9000_tree(random_weights, monkeypatch):
    """yolo9000 (9418-class WordTree region) at a small size.

    Every layer before [region] matches. The CPU build's region tree softmax is broken (flat offsets,
    temperature 0 -> NaN); with darknet_cpu_tree_layout we reproduce it exactly, NaNs included.
    """
    cfg = darknet_cfg("yolo9000")
    monkeypatch.setattr(RegionLayer, "darknet_cpu_tree_layout", True)
    net, ref = compare(cfg, random_weights(cfg), (128, 96), 1)
    for i, (layer, (_, expected)) in enumerate(zip(net.layers[:-1], ref[:-1])):
        assert relative_error(layer.output, expected) < TOLERANCE, f"layer {i}"
    ours, expected = np.asarray(net.layers[-1].output), ref[-1][1]
    assert np.isnan(expected).any()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    finite = ~np.isnan(expected)
    scale = np.abs(expected[finite]).max()
    assert np.abs(ours[finite] - expected[finite]).max() / scale < TOLERANCE


def test_yolo9000_tree_softmax_follows_the_gpu_kernel():
    """Default region tree softmax: one softmax per group of co-hyponyms, per anchor and cell."""
    cfg = darknet_cfg("yolo9000")
    if not cfg.exists():
        pytest.skip("needs /usr/share/darknet/cfg/yolo9000.cfg and its 9k.tree")
    net = Network.from_cfg(cfg)
    region = net.layers[-1]
    _, h, w = 0, 2, 3
    x = np.random.default_rng(0).normal(size=(1, region.num * region.entries, h, w)).astype(np.float32)
    region.reshape((x.shape[1], h, w), net.layers)
    out = region.forward(x, net).reshape(1, region.num, region.entries, h, w)
    raw = x.reshape(out.shape)
    tree = region.tree
    for g in (0, 1, tree.groups - 1):
        o, s = tree.group_offset[g], tree.group_size[g]
        block = raw[0, 1, 5 + o:5 + o + s, 1, 2].astype(np.float64)
        expected = np.exp(block - block.max()) / np.exp(block - block.max()).sum()
        np.testing.assert_allclose(out[0, 1, 5 + o:5 + o + s, 1, 2], expected, rtol=1e-5, atol=1e-7)
