"""Where arrays live: numpy on the CPU, CuPy on an NVIDIA GPU. The one place that decides.

Layers write their array logic once against `xp = array_module(x)`; only what numpy-style code cannot
do fast gets a hand-written kernel (see `kernels/`).
"""
import numpy as np

try:  # CuPy is an optional extra (`pip install darknet-py[gpu]`)
    import cupy
except ImportError:  # pragma: no cover - depends on the machine
    cupy = None


def array_module(*arrays):
    """numpy or cupy, whichever holds the arrays (numpy when CuPy is absent)."""
    return cupy.get_array_module(*arrays) if cupy is not None else np


def to_numpy(a):
    return a if isinstance(a, np.ndarray) else a.get()
