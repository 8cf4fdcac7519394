"""numba, the optional compiler of the CPU's compiled kernels (`pip install darknet-py[fast]`): imported at
the first use (it adds 0.3 s and 60 MB to a process), absent where it is not installed - then every kernel
built on it is simply not offered, and the numpy code runs."""
import functools


@functools.cache
def numba():
    """The numba module, or None where it is absent."""
    try:
        import numba
    except ImportError:  # the numpy path runs without it
        return None
    return numba


def available():
    return numba() is not None
