"""The compiled Winograd transforms (darknet_py/cpu/winograd_kernels.py) against the GEMMs by the Kronecker
products they replace (conv.Winograd without numba): F(2x2) and F(4x4), batches of 2, maps that are not a
multiple of the tile (the output cut at its edge). Whole layers against the reference: tests/cpu/test_cpu_fast.py."""
import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

from darknet_py.cpu import jit, winograd
from darknet_py.cpu.conv import pool_into
from darknet_py.cpu.winograd_kernels import kernels

NO_POOL = np.empty((0, 0, 0, 0), np.float32)
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
    transform_in(padded[:, :, 1:h + 1, 1:w + 1].copy(), v, th, tw, 0, 0, c)
    np.testing.assert_allclose(v, want_v, rtol=0, atol=2e-6 * np.abs(want_v).max())

    wm = rng.standard_normal((a * a, k, n), dtype=np.float32)
    y = (winograd.output_transform(m) @ wm.reshape(a * a, k * n)).reshape(m, m, k, b, th, tw)
    want = y.transpose(3, 2, 4, 0, 5, 1).reshape(b, k, th * m, tw * m)[:, :, :h, :w]
    out = np.full((b, k, h, w), np.nan, np.float32)
    linear = np.float32(1)
    transform_out(wm, out, NO_POOL, tw, 0, 0, k, np.zeros(k, np.float32), linear)
    np.testing.assert_allclose(out, want, rtol=0, atol=2e-6 * np.abs(want).max())
    part = np.full_like(out, np.nan)  # a filter slice writes those filters only
    transform_out(wm, part, NO_POOL, tw, 0, 1, k, np.zeros(k, np.float32), linear)
    assert np.isnan(part[:, 0]).all() and np.array_equal(part[:, 1:], out[:, 1:])

    # The bias and leaky inside: conv.finish's float32 operations on the linear output, bit for bit.
    bias, slope = rng.standard_normal(k, dtype=np.float32), np.float32(.1)
    activated = np.full_like(out, np.nan)
    transform_out(wm, activated, NO_POOL, tw, 0, 0, k, bias, slope)
    s = out + bias[:, None, None]
    assert np.array_equal(activated, np.maximum(s, s * slope))


@pytest.mark.parametrize("m", winograd.TILE_SIZES)
def test_output_rows_from_an_offset(m):
    """A block of tile rows (conv.WinogradRows) writes its own output rows, y0 on, cut at the map's edge."""
    rng = np.random.default_rng(m)
    a, k, h, w = m + 2, 3, 3 * m - 1, 2 * m + 1
    tw = -(-w // m)
    wm = rng.standard_normal((a * a, k, 3 * tw), dtype=np.float32)
    transform_out = kernels(m)[1]
    zeros, linear = np.zeros(k, np.float32), np.float32(1)
    whole = np.full((1, k, h, w), np.nan, np.float32)
    transform_out(wm, whole, NO_POOL, tw, 0, 0, k, zeros, linear)
    blocks = np.full_like(whole, np.nan)
    for t in range(3):  # one tile row at a time, its tiles alone in M
        transform_out(np.ascontiguousarray(wm[:, :, t * tw:(t + 1) * tw]), blocks, NO_POOL, tw, t * m, 0, k, zeros,
                      linear)
    assert np.array_equal(blocks, whole) and not np.isnan(whole).any()


@pytest.mark.parametrize("m", winograd.TILE_SIZES)
def test_pool_inside_the_output_transform(m):
    """The 2x2/2 max-pool of the rows just written equals conv.pool_into's on the whole output: two images, a
    map cut inside its last tiles, pooled rows and columns that stop short of the map's last ones."""
    rng = np.random.default_rng(10 + m)
    a, b, k, h, w = m + 2, 2, 3, 2 * m + 3, 2 * m + 1
    th, tw = -(-h // m), -(-w // m)
    wm = rng.standard_normal((a * a, k, b * th * tw), dtype=np.float32)
    out = np.full((b, k, h, w), np.nan, np.float32)
    pooled = np.full((b, k, h // 2, w // 2), np.nan, np.float32)
    kernels(m)[1](wm, out, pooled, tw, 0, 0, k, rng.standard_normal(k, dtype=np.float32), np.float32(.1))
    want = np.empty_like(pooled)
    pool_into(want, out, 2)
    assert np.array_equal(pooled, want) and not np.isnan(out).any()
