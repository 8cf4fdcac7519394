"""The fast CPU inference path (darknet_py/cpu) against the reference layers and the original Darknet.

Each method (pointwise, Winograd F(2x2)/F(4x4), direct with a fused maxpool) on small layers vs the
reference forward (DARKNET_PY_REFERENCE=1); whole networks vs the oracle per layer; the OpenBLAS
kernel choice and its non-AVX-512 fallback; the thread count. No timings here: bench/bench_cpu.py.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import oracle
from conftest import (CHAINED_TOLERANCE, ROOT, TOLERANCE, chained_errors, darknet_cfg, isolated_errors, needs_oracle,
                      relative_error)
from darknet_py.cpu import blas, blas_env, conv, engine, jit, threads, winograd
from darknet_py.errors import DarknetError
from darknet_py.network import Network
from darknet_py.weights import write_random_weights

HEADER = "[net]\nwidth={w}\nheight={h}\nchannels={c}\n"
CONV = "[convolutional]\n{bn}filters={n}\nsize={k}\nstride={s}\npad=1\nactivation={act}\n{extra}"
BN = "batch_normalize=1\n"
POOL = "[maxpool]\nsize={k}\nstride={s}\n"


def conv_section(n, k=3, s=1, act="leaky", bn=True, extra=""):
    return CONV.format(n=n, k=k, s=s, act=act, bn=BN if bn else "", extra=extra)


# (name, input (w, h, c), sections, the fast method expected for each conv)
NETS = [
    ("direct+pool", (168, 160, 3), [conv_section(8), POOL.format(k=2, s=2)], [conv.Direct]),
    ("winograd-f4", (44, 40, 8), [conv_section(16), POOL.format(k=2, s=2), conv_section(8, k=1)],
     [conv.Winograd, conv.Pointwise]),
    ("winograd-f2-odd", (13, 9, 16), [conv_section(24, act="linear", bn=False), POOL.format(k=2, s=2)],
     [conv.Winograd]),
    ("strided-logistic", (30, 22, 4), [conv_section(8, s=2, act="logistic"), conv_section(8, k=5, act="relu")],
     [conv.Direct, conv.Direct]),
    ("grouped+padded-pool", (16, 16, 8), [conv_section(8, extra="groups=2\n"), POOL.format(k=2, s=1)], [type(None)]),
]


def build(tmp_path, name, size, sections, seed=0):
    w, h, c = size
    cfg = tmp_path / f"{name}.cfg"
    cfg.write_text(HEADER.format(w=w, h=h, c=c) + "\n".join(sections))
    net = Network.from_cfg(cfg)
    weights = tmp_path / f"{name}.weights"
    write_random_weights(net, weights, seed)
    return cfg, weights, net


def reference_outputs(net, x, monkeypatch):
    with monkeypatch.context() as m:
        m.setenv(engine.REFERENCE_VAR, "1")
        net.forward(x)
    return [layer.output.copy() for layer in net.layers]


def test_winograd_tiles_are_correlations():
    rng = np.random.default_rng(0)
    for m in winograd.TILE_SIZES:
        bt, g, at = winograd.matrices(m)
        d, f = rng.standard_normal((m + 2, m + 2)), rng.standard_normal((3, 3))
        y = at @ ((g @ f @ g.T) * (bt @ d @ bt.T)) @ at.T
        direct = [[(d[i:i + 3, j:j + 3] * f).sum() for j in range(m)] for i in range(m)]
        np.testing.assert_allclose(y, direct, atol=1e-12)


@pytest.mark.parametrize("name,size,sections,methods", NETS, ids=[n[0] for n in NETS])
@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy"])
def test_fast_layers_match_the_reference(tmp_path, monkeypatch, name, size, sections, methods, batch, compiled):
    """With numba (where installed) and without: Winograd's transforms compiled or as GEMMs."""
    if not compiled:
        monkeypatch.setattr(jit, "available", lambda: False)
    elif not jit.available():
        pytest.skip("numba is not installed (pip install .[fast])")
    _, _, net = build(tmp_path, name, size, sections)
    x = np.random.default_rng(1).random((batch,) + net.input_shape, dtype=np.float32)
    ref = [(layer.type, out) for layer, out in zip(net.layers, reference_outputs(net, x, monkeypatch))]
    out = net.forward(x)
    assert out is net.layers[-1].output
    for i, (layer, (_, expected)) in enumerate(zip(net.layers, ref)):
        assert relative_error(layer.output, expected) < CHAINED_TOLERANCE, f"layer {i} {layer.type}"
    ops = [engine._engines[net].ops[i][-1] for i, layer in enumerate(net.layers) if layer.type == "convolutional"]
    assert [type(op) for op in ops] == methods
    for i, kind, error in isolated_errors(net, x, ref, fast=True):  # each on the reference's inputs
        assert error < TOLERANCE, f"layer {i} {kind}"


