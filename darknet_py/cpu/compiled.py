"""A compiled 3x3 stride-1 convolution without im2col, for the thin first layers (numba, optional,
see jit.py: without it `jit.available()` is False and conv.py does not offer this method).

As im2col + GEMM, yolov2-tiny's 3 -> 16 conv at 416x416 and 16 -> 32 at 208 spend their time writing the
column matrix (9 times the input) and in GEMMs too thin to reach the BLAS kernels' speed. Here each output
row comes straight from the three padded input rows under it: for a block of BLOCK output channels and
CHANNELS input channels, the BLOCK x CHANNELS x 9 weights are loop constants and the loop over the row's
pixels (vectorised by LLVM) adds their taps to the BLOCK output rows. The first pass over the input
channels starts from the bias, the last applies max(s, slope * s) as it stores (activations.h leaky with
slope .1, linear with 1), and each finished pair of rows is max-pooled 2x2 when `pooled` has channels.

The kernels are generated per (BLOCK, CHANNELS): the unrolled taps are what keeps the weights in registers
(jit.compile_source: a process compiles a kernel once per machine, ~2 s). Only FMA contraction is allowed (no
reassociation): the taps add up in a fixed order, as the reference's do.
"""
from . import jit

MAX_CHANNELS = 4  # input channels per pass: all of them up to this many (RGB in one pass), else one at a time
BLOCKS = (4, 2, 1)  # output channels per pass: the largest of these that divides the filter count
_kernels = {}


def block_sizes(filters, channels):
    """(BLOCK, CHANNELS) of the kernel for this conv."""
    return next(b for b in BLOCKS if filters % b == 0), channels if channels <= MAX_CHANNELS else 1


def _pass(block, channels, first, last, indent):
    """The pixel loop's body of one pass: the taps of `channels` input channels into `block` output rows."""
    taps = channels * 9
    lines = [f"{indent}i{t} = r{t // 3}[x + {t % 3}]" for t in range(taps)]
    for k in range(block):
        start = f"b{k}" if first else f"o{k}[x]"
        lines.append(f"{indent}s{k} = {start} + " + " + ".join(f"w{k}_{t} * i{t}" for t in range(taps)))
        lines.append(f"{indent}o{k}[x] = max(s{k}, s{k} * slope)" if last else f"{indent}o{k}[x] = s{k}")
    return lines


def kernel_source(block, channels):
    """Python source of conv3x3(padded (C, >= H+2, >= W+2), weights (K, C, 3, 3), bias (K,), out (K, H, W),
    pooled (K, H/2, W/2) or (0, 0, 0), y0, y1, slope): output rows y0:y1 (y0 even when pooling)."""
    lines = ["def conv3x3(padded, weights, bias, out, pooled, y0, y1, slope):",
             "    filters, _, width = out.shape",
             "    inputs = padded.shape[0]",
             "    for y in range(y0, y1):",
             f"        for k0 in range(0, filters, {block}):"]
    for k in range(block):
        lines += [f"            o{k} = out[k0 + {k}, y]", f"            b{k} = bias[k0 + {k}]"]
    lines.append(f"            for c0 in range(0, inputs, {channels}):")
    for k in range(block):
        lines += [f"                w{k}_{t} = weights[k0 + {k}, c0 + {t // 9}, {t % 9 // 3}, {t % 3}]"
                  for t in range(channels * 9)]
    lines += [f"                r{c * 3 + j} = padded[c0 + {c}, y + {j}]" for c in range(channels) for j in range(3)]
    # Four copies of the pixel loop rather than a test inside it: a branch there stops LLVM vectorising it.
    lines.append(f"                first, last = c0 == 0, c0 + {channels} == inputs")
    for keyword, condition, first, last in (("if", "first and last", True, True), ("elif", "first", True, False),
                                            ("elif", "last", False, True), ("else", "", False, False)):
        lines.append(f"                {keyword} {condition}:".replace(" :", ":"))
        lines.append("                    for x in range(width):")
        lines += _pass(block, channels, first, last, " " * 24)
    lines += ["        if pooled.shape[0] and y % 2 == 1 and y // 2 < pooled.shape[1]:",
              "            for k in range(filters):",
              "                dst, top, bottom = pooled[k, y // 2], out[k, y - 1], out[k, y]",
              "                for px in range(pooled.shape[2]):",
              "                    upper = max(top[2 * px], top[2 * px + 1])",
              "                    dst[px] = max(upper, max(bottom[2 * px], bottom[2 * px + 1]))",
              ""]
    return "\n".join(lines)


def conv3x3(block, channels):
    """The compiled kernel for (BLOCK, CHANNELS), built at its first use in this process."""
    key = (block, channels)
    if key not in _kernels:
        _kernels[key] = jit.compile_source(kernel_source(block, channels), "conv3x3", nogil=True,
                                           fastmath={"contract"})
    return _kernels[key]
