"""Every layer's output against the original Darknet: same cfg, same random weights, same input tensor.

Each layer is checked alone, on the oracle's own inputs, within TOLERANCE (1e-5 of its max |value|), on the
reference layers and on the fast CPU path; and end to end (Network.forward), where rounding piles up through the
layers, within CHAINED_TOLERANCE (conftest.py says how that bound was measured, on AVX2 and AVX-512 kernels).
"""
import numpy as np
import pytest

import oracle
from conftest import (CHAINED_TOLERANCE, TOLERANCE, chained_errors, darknet_cfg, isolated_errors, needs_oracle,
                      project_cfg, relative_error)
from darknet_py.layers.region import RegionLayer
from darknet_py.network import Network

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


def assert_matches(net, x, ref):
    """Every layer within TOLERANCE on the oracle's inputs, on the reference layers and on the fast path, and
    within CHAINED_TOLERANCE end to end through Network.forward (the fast path)."""
    for i, kind, error in chained_errors(net, x, ref):
        assert error < CHAINED_TOLERANCE, f"end to end: layer {i} {kind} {error:.3g}"
    for fast in (False, True):
        for i, kind, error in isolated_errors(net, x, ref, fast):
            assert error < TOLERANCE, f"{'fast path' if fast else 'reference'}: layer {i} {kind} {error:.3g}"


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
    net, x, ref = compare(cfg, random_weights(cfg), (128, 96), 1)
    region, expected = net.layers[-1], ref[-1][1]
    assert np.isnan(expected).any()
    finite = ~np.isnan(expected)
    end_to_end = np.asarray(net.forward(x)).reshape(expected.shape)
    alone = np.asarray(region.forward(ref[-2][1].copy(), net)).reshape(expected.shape)
    for ours, bound in ((end_to_end, CHAINED_TOLERANCE), (alone, TOLERANCE)):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
        assert relative_error(ours[finite], expected[finite]) < bound
    net.layers.pop()  # the layers before it, as any network's
    assert_matches(net, x, ref[:-1])
