"""numba, the optional compiler of the CPU's compiled kernels (`pip install darknet-py[fast]`): imported at
the first use (it adds 0.3 s and 60 MB to a process), absent where it is not installed - then every kernel
built on it is simply not offered, and the numpy code runs."""
import functools
import hashlib
import importlib.util
import os
import sys

from . import blas_env


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


def compiled_at_first_call(function, **options):
    """`function` (a plain Python kernel) as numba's njit(nogil=True, cache=True, **options) makes it, compiled
    at its first call rather than at import (numba must be present then)."""
    @functools.cache
    def kernel():
        return numba().njit(nogil=True, cache=True, **options)(function)
    return lambda *args: kernel()(*args)


def compile_source(source, function, **options):
    """njit(**options) of `function` defined in the generated Python `source` (kernels unrolled for their
    constants). The source goes to a file in the tuning cache's folder, so that numba can cache its machine code
    there (each kernel is compiled once per machine); where that folder is not writable, it compiles in memory,
    every process."""
    folder = os.path.join(os.path.dirname(blas_env.cache_file()), "kernels")
    name = f"{function}_{hashlib.sha1(source.encode()).hexdigest()[:16]}"
    path = os.path.join(folder, f"{name}.py")
    try:
        if not os.path.exists(path):
            os.makedirs(folder, exist_ok=True)
            partial = f"{path}.{os.getpid()}.tmp"
            with open(partial, "w") as f:
                f.write(source)
            os.replace(partial, path)
        spec = importlib.util.spec_from_file_location(f"darknet_py.cpu.kernels.{name}", path)
        module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # numba's cache imports it
        spec.loader.exec_module(module)
        return numba().njit(cache=True, **options)(getattr(module, function))
    except OSError:  # a read-only home
        namespace = {}
        exec(compile(source, f"<{function}>", "exec"), namespace)
        return numba().njit(cache=False, **options)(namespace[function])
