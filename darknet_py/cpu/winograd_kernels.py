"""Winograd's tile transforms compiled (numba, optional - see jit.py): B^T d B of every input tile and
A^T M A of every output tile, as the 1-D matrices of winograd.py applied side by side, without the copies
around them. With numpy, conv.Winograd gathers the tiles into a buffer, transforms them with one GEMM by the
Kronecker product B^T (x) B^T (36 multiply-adds a value for F(4x4), most of them by zero) and scatters the
output tiles back: on yolov2's 208x208 layer those steps took 15.6 of its 23 ms, the multiply itself 6.2.

The kernels are generated per tile size with the matrices' non-zero entries as float32 constants (the loops
then vectorise): the input's vertical pass runs along whole padded rows, its horizontal pass tile by tile into
V's rows (contiguous in the tiles); the output's horizontal pass reads M's tiles in order and its vertical pass
writes whole output rows, cut at the map's edge. Each sum runs left to right over the non-zero terms in
float32 (no fastmath); the results differ from the GEMM's by float rounding only.
"""
import functools

from . import jit, winograd


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
    """The loops of both kernels: image, channel (or filter) in bounds, tile row; `base` its first tile."""
    return [f"    for b in range({batch}):", f"        for {channel} in range({bounds}):",
            "            for ty in range(th):", "                base = (b * th + ty) * tw"]


def _input_source(m):
    bt, a = winograd.matrices(m)[0], m + 2
    d, e = [f"d{q}" for q in range(a)], [f"e{q}" for q in range(a)]
    lines = ["import numpy as np", "", "def input_transform(padded, v, th, tw, c0, c1):", "    width = padded.shape[3]",
             f"    rows = np.empty(({a}, width), np.float32)", *_tile_rows("padded.shape[0]", "c", "c0, c1")]
    lines += [f"                p{q} = padded[b, c, ty * {m} + {q}]" for q in range(a)]
    lines += [f"                r{i} = rows[{i}]" for i in range(a)]
    lines.append("                for x in range(width):")
    lines += [f"                    d{q} = p{q}[x]" for q in range(a)]
    lines += [f"                    r{i}[x] = {_combination(bt[i], d)}" for i in range(a)]
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
    lines = ["import numpy as np", "", "def output_transform(wm, out, th, tw, k0, k1):",
             "    h, w = out.shape[2], out.shape[3]", f"    cols = np.empty(({a}, tw * {m}), np.float32)",
             *[f"    c{i} = cols[{i}]" for i in range(a)], *_tile_rows("out.shape[0]", "k", "k0, k1"),
             f"                for i in range({a}):", "                    line = cols[i]"]
    lines += [f"                    s{q} = wm[i * {a} + {q}, k]" for q in range(a)]
    lines.append("                    for tx in range(tw):")
    lines += [f"                        g{q} = s{q}[base + tx]" for q in range(a)]
    lines += [f"                        line[tx * {m} + {s}] = {_combination(at[s], g)}" for s in range(m)]
    for r in range(m):
        lines.append(f"                if ty * {m} + {r} < h:")
        lines.append(f"                    dst = out[b, k, ty * {m} + {r}]")
        lines.append("                    for x in range(w):")
        lines.append(f"                        dst[x] = {_combination(at[r], c)}")
    return "\n".join(lines) + "\n"


@functools.cache
def kernels(m):
    """(input_transform, output_transform) of F(m x m, 3 x 3), compiled at the first use:
    input_transform(padded (B, C, th*m+2, tw*m+2), v (a*a, C, B*th*tw), th, tw, c0, c1) for channels c0:c1;
    output_transform(wm (a*a, K, B*th*tw), out (B, K, h, w), th, tw, k0, k1) for filters k0:k1."""
    return (jit.compile_source(_input_source(m), "input_transform", nogil=True),
            jit.compile_source(_output_source(m), "output_transform", nogil=True))
