"""The compiled 3x3 convolution (darknet_py/cpu/compiled.py, numba) against the reference layers and the
original Darknet, made the shape rule's choice wherever it applies; and the fast path without numba, where
it is not offered. No timings here: the tuner decides where it runs (bench/bench_cpu.py)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import oracle
from conftest import (CHAINED_TOLERANCE, ROOT, TOLERANCE, chained_errors, darknet_cfg, isolated_errors, needs_oracle,
                      relative_error)
from darknet_py.cpu import conv, engine, jit
from darknet_py.network import Network

sys.path.insert(0, os.path.dirname(__file__))
from test_cpu_fast import POOL, build, conv_section, reference_outputs  # noqa: E402

needs_numba = pytest.mark.skipif(not jit.available(), reason="numba is not installed (pip install .[fast])")
POOL_UNPADDED = POOL + "padding=0\n"  # every window inside the map: fused into the conv
UNPADDED = "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=0\nactivation=leaky\n"

# (name, input (w, h, c), sections): 2 and 1 filters a pass (16, 6, 8 and 5 filters); two rows a pass with an
# odd last row alone (heights 21 and 17, and the row splits of 3 threads); the 2x2 pool in the kernel, a 3x3 one
# and a logistic conv's pool after it; pad 0; odd sizes.
NETS = [
    ("rgb+pool", (50, 34, 3), [conv_section(16), POOL.format(k=2, s=2), conv_section(6, act="linear", bn=False)]),
    ("channels+pool3", (27, 21, 8), [conv_section(5), POOL_UNPADDED.format(k=3, s=3)]),
    ("logistic+pool2", (20, 18, 2), [conv_section(8, act="logistic"), POOL.format(k=2, s=2),
                                     UNPADDED, conv_section(6, k=5)]),
]


@pytest.fixture
def compiled_everywhere(monkeypatch):
    """The compiled method for every 3x3 stride-1 conv (the shape rules never pick it)."""
    rule = conv.rule_method
    monkeypatch.setattr(conv, "rule_method", lambda layer: "direct3x3" if "direct3x3" in conv.candidates(layer)
                        else rule(layer))


@needs_numba
@pytest.mark.parametrize("name,size,sections", NETS, ids=[n[0] for n in NETS])
@pytest.mark.parametrize("batch,count", [(1, 1), (2, 3)])
def test_compiled_layers_match_the_reference(tmp_path, monkeypatch, compiled_everywhere, name, size, sections, batch,
                                             count):
    _, _, net = build(tmp_path, name, size, sections)
    x = np.random.default_rng(1).random((batch,) + net.input_shape, dtype=np.float32)
    ref = reference_outputs(net, x, monkeypatch)
    monkeypatch.setenv("DARKNET_PY_THREADS", str(count))
    net.forward(x)
    for i, (layer, expected) in enumerate(zip(net.layers, ref)):
        assert relative_error(layer.output, expected) < CHAINED_TOLERANCE, f"layer {i} {layer.type}"
    ops = [op for _, _, op in engine._engines[net].ops.values()]
    assert [op.name for op in ops] == ["direct3x3" if op.layer.size == 3 else "direct" for op in ops]
    for i, kind, error in isolated_errors(net, x, [(layer.type, out) for layer, out in zip(net.layers, ref)], True):
        assert error < TOLERANCE, f"layer {i} {kind}"


@needs_numba
def test_the_kernel_fuses_the_2x2_pool_only_after_leaky_or_linear(tmp_path):
    _, _, net = build(tmp_path, "fusion", (20, 18, 2), [conv_section(8), POOL.format(k=2, s=2),
                                                        conv_section(8, act="logistic"), POOL.format(k=2, s=2)])
    inside = [conv.make_conv(net.layers[i], net.layers[i + 1], "direct3x3").pool_inside for i in (0, 2)]
    assert inside == [True, False]


@needs_numba
def test_offered_for_thin_3x3_stride_1_convs_only(tmp_path):
    thin, wide = conv.COMPILED_MAX_CHANNELS, conv.COMPILED_MAX_CHANNELS + 8
    _, _, net = build(tmp_path, "offers", (16, 16, thin), [conv_section(wide), conv_section(8), conv_section(8, s=2),
                                                           conv_section(8, k=1)])
    assert ["direct3x3" in conv.candidates(layer) for layer in net.layers] == [True, False, False, False]


@needs_oracle
@needs_numba
def test_yolov2_tiny_matches_darknet(compiled_everywhere, random_weights):
    cfg = darknet_cfg("yolov2-tiny")
    weights = random_weights(cfg)
    net = Network.from_cfg(cfg)
    net.resize(160, 96)
    net.load_weights(weights)
    x = np.random.default_rng(0).random((1,) + net.input_shape, dtype=np.float32)
    ref = oracle.layer_outputs(cfg, weights, x, size=(160, 96))
    for i, kind, error in chained_errors(net, x, ref):
        assert error < CHAINED_TOLERANCE, f"end to end: layer {i} {kind}"
    assert engine._engines[net].ops[0][-1].name == "direct3x3"
    for i, kind, error in isolated_errors(net, x, ref, fast=True):
        assert error < TOLERANCE, f"on the oracle's inputs: layer {i} {kind}"


WITHOUT_NUMBA = """
import sys
sys.modules["numba"] = None  # import numba raises ImportError, as where it is not installed
import json, numpy as np, os
from darknet_py.cpu import conv, jit
from darknet_py.network import Network
from darknet_py.weights import write_random_weights
open("plain.cfg", "w").write({cfg!r})
net = Network.from_cfg("plain.cfg")
write_random_weights(net, "plain.weights")
x = np.random.default_rng(0).random((1,) + net.input_shape, dtype=np.float32)
fast = net.forward(x).copy()
os.environ["DARKNET_PY_REFERENCE"] = "1"
print(json.dumps([jit.available(), conv.candidates(net.layers[0]), float(np.abs(fast - net.forward(x)).max())]))
"""


def test_without_numba_the_method_is_not_offered(tmp_path):
    cfg = "[net]\nwidth=24\nheight=20\nchannels=3\n" + conv_section(8) + POOL.format(k=2, s=2)
    out = subprocess.run([sys.executable, "-c", WITHOUT_NUMBA.format(cfg=cfg)], capture_output=True, text=True,
                         cwd=tmp_path, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    available, names, error = json.loads(out.stdout)
    assert not available and "direct" in names and "direct3x3" not in names and error < 1e-5