@pytest.mark.parametrize("name,size,sections,methods", NETS[:4], ids=[n[0] for n in NETS[:4]])
def test_every_candidate_method_matches_the_reference(tmp_path, monkeypatch, name, size, sections, methods):
    """What the tuner may pick: each candidate of each conv (its fused maxpool too) on the reference's input."""
    _, _, net = build(tmp_path, name, size, sections)
    x = np.random.default_rng(2).random((2,) + net.input_shape, dtype=np.float32)
    ref = reference_outputs(net, x, monkeypatch)
    for i, layer in enumerate(net.layers):
        pool = net.layers[i + 1] if i + 1 < len(net.layers) else None
        for method in conv.candidates(layer) if layer.type == "convolutional" else []:
            op = conv.make_conv(layer, pool, method)
            out = op(ref[i - 1] if i else x, conv.Scratch(), 2)
            assert relative_error(layer.output, ref[i]) < TOLERANCE, f"layer {i} {method}"
            if op.pool is not None:
                assert relative_error(out, ref[i + 1]) < TOLERANCE, f"layer {i} {method}'s pool"



@pytest.mark.skipif(not jit.available(), reason="numba is not installed (pip install .[fast])")
@pytest.mark.parametrize("act,pool", [("leaky", POOL.format(k=2, s=2)),
                                      ("logistic", POOL.format(k=3, s=3) + "padding=0\n"), ("linear", "")])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("block_rows", [0, 3])
def test_winograd_by_tile_rows_matches_the_reference(tmp_path, monkeypatch, act, pool, threads, block_rows):
    """conv.WinogradRows with blocks of one pooling window of tile rows (BLOCK_BYTES 0) or of M's bytes for 3 tile
    rows (shares of 4 or 8 tile rows cut into near-equal blocks): many blocks a thread, a map cut inside its last
    tiles (42 x 30), an activation after the kernel (logistic) and a 3x3 pool (no padding, so that it fuses) whose
    windows span tile rows (blocks of 3 tile rows), a batch of 2."""
    monkeypatch.setattr(conv, "BLOCK_BYTES", block_rows * 4 * 36 * 16 * 11)  # F(4x4) M: 36 x 16 filters x 11 tiles
    _, _, net = build(tmp_path, f"rows-{act}", (42, 30, 8), [conv_section(16, act=act)] + [pool] * bool(pool))
    x = np.random.default_rng(4).random((2,) + net.input_shape, dtype=np.float32)
    ref = reference_outputs(net, x, monkeypatch)
    op = conv.make_conv(net.layers[0], net.layers[1] if pool else None, "winograd4/rows")
    assert isinstance(op, conv.WinogradRows) and (op.pool is not None) == bool(pool)
    out = op(x, conv.Scratch(), threads)
    assert relative_error(net.layers[0].output, ref[0]) < TOLERANCE
    assert relative_error(out, ref[-1]) < TOLERANCE


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_direct_by_filters_matches_the_reference(tmp_path, monkeypatch, threads):
    """conv.DirectByFilters (a candidate on small maps only): a 12x10 map, batch norm, leaky and a fused 2x2/2 pool,
    40 filters cut on K_ALIGN (16, 16, 8), a batch of 3; and a 5x5 stride 2 conv without batch norm."""
    sections = [conv_section(40), POOL.format(k=2, s=2), conv_section(24, k=5, s=2, act="logistic", bn=False)]
    _, _, net = build(tmp_path, "by-filters", (12, 10, 24), sections)
    x = np.random.default_rng(5).random((3,) + net.input_shape, dtype=np.float32)
    ref = reference_outputs(net, x, monkeypatch)
    first = conv.make_conv(net.layers[0], net.layers[1], "direct/filters")
    assert isinstance(first, conv.DirectByFilters) and first.pool is not None
    pooled = first(x, conv.Scratch(), threads)
    assert relative_error(net.layers[0].output, ref[0]) < TOLERANCE
    assert relative_error(pooled, ref[1]) < TOLERANCE
    conv.make_conv(net.layers[2], None, "direct/filters")(ref[1], conv.Scratch(), threads)
    assert relative_error(net.layers[2].output, ref[2]) < TOLERANCE
    assert "direct/filters" in conv.candidates(net.layers[0])
    big = build(tmp_path, "big-map", (40, 32, 8), [conv_section(8)])[2]
    assert "direct/filters" not in conv.candidates(big.layers[0])  # 1280 pixels: past FILTER_SPLIT_MAX_PIXELS


