"""Fast inference of one [convolutional] layer, and of the [maxpool] right after it when it can be fused.

Three methods picked per layer by `make_conv` from its shape (the thresholds below were tuned on
yolov2 and yolov2-tiny with bench/bench_cpu.py), and three more the tuner (tune.py) may measure faster:
  Pointwise     1x1 stride 1: out = W @ x, one GEMM over all pixels.
  Winograd      3x3 stride 1 pad 1 on maps below DIRECT_MIN_PIXELS: F(4x4,3x3) where both sides are at least
                F4_MIN_SIDE, else F(2x2,3x3).
  Direct        anything else (the big first layers, strided or odd kernels): im2col + GEMM a few output
                rows at a time, with bias, activation and the fused maxpool done on those rows in cache.
  Direct3x3     3x3 stride 1 with no im2col, a compiled kernel (compiled.py, with numba only).
  WinogradRows  F(4x4,3x3) by blocks of tile rows, each from input rows to pooled output rows in the core's cache
                (numba only).
  DirectByFilters  im2col of the whole map, then a GEMM per thread on its filters over every pixel (small maps).
The last three are offered to the tuner beside the others, never a shape rule's choice.
Batch-norm is folded into the weights and bias (the inference formula of batchnorm.py is affine per
channel); each method splits its work over `threads.run_parts` with OpenBLAS at one thread.

Every layer's `.output` is what the reference computes: the convolution's activated output is always
written whole, and a fused maxpool fills the pooling layer's `.output`.
"""
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..layers.activations import activate
from ..layers.batchnorm import BN_EPSILON
from . import compiled, epilogue, jit, winograd, winograd_kernels
from .threads import run_parts

LEAKY_SLOPE = np.float32(.1)   # activations.h leaky_activate: x > 0 ? x : .1*x
DIRECT_MIN_PIXELS = 160 * 160  # output maps at least this large go direct, row chunk by row chunk
F4_MIN_SIDE = 24               # F(4x4,3x3) from this side up (fewer, larger tiles pay off); F(2x2) below
WINOGRAD_MIN_CHANNELS = 8      # with fewer input channels the tile transforms cost more than they save
# Direct: output rows per chunk up to about this size, and im2col chunks at most this size. Large
# chunks win: each chunk costs a dozen numpy calls, and small ones (128 KiB, the L2-resident choice)
# spent more time in Python and waiting for the GIL than they saved (yolov2-tiny's first layer ran
# slower on 2 threads than on 1).
CHUNK_OUT_BYTES = 1 << 20
CHUNK_COLS_BYTES = 1 << 22
K_ALIGN = 16                   # split output channels on multiples of this (whole GEMM register blocks)
# Direct3x3 is offered up to this many input channels: past it, the GEMM methods' K = 9 x channels is deep
# enough for their kernels (on yolov2 it took 1.9x the fastest method's time at 64 channels, 3-6x at 128-1280).
COMPILED_MAX_CHANNELS = 32
# WinogradRows: the Winograd-domain output M of a block of tile rows within this (a core's L2 on the CPUs measured:
# yolov2's 104x104 layer, one thread, 7.3 / 6.3 / 6.4 ms at a half, one and two MiB, 10.7 in two phases).
BLOCK_BYTES = 1 << 20
# DirectByFilters is offered on maps up to this many pixels (yolov2's 19x19 at 608 and below), where its columns of
# the whole map stay small (yolov2's 1280-channel 13x13 layer: 7.8 MB a batch image).
FILTER_SPLIT_MAX_PIXELS = 32 * 32


def fold_batchnorm(layer):
    """(weights (K, ...), bias (K,)) float32 with batch-norm's affine inference map folded in (a conv's
    (K, C, k, k) or a connected layer's (K, inputs) weights).

    batchnorm.bn_inference: y = (x - mean) / (sqrt(var) + eps) * scale + bias, so with
    s = scale / (sqrt(var) + eps): y = s*x + (bias - s*mean), and s*x = conv(s*W).
    """
    if not layer.batch_normalize:
        return layer.weights.copy(), layer.biases.copy()
    s = layer.scales / (np.sqrt(layer.rolling_variance.astype(np.float64)) + BN_EPSILON)
    bias = (layer.biases - layer.rolling_mean * s).astype(np.float32)
    per_output = s.astype(np.float32).reshape((-1,) + (1,) * (layer.weights.ndim - 1))
    return layer.weights * per_output, bias


