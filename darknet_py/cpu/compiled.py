"""A compiled 3x3 stride-1 convolution without im2col, for the thin first layers (numba, optional,
see jit.py: without it `jit.available()` is False and conv.py does not offer this method).

As im2col + GEMM, yolov2-tiny's 3 -> 16 conv at 416x416 and 16 -> 32 at 208 spend their time writing the
column matrix (9 times the input) and in GEMMs too thin to reach the BLAS kernels' speed. Here the output rows
come straight from the padded input rows under them, two rows a pass (an odd last row alone): for a block of
BLOCK output channels and one input channel, the BLOCK x 9 weights are loop constants, and the loop over the
rows' pixels (vectorised by LLVM) loads the four input rows' taps once for both output rows and adds them to
the 2 x BLOCK output rows. The first pass starts from the bias, the last applies max(s, slope * s) as it stores
(activations.h leaky with slope .1, linear with 1), and each finished pair of rows is max-pooled 2x2 when
`pooled` has channels.

Measured on an AMD EPYC (Zen 4, AVX-512), one thread, yolov2-tiny's first two layers: one output row and 4
filters a pass took 2.82 and 5.17 ms, two rows and 2 filters 2.32 and 4.61 (yolov2's 32 -> 64 at 208: 19.9
against 17.6). Several input channels a pass were slower still (3.58 ms on the first layer with RGB in one pass:
its 108 weights do not fit the 32 vector registers). Four rows a pass fell out of LLVM's vectoriser (11-12
GFLOP/s), and 8 filters a pass ran at 42-59 GFLOP/s against 64-91.

The kernels are generated per BLOCK: the unrolled taps are what keeps the weights in registers
(jit.compile_source: a process compiles a kernel once per machine, ~2 s). Only FMA contraction is allowed (no
reassociation): the taps add up in a fixed order, as the reference's do.
"""
import functools

from . import jit

BLOCKS = (2, 1)  # output channels a pass: the largest of these that divides the filter count


def block_size(filters):
    """BLOCK of the kernel for a conv with this many filters."""
    return next(b for b in BLOCKS if filters % b == 0)


def _pass(block, rows, first, last, indent):
    """The pixel loop's body of one pass: the 9 taps of one input channel into `rows` x `block` output rows."""
    lines = [f"{indent}i{j}_{d} = r{j}[x + {d}]" for j in range(rows + 2) for d in range(3)]
    for k in range(block):
        for r in range(rows):
            o = f"o{k}_{r}"
            start = f"b{k}" if first else f"{o}[x]"
            lines.append(f"{indent}s = {start} + " + " + ".join(f"w{k}_{t} * i{r + t // 3}_{t % 3}" for t in range(9)))
            lines.append(f"{indent}{o}[x] = max(s, s * slope)" if last else f"{indent}{o}[x] = s")
    return lines


def pool_rows_source(dst, top, bottom, width, indent):
    """Generated lines that 2x2-max-pool the output rows `top` and `bottom` into the pooled row `dst` (`width`
    windows): each row's pair first, then the two rows (maxpool_layer.c's max of the window's four taps). The
    Winograd output transform (winograd_kernels.py) pools with them too."""
    return [f"{indent}for px in range({width}):", f"{indent}    upper = max({top}[2 * px], {top}[2 * px + 1])",
            f"{indent}    {dst}[px] = max(upper, max({bottom}[2 * px], {bottom}[2 * px + 1]))"]


def _rows(block, rows, indent):
    """Output rows y .. y+rows-1 of every filter, BLOCK filters at a time."""
    lines = [f"{indent}for k0 in range(0, filters, {block}):"]
    inner = indent + " " * 4
    for k in range(block):
        lines += [f"{inner}b{k} = bias[k0 + {k}]"] + [f"{inner}o{k}_{r} = out[k0 + {k}, y + {r}]" for r in range(rows)]
    lines.append(f"{inner}for c in range(inputs):")
    body = inner + " " * 4
    lines += [f"{body}w{k}_{t} = weights[k0 + {k}, c, {t // 3}, {t % 3}]" for k in range(block) for t in range(9)]
    lines += [f"{body}r{j} = padded[c, y - row0 + {j}]" for j in range(rows + 2)]
    # Four copies of the pixel loop rather than a test inside it: a branch there stops LLVM vectorising it.
    lines.append(f"{body}first, last = c == 0, c + 1 == inputs")
    for keyword, condition, first, last in (("if", "first and last", True, True), ("elif", "first", True, False),
                                            ("elif", "last", False, True), ("else", "", False, False)):
        lines.append(f"{body}{keyword} {condition}:".replace(" :", ":"))
        lines.append(f"{body}    for x in range(width):")
        lines += _pass(block, rows, first, last, body + " " * 8)
    return lines


def kernel_source(block):
    """Python source of conv3x3(padded, weights (K, C, 3, 3), bias (K,), out (K, H, W), pooled (K, H/2, W/2) or
    (0, 0, 0), y0, y1, row0, slope): output rows y0:y1 (y0 even when pooling), from `padded` (C, y1 - row0 + 2,
    >= W+2): the padded input's rows from the first under output row row0's window on."""
    lines = ["def conv3x3(padded, weights, bias, out, pooled, y0, y1, row0, slope):",
             "    filters, _, width = out.shape",
             "    inputs = padded.shape[0]",
             "    for y in range(y0, y1 - 1, 2):"]
    lines += _rows(block, 2, " " * 8)
    lines += ["        if pooled.shape[0] and y // 2 < pooled.shape[1]:",
              "            for k in range(filters):",
              "                dst, top, bottom = pooled[k, y // 2], out[k, y], out[k, y + 1]",
              *pool_rows_source("dst", "top", "bottom", "pooled.shape[2]", " " * 16),
              "    if (y1 - y0) % 2:  # an odd last row alone (it has no pool row)",
              "        y = y1 - 1"]
    lines += _rows(block, 1, " " * 8)
    return "\n".join(lines) + "\n"


@functools.cache
def conv3x3(block):
    """The compiled kernel for BLOCK output channels a pass, built at its first use in this process."""
    return jit.compile_source(kernel_source(block), "conv3x3", nogil=True, fastmath={"contract"})
