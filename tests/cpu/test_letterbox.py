"""The compiled letterbox (darknet_py/cpu/letterbox.py) against the numpy functions it stands for, bit for bit:
downscales and upscales, 1-pixel sides, a side that gets no rows, odd sizes; the commands' inputs (prepare,
validation's loader) made with it; and the numpy fallback where numba is absent."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from darknet_py.cpu import jit
from darknet_py.cpu.letterbox import letterbox_bgr, taps
from darknet_py.data.detection import load_letterboxed
from darknet_py.detector import prepare
from darknet_py.image import bgr_to_image, letterbox_image
from darknet_py.network import Network

needs_numba = pytest.mark.skipif(not jit.available(), reason="numba is not installed (pip install .[fast])")

# (image w, h, network w, h)
SIZES = [(640, 480, 416, 416), (480, 640, 416, 416), (640, 480, 608, 288), (416, 416, 416, 416), (13, 17, 13, 17),
         (100, 30, 416, 416), (7, 600, 64, 64), (2, 2, 416, 416), (1, 1, 416, 416), (1, 50, 32, 32), (50, 1, 32, 32),
         (30, 2, 5, 5), (31, 29, 1, 1), (3000, 2, 416, 416)]


def random_bgr(w, h, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@needs_numba
@pytest.mark.parametrize("iw,ih,w,h", SIZES)
def test_compiled_letterbox_equals_numpy(iw, ih, w, h):
    bgr = random_bgr(iw, ih)
    assert np.array_equal(letterbox_bgr(bgr, w, h), letterbox_image(bgr_to_image(bgr), w, h))


@needs_numba
def test_random_sizes_and_a_strided_frame():
    rng = np.random.default_rng(5)
    for seed in range(20):
        iw, ih, w, h = (int(v) for v in rng.integers(1, 300, 4))
        bgr = random_bgr(iw, ih, seed)
        assert np.array_equal(letterbox_bgr(bgr, w, h), letterbox_image(bgr_to_image(bgr), w, h)), (iw, ih, w, h)
    frame = random_bgr(90, 70)[::2, 1::3]  # a view, not contiguous
    assert np.array_equal(letterbox_bgr(frame, 64, 48), letterbox_image(bgr_to_image(frame), 64, 48))


def test_taps_follow_resize_image():
    """The last column copies its pixel, the last row keeps only (1 - dy) * row, a 1-pixel side is a copy."""
    (first, second), (w1, w2) = taps(640, 416, last_pair=False)
    assert (first[-1], w1[-1], w2[-1]) == (639, 1, 0) and second.max() <= 639
    (first, second), (w1, w2) = taps(480, 312, last_pair=True)
    assert w2[-1] == 0 and w1[-1] == np.float32(1) - (np.float32(311) * (np.float32(479) / np.float32(311)) - first[-1])
    (first, second), (w1, w2) = taps(1, 9, last_pair=True)
    assert not first.any() and not second.any() and (w1 == 1).all() and not w2.any()


def test_detector_and_validation_inputs(tmp_path):
    """prepare() of a frame and of its file, and validation's loader, give the numpy letterbox."""
    import cv2
    net = Network.from_cfg(ROOT / "cfg" / "yolov2-tiny.cfg")
    bgr = random_bgr(320, 200)
    want = letterbox_image(bgr_to_image(bgr), net.w, net.h)
    cv2.imwrite(str(tmp_path / "frame.png"), bgr)
    for made in (prepare(net, bgr), prepare(net, tmp_path / "frame.png")):
        assert np.array_equal(made.data, want) and (made.w, made.h) == (320, 200)
    boxed, w, h = load_letterboxed(tmp_path / "frame.png", net.w, net.h)
    assert np.array_equal(boxed, want) and (w, h) == (320, 200)


WITHOUT_NUMBA = """
import sys
sys.modules["numba"] = None  # import numba raises ImportError, as where it is not installed
import numpy as np
from darknet_py.cpu import jit
from darknet_py.cpu.letterbox import letterbox_bgr
from darknet_py.image import bgr_to_image, letterbox_image
bgr = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
print(jit.available(), np.array_equal(letterbox_bgr(bgr, 32, 32), letterbox_image(bgr_to_image(bgr), 32, 32)))
"""


def test_without_numba_it_is_the_numpy_letterbox():
    out = subprocess.run([sys.executable, "-c", WITHOUT_NUMBA], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.split() == ["False", "True"]
