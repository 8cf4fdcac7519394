"""The fast path's choices made by measurement on the CPU at hand, once, and kept per machine.

Which method computes a [convolutional] layer fastest (Winograd F(2x2) or F(4x4), im2col + GEMM with
small, default or large row chunks) depends on the CPU's caches, vector units and BLAS kernels, so the
first fast forward of a layer shape times every candidate on the real input, on all the threads, a few
rounds interleaved, and keeps the one with the fastest run (the shape rule's method unless another beats
it by more than 5%, so noise does not move it); one measured on a busy machine is measured again when it
is quieter. (The thread count itself is not measured: on a shared machine one thread wins
whenever a neighbour takes the other core, and loses once it leaves.) The OpenBLAS kernel family (AVX-512
or AVX2) is measured too, in subprocesses (OpenBLAS reads OPENBLAS_CORETYPE when it loads): it applies
from the next process on (blas_env.py).
Everything lands in one JSON file per user (DARKNET_PY_CACHE, default ~/.cache/darknet-py), filed under
the CPU's model and vector extensions. DARKNET_PY_TUNE=0 turns measuring off: conv.make_conv's shape rules.
Every candidate is checked against the reference layers (tests/cpu), so a choice changes speed only.
"""
import json
import os
import subprocess
import sys
import time

from . import blas_env, jit

METHODS_VERSION = 2  # in every key: the candidates changed (2: conv.DirectByFilters on small maps), measure again
JIT_VERSION = 4  # in the keys where numba is present; 2: Winograd's transforms compiled (winograd_kernels.py);
# 3: compiled.py's 3x3 kernel two output rows a pass; 4: Winograd's output transform with the bias and activation,
# and F(4x4) by blocks of tile rows (conv.WinogradRows)
# Timed runs of each candidate (interleaved, the order flipped each round) after one warm-up. The fastest
# run decides: on a shared machine the other runs measure the neighbours as much as the method.
ROUNDS = 6
MARGIN = .05  # a measured method replaces the shape rule's only when its fastest run is this much faster

GEMM_PROBE = """
import time, numpy as np
from darknet_py.cpu.blas import single_threaded
rng = np.random.default_rng(0)
best = []
with single_threaded():
    for m, k, n in {shapes}:
        a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
        out = a @ b
        times = []
        for _ in range(5):
            began = time.perf_counter()
            np.matmul(a, b, out=out)
            times.append(time.perf_counter() - began)
        best.append(2 * m * k * n / min(times))
print(sum(best) / len(best) / 1e9)
"""
# GEMM shapes of yolov2's layers (filters, inputs x 9, pixels): 13x13, 26x26 and 52x52 maps, the first layer's
PROBE_SHAPES = [(1024, 4608, 169), (256, 2304, 676), (128, 1152, 2704), (32, 27, 8192)]
PROBE_ROUNDS = 2


class Tuner:
    """Measured choices read from and written to the cache file at `path`."""

    def __init__(self, path=None, clock=time.perf_counter, load=None):
        self.path = path or blas_env.cache_file()
        self.clock = clock
        self.load = load or (lambda: os.getloadavg()[0])
        self.cache = blas_env.read_cache(self.path)
        self.machine = self.cache.setdefault(blas_env.cpu_key(), {})

    def known(self, key, names):
        """The choice measured for `key` if it is one of `names` and still stands: one measured while the
        machine was busy (a load average of at least its cores) is measured again once it is quieter."""
        entry = self.machine.get("layers", {}).get(key)
        if not isinstance(entry, list) or len(entry) != 2 or entry[0] not in names:
            return None
        choice, load = entry
        busy = load >= (os.cpu_count() or 1)
        return None if busy and self.load() < load - 1 else choice

    def choose(self, key, runs, default=None):
        """The name in `runs` ({name: run()}) that ran fastest, measured now unless known(key); `default`
        (the shape rule's method) stays unless another beats it by more than MARGIN."""
        choice = self.known(key, runs)
        if choice is not None:
            return choice
        load = self.load()
        times = {name: [] for name in runs}
        for name in runs:  # warm-up: buffers, first-touch pages
            runs[name]()
        for r in range(ROUNDS):
            for name in (list(runs) if r % 2 == 0 else list(reversed(runs))):
                began = self.clock()
                runs[name]()
                times[name].append(self.clock() - began)
        choice = min(runs, key=lambda name: min(times[name]))
        if default in runs and min(times[choice]) > (1 - MARGIN) * min(times[default]):
            choice = default
        self.machine.setdefault("layers", {})[key] = [choice, round(max(load, self.load()), 2)]
        self.save()
        return choice

    def openblas_core(self, measure=None):
        """The OpenBLAS kernel family that ran yolov2's GEMM shapes fastest here (measured once)."""
        if "openblas_core" not in self.machine:
            speeds = (measure or measure_openblas_cores)()
            self.machine["openblas_speeds"] = speeds
            self.machine["openblas_core"] = max(speeds, key=speeds.get) if speeds else None
            self.save()
        return self.machine["openblas_core"]

    def save(self):
        """Write the cache atomically (a rename), so a concurrent reader sees the old or the new file."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        partial = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(partial, "w") as f:
                json.dump(self.cache, f, indent=1, sort_keys=True)
            os.replace(partial, self.path)
        except OSError:  # a read-only home: measure again next time
            pass


def measure_openblas_cores():
    """{coretype: GFLOP/s on one thread} for each OpenBLAS kernel family this CPU can run."""
    _, flags = blas_env.cpu_flags()
    cores = [blas_env.AVX512_CORE] * ("avx512f" in flags) + [blas_env.AVX2_CORE] * ("avx2" in flags)
    if len(cores) < 2:
        return {}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    speeds = {}
    for core in cores * PROBE_ROUNDS:  # alternately, the best round each: a busy neighbour slows one round
        env = {**os.environ, blas_env.CORETYPE_VAR: core, "PYTHONPATH": root, blas_env.TUNE_VAR: "0"}
        out = subprocess.run([sys.executable, "-c", GEMM_PROBE.format(shapes=PROBE_SHAPES)], env=env,
                             capture_output=True, text=True, timeout=120)
        if out.returncode == 0:
            speeds[core] = max(speeds.get(core, 0), round(float(out.stdout.split()[-1]), 1))
    return speeds


def layer_key(layer, pool, batch, threads):
    """What a measurement holds for: the conv's shape, the fused pool, batch, threads, the BLAS kernels, the
    candidates (METHODS_VERSION) and whether numba's kernels took part (JIT_VERSION: a choice made without them, or
    with older ones, is measured again)."""
    c, h, w = layer.in_shape
    fused = f" pool{pool.size}/{pool.stride}" if pool is not None and pool.type == "maxpool" else ""
    compiled = f" +numba{JIT_VERSION}" if jit.available() else ""
    return (f"{os.environ.get(blas_env.CORETYPE_VAR, 'default')} t{threads} b{batch} {c}x{h}x{w} "
            f"-> {layer.filters} {layer.size}x{layer.size}/{layer.stride} p{layer.padding}{fused} m{METHODS_VERSION}"
            f"{compiled}")
