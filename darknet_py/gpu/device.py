"""Where arrays live: numpy on the CPU, CuPy on an NVIDIA GPU. The one place that decides.

Layers write their array logic once against `xp = array_module(x)`; only what numpy-style code cannot
do fast gets a hand-written kernel (see `kernels/`, run by the GPU plan in `plan.py`).

Device selection: `select_device(device)` turns the API's `device=` (None: a GPU when CuPy sees one,
else the CPU) into "cpu" or a GPU index; `device_from_flags` does the same for Darknet's CLI flags
(-nogpu, -i N, -gpus 0,1).
"""
import functools
import re
from pathlib import Path

import numpy as np

from ..errors import DarknetError

try:  # CuPy is an optional extra (`pip install darknet-py[gpu]`)
    import cupy
except ImportError:  # pragma: no cover - depends on the machine
    cupy = None


def array_module(*arrays):
    """numpy or cupy, whichever holds the arrays (numpy when CuPy is absent)."""
    return cupy.get_array_module(*arrays) if cupy is not None else np


def to_numpy(a):
    return a if isinstance(a, np.ndarray) else a.get()


def like(ref, value):
    """value in ref's array module (parameters may live on the host while gradients are on the GPU)."""
    return to_numpy(value).astype(ref.dtype, copy=False) if isinstance(ref, np.ndarray) else value


KERNEL_DIR = Path(__file__).parent / "kernels"
# C's arithmetic: no fused multiply-add, so the kernels round as Darknet's CPU code (and ours) does.
KERNEL_OPTIONS = ("--fmad=false",)
_LOCAL_INCLUDE = re.compile(r'^#include "(\w+\.cuh)"\n', re.M)


def gpu_count():
    """How many CUDA devices CuPy sees (0 without CuPy or a driver)."""
    if cupy is None:
        return 0
    try:
        return cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError:
        return 0


def select_device(device=None):
    """"cpu" or a GPU index from the API's device=: None or "auto" (GPU 0 when there is one, else the
    CPU), "cpu", "gpu"/"cuda" (GPU 0), "cuda:N", or an index N (-1 is the CPU, as Darknet's gpu_index)."""
    if device is None or device == "auto":
        return 0 if gpu_count() else "cpu"
    if device == "cpu" or device == -1:
        return "cpu"
    if device in ("gpu", "cuda"):
        device = 0
    elif isinstance(device, str) and device.startswith("cuda:") and device[5:].isdigit():
        device = int(device[5:])
    if not isinstance(device, int) or device < 0:
        raise DarknetError(f"unknown device '{device}' (use cpu, gpu, cuda:N or a GPU index)")
    if cupy is None:
        raise DarknetError("a GPU was asked for but CuPy is not installed (pip install darknet-py[gpu])")
    if device >= gpu_count():
        raise DarknetError(f"GPU {device} was asked for but CuPy sees {gpu_count()} GPU(s)")
    return device


def device_from_flags(nogpu=False, gpus=None, gpu_index=None):
    """Darknet's CLI: -nogpu forces the CPU; -i N picks GPU N; -gpus 0,1 lists GPUs (we run on the first);
    with none of them, a GPU when there is one."""
    if nogpu:
        return "cpu"
    if gpu_index is not None:
        return select_device(int(gpu_index))
    if gpus:
        return select_device(int(str(gpus).split(",")[0]))
    return select_device(None)


def kernel_source(name):
    """The CUDA source of kernels/<name> with its local headers inlined (each once), as compiled.

    Inlining keeps CuPy's on-disk cache keyed by the whole source: it hashes the code it is given,
    so an edited header is never served from a stale cache.
    """
    seen = set()

    def inline(match):
        header = match.group(1)
        if header in seen:
            return ""
        seen.add(header)
        text = (KERNEL_DIR / header).read_text().replace("#pragma once\n", "")  # once: `seen`
        return _LOCAL_INCLUDE.sub(inline, text) + "\n"

    return _LOCAL_INCLUDE.sub(inline, (KERNEL_DIR / name).read_text())


@functools.lru_cache(maxsize=None)
def _module(name, device):
    with cupy.cuda.Device(device):
        return cupy.RawModule(code=kernel_source(name), options=KERNEL_OPTIONS)


@functools.lru_cache(maxsize=None)
def _kernel(name, function, device):
    return _module(name, device).get_function(function)


def get_kernel(name, function):
    """The kernel `function` of kernels/<name> for the current GPU, compiled once per process (NVRTC)."""
    return _kernel(name, function, cupy.cuda.Device().id)
