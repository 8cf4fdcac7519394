"""Winograd's tile transforms compiled (numba, optional - see jit.py): B^T d B of every input tile and
A^T M A of every output tile, as the 1-D matrices of winograd.py applied side by side, without the copies
around them. With numpy, conv.Winograd gathers the tiles into a buffer, transforms them with one GEMM by the
Kronecker product B^T (x) B^T (36 multiply-adds a value for F(4x4), most of them by zero) and scatters the
output tiles back: on yolov2's 208x208 layer those steps took 15.6 of its 23 ms, the multiply itself 6.2.

The kernels are generated per tile size with the matrices' non-zero entries as float32 constants (the loops
then vectorise): the input's vertical pass runs along the image's rows (the zero padding around the map is
implied: rows above and below it read as zeros, and the columns beside it stay zero), its horizontal pass tile by
tile into V's rows (contiguous in the tiles); the output's horizontal pass reads M's tiles in order and its
vertical pass writes whole output rows, cut at the map's edge, with the conv's bias and leaky or linear
activation, then 2x2-pools the rows it wrote where asked. Each sum runs left to right over the non-zero terms in
float32 (no fastmath); the results differ from the GEMM's by float rounding only. Done in the kernels, the
padding and the pool cost no pass of their own over the maps (yolov2-tiny's 16 -> 32 layer at 208x208 by blocks
of tile rows, one thread: 5.84 -> 4.55 ms).
"""
import functools

from . import compiled, jit, winograd


def _combination(row, names):
    """A row of a transform matrix applied to the named values: 'K0 * d0 - d2 + ...' (float32 constants)."""
    terms = []
    for coefficient, name in zip(row, names):
        if coefficient == 0:
            continue
        sign = "-" if coefficient < 0 else "+"
        size = abs(float(coefficient))
        terms.append((sign, name if size == 1 else f"np.float32({size!r}) * {name}"))
    text = " ".join(f"{sign} {term}" for sign, term in terms)
    return text[2:] if text.startswith("+ ") else f"-{text[2:]}" if terms else "np.float32(0)"


def _tile_rows(batch, channel, bounds):
    """The loops of both kernels: image, channel (or filter) in bounds, tile row; `base` its first tile. (The tile
    index is built from loop counters alone: with an offset LLVM cannot see it is never negative, keeps numba's
    negative-index wrap-around, and the tile loops no longer vectorise - 3.6x slower.)"""
    return [f"    for b in range({batch}):", f"        for {channel} in range({bounds}):",
            "            for ty in range(th):", "                base = (b * th + ty) * tw"]


def _input_source(m):
    bt, a = winograd.matrices(m)[0], m + 2
    d, e = [f"d{q}" for q in range(a)], [f"e{q}" for q in range(a)]
    lines = ["import numpy as np", "", "def input_transform(image, v, th, tw, ty0, c0, c1):",
             "    h, w = image.shape[2], image.shape[3]", f"    width = tw * {m} + 2",
             f"    rows = np.zeros(({a}, width), np.float32)  # columns 0 and w+1 on stay 0: the zero padding",
             "    zero = np.zeros(w, np.float32)", *_tile_rows("image.shape[0]", "c", "c0, c1")]
    for q in range(a):
        lines.append(f"                y = (ty0 + ty) * {m} - 1 + {q}")
        lines.append(f"                p{q} = image[b, c, y] if 0 <= y < h else zero")
    lines += [f"                r{i} = rows[{i}]" for i in range(a)]
    lines.append("                for x in range(w):")
    lines += [f"                    d{q} = p{q}[x]" for q in range(a)]
    lines += [f"                    r{i}[x + 1] = {_combination(bt[i], d)}" for i in range(a)]
    lines.append(f"                for i in range({a}):")
    lines.append("                    line = rows[i]")
    lines += [f"                    o{j} = v[i * {a} + {j}, c]" for j in range(a)]
    lines.append("                    for tx in range(tw):")
    lines += [f"                        e{q} = line[tx * {m} + {q}]" for q in range(a)]
    lines += [f"                        o{j}[base + tx] = {_combination(bt[j], e)}" for j in range(a)]
    return "\n".join(lines) + "\n"


def _output_source(m):
    at, a = winograd.matrices(m)[2], m + 2
    g, c = [f"g{q}" for q in range(a)], [f"c{i}[x]" for i in range(a)]
    lines = ["import numpy as np", "", "def output_transform(wm, out, pooled, tw, y0, k0, k1, bias, slope):",
             "    h, w = out.shape[2], out.shape[3]", "    th = wm.shape[2] // (out.shape[0] * tw)",
             f"    cols = np.empty(({a}, tw * {m}), np.float32)",
             *[f"    c{i} = cols[{i}]" for i in range(a)], *_tile_rows("out.shape[0]", "k", "k0, k1"),
             "                add = bias[k]", f"                for i in range({a}):",
             "                    line = cols[i]"]
    lines += [f"                    s{q} = wm[i * {a} + {q}, k]" for q in range(a)]
    lines.append("                    for tx in range(tw):")
    lines += [f"                        g{q} = s{q}[base + tx]" for q in range(a)]
    lines += [f"                        line[tx * {m} + {s}] = {_combination(at[s], g)}" for s in range(m)]
    for r in range(m):
        lines.append(f"                if y0 + ty * {m} + {r} < h:")
        lines.append(f"                    dst = out[b, k, y0 + ty * {m} + {r}]")
        lines.append("                    for x in range(w):")
        lines.append(f"                        s = {_combination(at[r], c)} + add")
        lines.append("                        dst[x] = max(s, s * slope)")
    lines += ["                if pooled.shape[0]:  # the tile's row pairs, 2x2 max-pooled from the rows just written",
              f"                    for r in range(0, {m}, 2):",
              f"                        py = (y0 + ty * {m} + r) // 2",
              "                        if py < pooled.shape[2]:",
              "                            dst, top = pooled[b, k, py], out[b, k, 2 * py]",
              "                            bottom = out[b, k, 2 * py + 1]",
              *compiled.pool_rows_source("dst", "top", "bottom", "pooled.shape[3]", " " * 28)]
    return "\n".join(lines) + "\n"


@functools.cache
def kernels(m):
    """(input_transform, output_transform) of F(m x m, 3 x 3), compiled at the first use, for th rows of tw tiles:
    input_transform(image (B, C, h, w), v (a*a, C, B*th*tw), th, tw, ty0, c0, c1): the tiles of tile rows
    ty0 .. ty0+th-1 for channels c0:c1, from the image zero-padded by 1 (the conv's pad) and out to the tiles' edge;
    output_transform(wm (a*a, K, B*th*tw), out (B, K, h, w), pooled, tw, y0, k0, k1, bias (K,), slope) for filters
    k0:k1 writes output rows y0 .. y0+th*m-1 (those below h), as max(s, slope * s) of s = the tile's value + bias[k]
    (conv.finish's bias and leaky (slope .1) or linear (slope 1), the same float32 operations), and where pooled
    (B, K, ph, pw) has filters, their 2x2/2 max-pool (y0 even; (0, 0, 0, 0): no pool)."""
    return (jit.compile_source(_input_source(m), "input_transform", nogil=True),
            jit.compile_source(_output_source(m), "output_transform", nogil=True))