def test_new_weights_are_picked_up(tmp_path, monkeypatch):
    _, _, net = build(tmp_path, "reload", (44, 40, 8), [conv_section(16), conv_section(8, k=1)])
    x = np.random.default_rng(2).random((1,) + net.input_shape, dtype=np.float32)
    first = net.forward(x).copy()
    write_random_weights(net, tmp_path / "other.weights", seed=5)  # new values in the same arrays
    assert not np.allclose(net.forward(x), first)
    assert relative_error(net.forward(x), reference_outputs(net, x, monkeypatch)[-1]) < CHAINED_TOLERANCE
    net.resize(20, 24)
    x = np.random.default_rng(3).random((1,) + net.input_shape, dtype=np.float32)
    assert relative_error(net.forward(x), reference_outputs(net, x, monkeypatch)[-1]) < CHAINED_TOLERANCE


def test_reference_is_forced_by_the_environment(tmp_path, monkeypatch):
    _, _, net = build(tmp_path, "forced", (16, 16, 3), [conv_section(4)])
    x = np.zeros((1,) + net.input_shape, np.float32)
    monkeypatch.setenv(engine.REFERENCE_VAR, "1")
    assert not engine.use_fast_path(net, x)
    net.forward(x)
    assert net not in engine._engines
    monkeypatch.setenv(engine.REFERENCE_VAR, "0")
    assert engine.use_fast_path(net, x)
    net.train = True
    assert not engine.use_fast_path(net, x)


@needs_oracle
@pytest.mark.parametrize("name,size", [("yolov2-tiny", (160, 96)), ("yolov2", (96, 128))])
def test_networks_match_darknet(name, size, random_weights):
    cfg = darknet_cfg(name)
    weights = random_weights(cfg)
    net = Network.from_cfg(cfg)
    net.resize(*size)
    net.load_weights(weights)
    x = np.random.default_rng(0).random((1,) + net.input_shape, dtype=np.float32)
    assert engine.use_fast_path(net, x)
    ref = oracle.layer_outputs(cfg, weights, x, size=size)
    for i, kind, error in chained_errors(net, x, ref):
        assert error < CHAINED_TOLERANCE, f"end to end: layer {i} {kind}"
    for i, kind, error in isolated_errors(net, x, ref, fast=True):
        assert error < TOLERANCE, f"on the oracle's inputs: layer {i} {kind}"


