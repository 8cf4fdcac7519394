"""The letterbox of an 8-bit BGR frame in one compiled pass (numba, optional - see jit.py): what
image.letterbox_image(image.bgr_to_image(bgr), w, h) computes, bit for bit, without the float copy of the
whole frame and the numpy passes between (4-6 ms a 640x480 frame with numpy, a fraction of it here; for
detector test, valid and demo, where it ran beside every forward). The CPU twin of gpu/kernels/letterbox.cu.

resize_image's two passes are kept as Darknet orders them, in float32: the horizontal pass
(1 - dx) * p[ix] + dx * p[ix + 1] into a (rows, new_w) buffer, then the vertical one (1 - dy) * q[iy] +
dy * q[iy + 1]. Its special cases - the last column copied, the last row with no second term, 1-pixel
sides - become taps with weights (1, 0): 1 * p + 0 * q is exactly p for the finite p of an image.
"""
import numpy as np

from ..image import BYTE_TO_FLOAT, bgr_to_image, letterbox_image, letterbox_size
from . import jit

FILL = np.float32(.5)  # letterbox_image: the canvas colour


def taps(n_in, n_out, last_pair):
    """resize_image's taps along one side, n_in -> n_out: (first, second) int32 indices and their float32
    weights (1 - d, d), with the scale (n_in - 1) / (n_out - 1) in float32 as the C computes it.
    last_pair=False is the horizontal pass (the last output copies the last input), True the vertical one
    (the last output keeps its (1 - d) * first)."""
    scale = np.float32(n_in - 1) / np.float32(n_out - 1) if n_out > 1 else np.float32(0)
    s = np.arange(n_out, dtype=np.float32) * scale
    first = s.astype(np.int32)
    d = s - first.astype(np.float32)
    second = np.minimum(first + 1, n_in - 1).astype(np.int32)
    w_first, w_second = np.float32(1) - d, d
    if not last_pair:
        first[-1], w_first[-1] = n_in - 1, 1
    w_second[-1] = 0
    if n_in == 1:  # one pixel: a copy (the C skips the second term)
        first[:], second[:], w_first[:], w_second[:] = 0, 0, 1, 0
    return np.stack([first, second]), np.stack([w_first, w_second])


def _letterbox(bgr, table, cols, col_weights, rows, row_weights, out, x0, y0):
    """out[:, y0:y0 + new_h, x0:x0 + new_w] = the resized RGB of bgr (the kernel: a plain function numba
    compiles; numba keeps float32 * float32 in float32 and, without fastmath, contracts nothing)."""
    new_w, new_h = cols.shape[1], rows.shape[1]
    part = np.empty((bgr.shape[0], 3, new_w), np.float32)
    for r in range(bgr.shape[0]):
        line = bgr[r]
        for x in range(new_w):
            a, b = cols[0, x], cols[1, x]
            wa, wb = col_weights[0, x], col_weights[1, x]
            for c in range(3):
                part[r, c, x] = wa * table[line[a, 2 - c]] + wb * table[line[b, 2 - c]]
    for y in range(new_h):
        upper, lower = part[rows[0, y]], part[rows[1, y]]
        wu, wl = row_weights[0, y], row_weights[1, y]
        for c in range(3):
            dst = out[c, y0 + y]
            for x in range(new_w):
                dst[x0 + x] = wu * upper[c, x] + wl * lower[c, x]


_kernel = jit.compiled_at_first_call(_letterbox)


def letterbox_bgr(bgr, w, h):
    """(H, W, 3) uint8 BGR -> the (3, h, w) float32 letterbox of its RGB in [0, 1]: compiled where numba is
    present, else the numpy functions it equals."""
    if not jit.available():
        return letterbox_image(bgr_to_image(bgr), w, h)
    bgr = np.ascontiguousarray(bgr, np.uint8)
    im_h, im_w = bgr.shape[:2]
    new_w, new_h = letterbox_size(im_w, im_h, w, h)
    out = np.full((3, h, w), FILL, np.float32)
    if new_w > 0 and new_h > 0:  # a 4000x3 image letterboxed to 416 has no rows to place, as in Darknet
        cols, col_weights = taps(im_w, new_w, last_pair=False)
        rows, row_weights = taps(im_h, new_h, last_pair=True)
        _kernel(bgr, BYTE_TO_FLOAT, cols, col_weights, rows, row_weights, out, (w - new_w) // 2, (h - new_h) // 2)
    return out
