"""The compiled Winograd transforms (darknet_py/cpu/winograd_kernels.py) against the GEMMs by the Kronecker
products they replace (conv.Winograd without numba): F(2x2) and F(4x4), batches of 2, maps that are not a
multiple of the tile (the output cut at its edge). Whole layers against the reference: tests/cpu/test_cpu_fast.py."""
import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

from darknet_py.cpu import jit, winograd
from darknet_py.cpu.winograd_kernels import kernels

pytestmark = pytest.mark.skipif(not jit.available(), reason="numba is not installed (pip install .[fast])")


@pytest.mark.parametrize("m", winograd.TILE_SIZES)
@pytest.mark.parametrize("b,c,h,w,k", [(1, 3, 9, 11, 5), (2, 16, 26, 26, 32), (1, 7, 13, 10, 6), (2, 4, 1, 1, 3)])
def test_transforms_equal_the_kronecker_gemms(m, b, c, h, w, k):
    rng = np.random.default_rng(m * 100 + c)
    a, th, tw = m + 2, -(-h // m), -(-w // m)
    n = b * th * tw
    padded = np.zeros((b, c, th * m + 2, tw * m + 2), np.float32)
    padded[:, :, 1:h + 1, 1:w + 1] = rng.standard_normal((b, c, h, w), dtype=np.float32)
    sb, sc, sy, sx = padded.strides
    tiles = np.ascontiguousarray(as_strided(padded, (a, a, c, b, th, tw), (sy, sx, sc, sb, m * sy, m * sx)))
    want_v = (winograd.input_transform(m) @ tiles.reshape(a * a, c * n)).reshape(a * a, c, n)
    transform_in, transform_out = kernels(m)
    v = np.full((a * a, c, n), np.nan, np.float32)
    transform_in(padded, v, th, tw, 0, c)
    np.testing.assert_allclose(v, want_v, rtol=0, atol=2e-6 * np.abs(want_v).max())

    wm = rng.standard_normal((a * a, k, n), dtype=np.float32)
    y = (winograd.output_transform(m) @ wm.reshape(a * a, k * n)).reshape(m, m, k, b, th, tw)
    want = y.transpose(3, 2, 4, 0, 5, 1).reshape(b, k, th * m, tw * m)[:, :, :h, :w]
    out = np.full((b, k, h, w), np.nan, np.float32)
    transform_out(wm, out, th, tw, 0, k)
    np.testing.assert_allclose(out, want, rtol=0, atol=2e-6 * np.abs(want).max())
    part = np.full_like(out, np.nan)  # a filter slice writes those filters only
    transform_out(wm, part, th, tw, 1, k)
    assert np.isnan(part[:, 0]).all() and np.array_equal(part[:, 1:], out[:, 1:])