def test_avx512_flag_detection(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 fma\n")
    assert not blas_env.cpu_has_avx512(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw\n")
    assert blas_env.cpu_has_avx512(cpuinfo)
    assert not blas_env.cpu_has_avx512(tmp_path / "missing")


def _python(code, **env):
    environ = {k: v for k, v in os.environ.items() if k != blas_env.CORETYPE_VAR}
    environ.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ,
                          check=True).stdout.strip()


def test_importing_darknet_py_selects_the_avx512_kernel_only_where_there_is_one():
    code = "import os, darknet_py; print(os.environ.get('OPENBLAS_CORETYPE'))"
    expected = blas_env.AVX512_CORE if blas_env.cpu_has_avx512() else "None"
    assert _python(code) == expected
    assert _python(code, OPENBLAS_CORETYPE="Haswell") == "Haswell"  # the user's choice stays


FALLBACK_CHECK = """
import numpy as np, darknet_py
from darknet_py.network import Network
from darknet_py.weights import write_random_weights
from darknet_py.cpu import blas
open("fallback.cfg", "w").write({cfg!r})
net = Network.from_cfg("fallback.cfg")
write_random_weights(net, "fallback.weights")
x = np.random.default_rng(0).random((1,) + net.input_shape, dtype=np.float32)
fast = net.forward(x).copy()
import os; os.environ["DARKNET_PY_REFERENCE"] = "1"
ref = net.forward(x)
print(blas.found(), float(np.abs(fast - ref).max() / np.abs(ref).max()))
"""


def _cpu_flags():
    with open("/proc/cpuinfo") as f:
        return next((line.split() for line in f if line.startswith("flags")), [])


@pytest.mark.skipif("avx2" not in _cpu_flags(), reason="OpenBLAS's Haswell kernels need AVX2")
def test_fast_path_without_avx512_kernels(tmp_path):
    # OPENBLAS_CORETYPE=Haswell forces the AVX2 kernels OpenBLAS uses on CPUs without AVX-512.
    cfg = HEADER.format(w=48, h=40, c=3) + "\n".join([conv_section(8), POOL.format(k=2, s=2), conv_section(16), conv_section(8, k=1)])
    out = subprocess.run([sys.executable, "-c", FALLBACK_CHECK.format(cfg=cfg)], capture_output=True, text=True,
                         cwd=tmp_path, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT), blas_env.CORETYPE_VAR: "Haswell"})
    found, error = out.stdout.split()
    assert found == "True" and float(error) < CHAINED_TOLERANCE


def test_thread_count_selection(monkeypatch):
    monkeypatch.delenv(threads.THREADS_VAR, raising=False)
    assert threads.thread_count() == len(os.sched_getaffinity(0))
    monkeypatch.setenv(threads.THREADS_VAR, "3")
    assert threads.thread_count() == 3
    threads.set_threads(5)
    try:
        assert threads.thread_count() == 5
    finally:
        threads.set_threads(None)
    assert threads.thread_count() == 3
    for bad in ("0", "-2", "many"):
        monkeypatch.setenv(threads.THREADS_VAR, bad)
        with pytest.raises(DarknetError, match=threads.THREADS_VAR):
            threads.thread_count()
    with pytest.raises(DarknetError):
        threads.set_threads(0)


@pytest.mark.parametrize("count", [1, 3])
def test_any_thread_count_gives_the_same_outputs(tmp_path, monkeypatch, count):
    _, _, net = build(tmp_path, "threads", (44, 40, 8), [conv_section(40), POOL.format(k=2, s=2), conv_section(24, k=1)])
    x = np.random.default_rng(4).random((2,) + net.input_shape, dtype=np.float32)
    ref = reference_outputs(net, x, monkeypatch)
    monkeypatch.setenv(threads.THREADS_VAR, str(count))
    net.forward(x)
    for layer, expected in zip(net.layers, ref):
        assert relative_error(layer.output, expected) < CHAINED_TOLERANCE
    for i, kind, error in isolated_errors(net, x, [(layer.type, out) for layer, out in zip(net.layers, ref)], True):
        assert error < TOLERANCE, f"layer {i} {kind}"


def test_blas_runs_single_threaded_inside_and_is_restored():
    if not blas.found():
        pytest.skip("no OpenBLAS in this process")
    getters = [getter for _, getter in blas._OPENBLAS]
    before = [getter() for getter in getters]
    with blas.single_threaded():
        assert [getter() for getter in getters] == [1] * len(getters)
        with blas.single_threaded():
            assert [getter() for getter in getters] == [1] * len(getters)
        assert [getter() for getter in getters] == [1] * len(getters)
    assert [getter() for getter in getters] == before


def test_split_covers_the_range_on_aligned_cuts():
    assert conv.split(100, 3, 16) == [(0, 48), (48, 96), (96, 100)]
    assert conv.split(5, 8) == [(i, i + 1) for i in range(5)]
