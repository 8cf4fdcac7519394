"""Choose OpenBLAS's kernels before numpy loads it (no numpy import here, on purpose).

OPENBLAS_CORETYPE picks OpenBLAS's kernel family; OpenBLAS reads it once, when the library is loaded, so
this must run before the first `import numpy` of the process - darknet_py's package __init__ calls it
first thing. The choice is the one the tuner measured on this CPU (cpu/tune.py, kept in the tuning cache),
else SkylakeX on AVX-512 CPUs (numpy's bundled OpenBLAS picks its Haswell (AVX2) kernels on some
AVX-512 Xeons; the AVX-512 ones made yolov2-416's GEMMs ~1.4x faster there), else OpenBLAS's own.
A value the user has set is left alone.
"""
import json
import os
import sys

CORETYPE_VAR = "OPENBLAS_CORETYPE"
AVX512_CORE = "SkylakeX"  # OpenBLAS's AVX-512 kernel family
AVX2_CORE = "Haswell"     # its AVX2 family
TUNE_VAR = "DARKNET_PY_TUNE"    # "0": no measuring and no tuning cache, the shape rules only
CACHE_VAR = "DARKNET_PY_CACHE"  # the tuning cache's folder (default ~/.cache/darknet-py)


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """(model name, set of flags) from the kernel's CPU description (empty where /proc is absent)."""
    try:
        with open(cpuinfo) as f:
            lines = f.read().splitlines()
    except OSError:
        return "", set()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    return model, set(flags)


def cpu_has_avx512(cpuinfo="/proc/cpuinfo"):
    """True when the kernel reports the avx512f flag (Linux; False where /proc is absent)."""
    return "avx512f" in cpu_flags(cpuinfo)[1]


def cpu_key(cpuinfo="/proc/cpuinfo"):
    """What the tuning cache files its measurements under: the CPU model and its vector extensions."""
    model, flags = cpu_flags(cpuinfo)
    isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "sse"
    return f"{model or 'unknown'} ({isa}, {os.cpu_count()} cores)"


def tuning_enabled(environ=os.environ):
    return environ.get(TUNE_VAR, "1") != "0"


def cache_file(environ=os.environ):
    folder = environ.get(CACHE_VAR) or os.path.join(os.path.expanduser("~"), ".cache", "darknet-py")
    return os.path.join(folder, "cpu-tuning.json")


def read_cache(path):
    """The tuning cache as a dict ({} when absent or unreadable: it is rebuilt by measuring)."""
    try:
        with open(path) as f:
            cache = json.load(f)
        return cache if isinstance(cache, dict) else {}
    except (OSError, ValueError):
        return {}


def select_openblas_core(environ=os.environ):
    """Set OPENBLAS_CORETYPE if numpy is not loaded yet and nobody set it: the measured core of this CPU,
    else SkylakeX on AVX-512 CPUs. Returns the coretype in force, or None for OpenBLAS's own choice."""
    global chosen_here
    if CORETYPE_VAR not in environ and "numpy" not in sys.modules:
        measured = read_cache(cache_file(environ)).get(cpu_key(), {}).get("openblas_core") \
            if tuning_enabled(environ) else None
        if measured or cpu_has_avx512():
            environ[CORETYPE_VAR] = measured or AVX512_CORE
            chosen_here = True
    return environ.get(CORETYPE_VAR)


chosen_here = False  # True when select_openblas_core set OPENBLAS_CORETYPE (not the user)
