"""Choose OpenBLAS's AVX-512 kernels before numpy loads it (no numpy import here, on purpose).

numpy's bundled OpenBLAS picks its Haswell (AVX2) kernels on AVX-512 Xeons; OPENBLAS_CORETYPE=SkylakeX
selects the AVX-512 ones (yolov2-416: ~1.4x faster GEMMs). OpenBLAS reads the variable once, when the
library is loaded, so this must run before the first `import numpy` of the process - darknet_py's
package __init__ calls it first thing. A value the user has set is left alone.
"""
import os
import sys

CORETYPE_VAR = "OPENBLAS_CORETYPE"
AVX512_CORE = "SkylakeX"  # OpenBLAS's AVX-512 kernel family


def cpu_has_avx512(cpuinfo="/proc/cpuinfo"):
    """True when the kernel reports the avx512f flag (Linux; False where /proc is absent)."""
    try:
        with open(cpuinfo) as f:
            return any(line.startswith("flags") and " avx512f" in line for line in f)
    except OSError:
        return False


def select_openblas_core(environ=os.environ):
    """Set OPENBLAS_CORETYPE=SkylakeX on AVX-512 CPUs if numpy is not loaded yet and nobody set it.

    Returns the coretype in force for this process's OpenBLAS, or None for OpenBLAS's own choice.
    """
    if CORETYPE_VAR not in environ and "numpy" not in sys.modules and cpu_has_avx512():
        environ[CORETYPE_VAR] = AVX512_CORE
    return environ.get(CORETYPE_VAR)