def split(n, parts, align=1):
    """[(start, stop)] cutting range(n) into at most `parts` near-equal pieces on multiples of align."""
    step = -(-n // parts)
    step = -(-step // align) * align
    return [(i, min(n, i + step)) for i in range(0, n, step)]


def finish(view, bias, activation):
    """Add the bias (None: already in) and apply the activation in place on view (B, k, h, w)."""
    if bias is not None and activation in ("leaky", "linear") and jit.available() and view[0, 0].flags.c_contiguous:
        epilogue.bias_activate(view, bias, LEAKY_SLOPE if activation == "leaky" else 1)
        return
    if bias is not None:
        view += bias[:, None, None]
    if activation == "leaky":
        np.maximum(view, view * LEAKY_SLOPE, out=view)
    elif activation != "linear":
        view[...] = activate(activation, view)


def fusable_pool(pool, conv_out_shape):
    """True when a [maxpool] after the conv can be computed from the conv's channel or row slices:
    non-overlapping windows (size == stride) that all lie inside the map (no -FLT_MAX padding taps)."""
    if pool is None or pool.type != "maxpool" or pool.size != pool.stride or pool.padding // 2:
        return False
    _, h, w = conv_out_shape
    _, ph, pw = pool.out_shape
    return ph * pool.stride <= h and pw * pool.stride <= w


def pool_into(dst, src, k):
    """dst (B, c, ph, pw) = max over the k x k windows of src (B, c, >= ph*k, >= pw*k).

    Rows first, over whole contiguous rows (vectorised), then the k columns of each window on the
    k-times smaller result: twice as fast as taking the k*k strided taps one by one.
    """
    ph, pw = dst.shape[-2:]
    rows = src[..., 0:ph * k:k, :pw * k].copy()
    for ky in range(1, k):
        np.maximum(rows, src[..., ky:ky + ph * k:k, :pw * k], out=rows)
    np.copyto(dst, rows[..., 0::k])
    for kx in range(1, k):
        np.maximum(dst, rows[..., kx::k], out=dst)


class Scratch:
    """Work buffers shared by all layers (they run one after another), grown on demand."""

    def __init__(self):
        self.buffers = {}

    def get(self, role, shape):
        size = math.prod(shape)
        buf = self.buffers.get(role)
        if buf is None or buf.size < size:
            buf = self.buffers[role] = np.empty(size, np.float32)
        return buf[:size].reshape(shape)


class FastConv:
    """Shared part of the methods: folded parameters, output allocation, the fused pool."""

    def __init__(self, layer, pool):
        self.layer = layer
        self.pool = pool if fusable_pool(pool, layer.out_shape) else None
        self.weights, self.bias = fold_batchnorm(layer)

    def __call__(self, x, scratch, threads):
        k, oh, ow = self.layer.out_shape
        out = np.empty((x.shape[0], k, oh, ow), np.float32)
        pooled = None
        if self.pool is not None:
            pooled = np.empty((x.shape[0], *self.pool.out_shape), np.float32)
        self.run(x, out, pooled, scratch, threads)
        self.layer.output = out
        if self.pool is not None:
            self.pool.output = pooled
            return pooled
        return out

    def finish_channels(self, out, pooled, k0, k1):
        """Bias, activation and pool for output channels k0:k1 of the whole batch."""
        finish(out[:, k0:k1], self.bias[k0:k1], self.layer.activation)
        if pooled is not None:
            pool_into(pooled[:, k0:k1], out[:, k0:k1], self.pool.size)


class Pointwise(FastConv):
    """1x1 stride 1 (Darknet skips im2col there too): one GEMM per output-channel slice."""

    def __init__(self, layer, pool):
        super().__init__(layer, pool)
        self.weights = self.weights.reshape(self.weights.shape[0], -1)

    def run(self, x, out, pooled, scratch, threads):
        b, c, h, w = x.shape
        k = out.shape[1]
        cols, flat = x.reshape(b, c, h * w), out.reshape(b, k, h * w)
        ranges = split(k, threads, K_ALIGN)

        def part(i):
            k0, k1 = ranges[i]
            np.matmul(self.weights[k0:k1], cols, out=flat[:, k0:k1])
            self.finish_channels(out, pooled, k0, k1)
        run_parts(part, len(ranges))


def fill_rows(rows, image, top, pad):
    """rows (..., n, W) = rows top .. top+n-1 of image (..., h, w) from column pad on, zero elsewhere (above,
    below and beside the map): a whole padded map with top = -pad and n >= h + pad."""
    h, w = image.shape[-2:]
    lo, hi = max(top, 0), min(top + rows.shape[-2], h)
    rows[..., :lo - top, :] = 0
    rows[..., hi - top:, :] = 0
    middle = rows[..., lo - top:hi - top, :]
    middle[..., :pad] = 0
    middle[..., pad + w:] = 0
    middle[..., pad:pad + w] = image[..., lo:hi, :]


def padded_windows(layer, x, scratch, threads):
    """x zero-padded for the conv's windows, filled by channel slices on the threads. Rows/cols past the
    last window are never read; the buffer is as tall and wide as the windows need."""
    b, c, h, w = x.shape
    _, oh, ow = layer.out_shape
    size, s, pad = layer.size, layer.stride, layer.padding
    ph, pw = (oh - 1) * s + size, (ow - 1) * s + size
    padded = scratch.get("direct_pad", (b, c, max(ph, h + pad), max(pw, w + pad)))
    channel_parts = split(c, threads)

    def fill(i):
        c0, c1 = channel_parts[i]
        fill_rows(padded[:, c0:c1], x[:, c0:c1], -pad, pad)
    run_parts(fill, len(channel_parts))
    return padded


def im2col_windows(image, size, stride, rows, width):
    """The (c, size, size, rows, width) im2col view of a padded image (c, H, W): tap (ky, kx) of output pixel
    (y, x) is image[:, y * stride + ky, x * stride + kx]."""
    sc, sy, sx = image.strides
    return as_strided(image, (image.shape[0], size, size, rows, width), (sc, sy, sx, stride * sy, stride * sx),
                      writeable=False)


class Direct(FastConv):
    """im2col + GEMM by chunks of output rows; bias, activation and pool follow each chunk in cache.
    chunk_scale multiplies the chunk byte budgets (the tuner tries a few)."""

    def __init__(self, layer, pool, chunk_scale=1):
        super().__init__(layer, pool)
        self.chunk_scale = chunk_scale
        # The bias rides in the GEMM: an extra weight column times a row of ones under the im2col rows.
        self.weights = np.hstack([self.weights.reshape(self.weights.shape[0], -1), self.bias[:, None]])

    def chunk_rows(self, threads):
        """Output rows per chunk: within the byte budgets, and a multiple of `threads` chunks per image
        so that the threads get equal shares."""
        c, size = self.layer.in_shape[0], self.layer.size
        k, oh, ow = self.layer.out_shape
        out_bytes, cols_bytes = CHUNK_OUT_BYTES * self.chunk_scale, CHUNK_COLS_BYTES * self.chunk_scale
        rows = max(1, int(min(out_bytes // (4 * k * ow), cols_bytes // (4 * c * size * size * ow))))
        chunks = -(-oh // rows)
        rows = -(-oh // (-(-chunks // threads) * threads))
        step = self.pool.stride if self.pool is not None else 1
        return -(-rows // step) * step

    def run(self, x, out, pooled, scratch, threads):
        layer = self.layer
        b, c = x.shape[:2]
        k, oh, ow = out.shape[1:]
        size, s = layer.size, layer.stride
        padded = padded_windows(layer, x, scratch, threads)
        rows = self.chunk_rows(threads)
        tasks = [(bi, r0, min(oh, r0 + rows)) for bi in range(b) for r0 in range(0, oh, rows)]
        parts = min(threads, len(tasks))

        def part(i):
            cols = scratch.get(f"direct_cols{i}", (c * size * size + 1, rows * ow))
            for bi, r0, r1 in tasks[i::parts]:
                n = (r1 - r0) * ow
                chunk = cols[:, :n]
                np.copyto(chunk[:-1].reshape(c, size, size, r1 - r0, ow),
                          im2col_windows(padded[bi, :, r0 * s:], size, s, r1 - r0, ow))
                chunk[-1] = 1
                rows_out = out[bi, :, r0:r1]
                np.matmul(self.weights, chunk, out=rows_out.reshape(k, n))
                finish(rows_out[None], None, layer.activation)
                if pooled is not None:
                    p = self.pool.stride
                    p0, p1 = r0 // p, min(pooled.shape[2], r1 // p)
                    pool_into(pooled[bi:bi + 1, :, p0:p1], rows_out[None], p)
        run_parts(part, parts)


class DirectByFilters(Pointwise):
    """im2col + GEMM on small maps: the whole map's columns once (split by channel), then Pointwise on them (one
    GEMM per thread on its own filters over every pixel, then bias, activation and pool on those filters). Direct's
    slices of rows would make each GEMM a few rows of pixels wide (yolov2's 13x13 maps: 169 pixels, 91 a thread)."""

    def run(self, x, out, pooled, scratch, threads):
        b, c = x.shape[:2]
        oh, ow = out.shape[2:]
        size, s = self.layer.size, self.layer.stride
        padded = padded_windows(self.layer, x, scratch, threads)
        cols = scratch.get("direct_cols", (b, c, size, size, oh, ow))
        channel_parts = split(c, threads)

        def fill(i):
            c0, c1 = channel_parts[i]
            for bi in range(b):
                np.copyto(cols[bi, c0:c1], im2col_windows(padded[bi, c0:c1], size, s, oh, ow))
        run_parts(fill, len(channel_parts))
        super().run(cols.reshape(b, c * size * size, oh, ow), out, pooled, scratch, threads)


class CompiledEpilogue(FastConv):
    """Shared part of the methods whose compiled kernel ends the layer itself: the bias, leaky or linear, and a
    2x2/2 pool of the rows it wrote; other activations and pools follow it, on its output."""

    def __init__(self, layer, pool):
        super().__init__(layer, pool)
        self.activation_inside = layer.activation in ("leaky", "linear")
        self.slope = LEAKY_SLOPE if layer.activation == "leaky" else np.float32(1)  # linear: max(s, s) = s
        self.pool_inside = self.pool is not None and self.pool.size == 2 and self.activation_inside

    def kernel_pool(self, pooled, ndim):
        """What the kernel pools into: `pooled`, or an array of no filters (ndim dimensions) when it does not pool."""
        return pooled if self.pool_inside else np.empty((0,) * ndim, np.float32)

    def finish_after_kernel(self, view, pooled):
        """What the kernel left to do on the output view (B, k, rows, w) it wrote: the activation, the pool."""
        if not self.activation_inside:  # the kernel wrote the linear sums
            finish(view, None, self.layer.activation)
        if pooled is not None and not self.pool_inside:
            pool_into(pooled, view, self.pool.size)


class Direct3x3(CompiledEpilogue):
    """3x3 stride 1 straight from the padded input rows, no im2col (compiled.py, numba): the image's rows
    split over the threads, each padding the input rows under its own (a section fewer than padding the whole
    map first, and in its cache); bias, leaky or linear, and a 2x2/2 pool inside the kernel; other activations
    and pools after it, on the rows it wrote."""

    def __init__(self, layer, pool):
        super().__init__(layer, pool)
        self.kernel = compiled.conv3x3(compiled.block_size(self.weights.shape[0]))

    def run(self, x, out, pooled, scratch, threads):
        c, w, pad = x.shape[1], out.shape[3], self.layer.padding
        p = self.pool.stride if self.pool is not None else 1
        tasks = [(bi, r0, r1) for bi in range(x.shape[0]) for r0, r1 in split(out.shape[2], threads, p)]
        parts = min(threads, len(tasks))

        def part(i):
            for bi, r0, r1 in tasks[i::parts]:
                rows = scratch.get(f"direct3x3_rows{i}", (c, r1 - r0 + 2, w + 2))
                fill_rows(rows, x[bi], r0 - pad, pad)
                into = self.kernel_pool(None if pooled is None else pooled[bi], 3)
                self.kernel(rows, self.weights, self.bias, out[bi], into, r0, r1, r0, self.slope)
                self.finish_after_kernel(out[bi:bi + 1, :, r0:r1], None if pooled is None else
                                         pooled[bi:bi + 1, :, r0 // p:min(pooled.shape[2], r1 // p)])
        run_parts(part, parts)


class Winograd(CompiledEpilogue):
    """3x3 stride 1 pad 1 by F(m x m, 3 x 3): two phases, input tiles split by channel, then GEMMs,
    output tiles, bias, activation and pool split by output channel. The tile transforms are compiled where
    numba is present (winograd_kernels.py: the input's with the zero padding, the output's with the bias, a leaky
    or linear activation and a 2x2/2 pool), else GEMMs by their Kronecker products on gathered padded tiles."""

    def __init__(self, layer, pool, m):
        super().__init__(layer, pool)
        self.m = m
        self.u = winograd.filter_transform(self.weights, m)
        self.weights = None  # only the transformed filters are needed
        self.bt = winograd.input_transform(m)
        self.at = winograd.output_transform(m)
        self.kernels = winograd_kernels.kernels(m) if jit.available() else None

    def run(self, x, out, pooled, scratch, threads):
        m, a = self.m, self.m + 2
        b, c, h, w = x.shape
        k = out.shape[1]
        th, tw = -(-h // m), -(-w // m)
        n = b * th * tw
        v = scratch.get("wino_v", (a * a, c, n))
        wm = scratch.get("wino_m", (a * a, k, n))
        transform_in, transform_out = self.transforms(x, v, wm, out, pooled, scratch, th, tw)
        channel_parts, filter_parts = split(c, threads), split(k, threads, K_ALIGN)
        run_parts(lambda i: transform_in(*channel_parts[i]), len(channel_parts))

        def multiply_and_output(i):
            k0, k1 = filter_parts[i]
            np.matmul(self.u[:, k0:k1], v, out=wm[:, k0:k1])
            transform_out(i, k0, k1)
            if self.kernels is None:
                self.finish_channels(out, pooled, k0, k1)
            else:
                self.finish_after_kernel(out[:, k0:k1], None if pooled is None else pooled[:, k0:k1])
        run_parts(multiply_and_output, len(filter_parts))

    def transforms(self, x, v, wm, out, pooled, scratch, th, tw):
        """(input(c0, c1), output(part, k0, k1)): x -> V for channels c0:c1, M -> out for filters k0:k1."""
        if self.kernels:
            compiled_in, compiled_out = self.kernels
            into = self.kernel_pool(pooled, 4)
            return (lambda c0, c1: compiled_in(x, v, th, tw, 0, c0, c1),
                    lambda part, k0, k1: compiled_out(wm, out, into, tw, 0, k0, k1, self.bias, self.slope))
        m, a = self.m, self.m + 2
        b, c = x.shape[:2]
        _, k, h, w = out.shape
        n = b * th * tw
        padded = scratch.get("wino_pad", (b, c, th * m + 2, tw * m + 2))
        tiles = scratch.get("wino_tiles", (a, a, c, b, th, tw))
        sb, sc, sy, sx = padded.strides
        windows = as_strided(padded, (a, a, c, b, th, tw), (sy, sx, sc, sb, m * sy, m * sx), writeable=False)
        flat_tiles, flat_v, flat_m = tiles.reshape(a * a, c * n), v.reshape(a * a, c * n), wm.reshape(a * a, k * n)
        exact = h == th * m and w == tw * m
        target = out if exact else scratch.get("wino_out", (b, k, th * m, tw * m))
        # (m_y, m_x, k, b, th, tw) view of the output tiles, matching the output transform's rows.
        tile_view = target.reshape(b, k, th, m, tw, m).transpose(3, 5, 1, 0, 2, 4)

        def gemm_in(c0, c1):
            fill_rows(padded[:, c0:c1], x[:, c0:c1], -1, 1)
            np.copyto(tiles[:, :, c0:c1], windows[:, :, c0:c1])
            np.matmul(self.bt, flat_tiles[:, c0 * n:c1 * n], out=flat_v[:, c0 * n:c1 * n])

        def gemm_out(part, k0, k1):
            y = scratch.get(f"wino_y{part}", (m * m, (k1 - k0) * n))
            np.matmul(self.at, flat_m[:, k0 * n:k1 * n], out=y)
            np.copyto(tile_view[:, :, k0:k1], y.reshape(m, m, k1 - k0, b, th, tw))
            if not exact:
                out[:, k0:k1] = target[:, k0:k1, :h, :w]
        return gemm_in, gemm_out


class WinogradRows(Winograd):
    """F(m x m) by blocks of tile rows, each on one thread from the input rows under it to its pooled output rows:
    V and M of a block (about BLOCK_BYTES) stay in the core's cache between the transforms and the GEMMs, where
    the two phases of Winograd stream the whole map's through memory (16 MB on yolov2's 104x104 layer). Each
    image's tile rows are split over the threads, as Direct3x3 splits its rows. Compiled transforms only."""

    def block_rows(self, k, tw, align):
        """Tile rows per block: M's block within BLOCK_BYTES, a multiple of align."""
        a = self.m + 2
        return max(align, BLOCK_BYTES // (4 * a * a * k * tw) // align * align)

    def run(self, x, out, pooled, scratch, threads):
        m, a = self.m, self.m + 2
        b, c, h, w = x.shape
        k = out.shape[1]
        th, tw = -(-h // m), -(-w // m)
        p = self.pool.stride if self.pool is not None else 1
        align = p // math.gcd(m, p)  # blocks start on pooling windows
        most = self.block_rows(k, tw, align)
        shares = [(bi, t0, t1) for bi in range(b) for t0, t1 in split(th, threads, align)]
        parts = min(threads, len(shares))
        transform_in, transform_out = self.kernels

        def part(i):
            for bi, t0, t1 in shares[i::parts]:
                blocks = -(-(t1 - t0) // most)  # near-equal blocks: a short last one would run thin GEMMs
                bounds = sorted({t0 + (t1 - t0) * j // blocks // align * align for j in range(blocks)} | {t1})
                for r0, r1 in zip(bounds, bounds[1:]):
                    rows = r1 - r0
                    v = scratch.get(f"wino_v{i}", (a * a, c, rows * tw))
                    wm = scratch.get(f"wino_m{i}", (a * a, k, rows * tw))
                    transform_in(x[bi:bi + 1], v, rows, tw, r0, 0, c)
                    np.matmul(self.u, v, out=wm)
                    into = self.kernel_pool(None if pooled is None else pooled[bi:bi + 1], 4)
                    transform_out(wm, out[bi:bi + 1], into, tw, r0 * m, 0, k, self.bias, self.slope)
                    y0, y1 = r0 * m, min(h, (r0 + rows) * m)
                    self.finish_after_kernel(out[bi:bi + 1, :, y0:y1], None if pooled is None else
                                             pooled[bi:bi + 1, :, y0 // p:min(pooled.shape[2], y1 // p)])
        run_parts(part, parts)


def make_conv(layer, pool, method=None):
    """The fast method for a [convolutional] layer (pool: the next layer, fused if it can be), or None
    where the reference must run (grouped, binary and xnor convolutions). method: one of candidates(layer) (the
    tuner's measured choice), else the shape rule below."""
    if layer.groups != 1 or layer.binary or layer.xnor:
        return None
    method = method or rule_method(layer)
    op = CANDIDATES[method](layer, pool)
    op.name = method
    return op


def rule_method(layer):
    """The method the layer's shape calls for (the thresholds above)."""
    c = layer.in_shape[0]
    _, oh, ow = layer.out_shape
    if layer.size == 1 and layer.stride == 1 and layer.padding == 0:
        return "pointwise"
    if winograd_shape(layer) and oh * ow < DIRECT_MIN_PIXELS and c >= WINOGRAD_MIN_CHANNELS:
        return "winograd4" if min(oh, ow) >= F4_MIN_SIDE else "winograd2"
    return "direct"


def winograd_shape(layer):
    return layer.size == 3 and layer.stride == 1 and layer.padding == 1


CANDIDATES = {
    "pointwise": Pointwise,
    "winograd2": lambda layer, pool: Winograd(layer, pool, 2),
    "winograd4": lambda layer, pool: Winograd(layer, pool, 4),
    "winograd4/rows": lambda layer, pool: WinogradRows(layer, pool, 4),
    "direct": Direct,
    "direct/4": lambda layer, pool: Direct(layer, pool, 1 / 4),  # chunks of a quarter of the budget
    "direct*4": lambda layer, pool: Direct(layer, pool, 4),
    "direct3x3": Direct3x3,
    "direct/filters": DirectByFilters,
}


def candidates(layer):
    """The methods that compute this layer (grouped, binary and xnor convolutions: none, the reference runs)."""
    if layer.groups != 1 or layer.binary or layer.xnor:
        return []
    if layer.size == 1 and layer.stride == 1 and layer.padding == 0:
        return ["pointwise"]
    direct = ["direct", "direct/4", "direct*4"]
    if math.prod(layer.out_shape[1:]) <= FILTER_SPLIT_MAX_PIXELS:
        direct.append("direct/filters")
    if layer.size == 3 and layer.stride == 1 and layer.in_shape[0] <= COMPILED_MAX_CHANNELS and jit.available():
        direct.append("direct3x3")
    if not winograd_shape(layer):
        return direct
    # F(4x4) only from F4_MIN_SIDE up: on smaller maps (13x13) its tiles overhang the map by a quarter, and
    # its filters, 4x the originals, would take yolov2's 13x13 layers past the 1 GiB memory target.
    f4 = ["winograd4"] + ["winograd4/rows"] * jit.available() if min(layer.out_shape[1:]) >= F4_MIN_SIDE else []
    return ["winograd2"] + f4 + direct
