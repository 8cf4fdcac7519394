"""Every CUDA kernel file compiles for Hopper with nvcc, from the source and options CuPy will get, and the
Python side names only kernels that exist, with the activation codes the kernels use. No GPU needed."""
import ctypes
import ctypes.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import kernel_host
from darknet_py.layers import activations
from darknet_py.gpu import plan
from darknet_py.gpu.device import KERNEL_DIR, KERNEL_OPTIONS, kernel_source

KERNEL_FILES = sorted(p.name for p in KERNEL_DIR.glob("*.cu"))
ARCH = "sm_90"  # Hopper (H100/H200), the GPUs the project is measured on


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA toolkit) is not installed")
@pytest.mark.parametrize("name", KERNEL_FILES)
def test_kernel_file_compiles(name, tmp_path):
    source = tmp_path / name
    source.write_text(kernel_source(name))
    ptx = tmp_path / (name + ".ptx")
    cmd = ["nvcc", "-ptx", f"-arch={ARCH}", *KERNEL_OPTIONS, "-Werror", "all-warnings", str(source), "-o", str(ptx)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    entries = set(re.findall(r"\.visible \.entry (\w+)\(", ptx.read_text()))
    assert entries == {kernel for kernel, _ in kernel_host.kernels(source.read_text())}


def nvrtc_library():
    """libnvrtc (what CuPy compiles with), from the system or the nvidia-cuda-nvrtc wheel; None if absent."""
    path = ctypes.util.find_library("nvrtc")
    if path is None:
        try:
            import nvidia.cuda_nvrtc
        except ImportError:
            return None
        found = sorted(Path(next(iter(nvidia.cuda_nvrtc.__path__)), "lib").glob("libnvrtc.so*"))
        path = str(found[0]) if found else None
    return ctypes.CDLL(path) if path else None


@pytest.mark.parametrize("name", KERNEL_FILES)
def test_kernel_file_compiles_with_nvrtc(name):
    """The runtime compiler CuPy uses accepts the source and options (it ships fewer headers than nvcc)."""
    lib = nvrtc_library()
    if lib is None:
        pytest.skip("libnvrtc is not installed")
    program = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(program), kernel_source(name).encode(), name.encode(), 0, None,
                                  None) == 0
    options = [o.encode() for o in KERNEL_OPTIONS] + [f"--gpu-architecture=compute_{ARCH[3:]}".encode()]
    status = lib.nvrtcCompileProgram(program, len(options), (ctypes.c_char_p * len(options))(*options))
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(program, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(program, log)
    lib.nvrtcDestroyProgram(ctypes.byref(program))
    assert status == 0, log.value.decode()


def test_every_file_has_a_header_comment():
    for name in KERNEL_FILES + [p.name for p in KERNEL_DIR.glob("*.cuh")]:
        assert (KERNEL_DIR / name).read_text().startswith("// "), name


def test_launched_kernels_exist():
    """Each (file, kernel) that the GPU plans (gpu/*.py) launch is defined in that file."""
    sources = "".join(path.read_text() for path in Path(plan.__file__).parent.glob("*.py"))
    launched = set(re.findall(r'"(\w+\.cu)", "(\w+)"', sources))
    assert launched
    for file, kernel in launched:
        assert kernel in dict(kernel_host.kernels(kernel_source(file))), (file, kernel)


def test_activation_codes_match_the_kernels():
    defined = re.findall(r"#define ACT_(\w+) (\d+)", (KERNEL_DIR / "activations.cuh").read_text())
    assert [name.lower() for name, _ in defined] == list(plan.ACTIVATION_CODES)
    assert [int(code) for _, code in defined] == list(range(len(defined)))
    assert set(plan.ACTIVATION_CODES) == set(activations.FORWARD)
