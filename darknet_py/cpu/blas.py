"""OpenBLAS's thread count, set through its C API (the library numpy itself loaded).

The fast path splits work over its own Python threads, so OpenBLAS must run one thread per call
or the two levels of threads oversubscribe the cores. We find every OpenBLAS mapped into this process
(numpy's, and scipy's own copy if it is loaded) and call its set/get_num_threads; the symbol names
differ between builds (numpy's wheels prefix them `scipy_openblas_` and suffix `64_`). The setting is
process-wide: other threads' numpy calls also run single-threaded while a fast forward is running.
"""
import contextlib
import ctypes
import threading

import numpy as np  # noqa: F401  (loads OpenBLAS, so it is in /proc/self/maps below)

_PREFIXES = ("scipy_openblas", "openblas")  # numpy wheels' ILP64 build, a system OpenBLAS
_SUFFIXES = ("64_", "")


def _thread_functions(path):
    """(set_num_threads, get_num_threads) of the OpenBLAS at path, or None."""
    lib = ctypes.CDLL(path)  # already loaded: dlopen returns the same handle
    for prefix in _PREFIXES:
        for suffix in _SUFFIXES:
            setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            if setter is not None and getter is not None:
                setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
                return setter, getter
    return None


def _find_openblas():
    """[(set_num_threads, get_num_threads)] of every OpenBLAS mapped into this process."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
    except OSError:
        return []
    return [fns for fns in map(_thread_functions, sorted(paths)) if fns is not None]


_OPENBLAS = _find_openblas()
_lock = threading.Lock()
_depth = 0   # nested/concurrent single_threaded() sections share one saved count
_saved = []  # each library's thread count before the outermost section


def found():
    """True when the OpenBLAS thread count can be controlled."""
    return bool(_OPENBLAS)


@contextlib.contextmanager
def single_threaded():
    """Run the body with OpenBLAS at one thread, restoring its previous count afterwards."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = [getter() for _, getter in _OPENBLAS]
            for setter, _ in _OPENBLAS:
                setter(1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for (setter, _), count in zip(_OPENBLAS, _saved):
                    setter(count)
