"""Run the GPU plan's CUDA kernels on the CPU: each kernels/*.cu compiled as C++ (with
cuda_host/cuda_host.h) into a shared library, one generated launcher per kernel that calls it for
every thread of the grid the GPU would launch. With `HostRunner` in place of plan.CupyRunner a whole
plan.Plan runs on numpy arrays - the kernels, their arguments and the plan's layout, checked without a GPU.

The C++ build uses -ffp-contract=off, as the kernels are compiled with --fmad=false; math functions
are the C library's (CUDA's exp/expf may differ from them by an ulp).
"""
import ctypes
import functools
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from darknet_py.gpu import plan
from darknet_py.gpu.device import kernel_source

PRELUDE = Path(__file__).parent / "cuda_host" / "cuda_host.h"
CACHE = Path(__file__).parents[1] / ".cache" / "kernel_host"
_SIGNATURE = re.compile(r'extern "C" __global__ void (\w+)\(([^)]*)\)', re.S)
_CTYPES = {"int": ctypes.c_int, "float": ctypes.c_float}
_POINTEES = {"float": np.float32, "int": np.int32, "unsigned char": np.uint8}


def available():
    return shutil.which("g++") is not None


def kernels(source):
    """[(name, [(type, arg name)])] of the extern "C" kernels in a CUDA source."""
    found = []
    for name, params in _SIGNATURE.findall(source):
        args = [p.strip().rsplit(None, 1) for p in params.split(",")]
        found.append((name, [(t.replace(" *", "*").strip(), a.lstrip("*")) for t, a in args]))
    return found


def _launchers(source):
    out = []
    for name, args in kernels(source):
        params = ", ".join(f"{t} {a}" for t, a in args)
        names = ", ".join(a for _, a in args)
        out.append(f"""extern "C" void launch_{name}(long long blocks, {params})
{{
    blockDim.x = {plan.THREADS}; gridDim.x = (unsigned int)blocks;
    for (long long b = 0; b < blocks; ++b)
        for (unsigned int t = 0; t < {plan.THREADS}; ++t) {{
            blockIdx.x = (unsigned int)b;
            threadIdx.x = t;
            {name}({names});
        }}
}}""")
    return "\n".join(out)


@functools.cache
def library(file):
    """Compile kernels/<file> for the host (cached by content) and return (ctypes library, kernels)."""
    source = kernel_source(file)
    text = f'#include "{PRELUDE}"\n{source}\n{_launchers(source)}\n'
    CACHE.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    lib = CACHE / f"{Path(file).stem}-{digest}.so"
    if not lib.exists():
        src = lib.with_suffix(".cpp")
        src.write_text(text)
        tmp = lib.with_name(f"{lib.name}.{os.getpid()}")
        cmd = ["g++", "-O2", "-ffp-contract=off", "-fPIC", "-shared", "-o", str(tmp), str(src)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode:
            raise RuntimeError(f"g++ failed on {file}:\n{res.stderr[-3000:]}")
        os.replace(tmp, lib)
    handle = ctypes.CDLL(str(lib))
    signatures = dict(kernels(source))
    for name, args in signatures.items():
        fn = getattr(handle, f"launch_{name}")
        fn.argtypes = [ctypes.c_longlong] + [_CTYPES.get(t, ctypes.c_void_p) for t, _ in args]
        fn.restype = None
    return handle, signatures


class HostRunner:
    """plan.Plan's runner on the CPU: numpy buffers, kernels from `library`, numpy matmul."""
    xp = np

    def launch(self, file, name, count, *args):
        handle, signatures = library(file)
        types = [t for t, _ in signatures[name]]
        assert len(args) == len(types), f"{name}: {len(args)} arguments for {len(types)} parameters"
        values = []
        for t, a in zip(types, args):
            if t.endswith("*"):
                assert isinstance(a, np.ndarray) and a.flags.c_contiguous, f"{name}: {t} needs a contiguous array"
                expected = _POINTEES[t.replace("const ", "")[:-1]]
                assert a.dtype == expected, f"{name}: {t} given {a.dtype}"
                values.append(a.ctypes.data)
            elif t == "int":  # CuPy would pass a float's bits to an int parameter: refuse it here
                assert isinstance(a, (bool, int, np.integer)), f"{name}: int parameter given {a!r}"
                values.append(int(a))
            else:
                assert isinstance(a, (float, np.floating)), f"{name}: float parameter given {a!r}"
                values.append(float(a))
        blocks = (count + plan.THREADS - 1) // plan.THREADS
        getattr(handle, f"launch_{name}")(blocks, *values)

    def matmul(self, a, b, out):
        np.matmul(a, b, out=out)
