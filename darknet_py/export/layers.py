"""One ONNX builder per Darknet layer type: builder(g, layer, x, outputs) -> the name of the layer's output.

x is the name of the layer's input (B, c, h, w); outputs holds the output names of the layers before it
(route and shortcut read them). Each builder computes what the layer's inference forward computes, in
Darknet's order, so the graph's value at every layer matches darknet-py's within float32 rounding.
"""
import numpy as np

from ..cpu.conv import fold_batchnorm
from .graph import BATCH, F32, activation


class NotExportable(Exception):
    """A layer, or an option of one, that has no ONNX form; the message is the one-line reason."""


def convolutional(g, layer, x, outputs):
    """Conv with batch-norm folded into weights and bias (cpu/conv.py fold_batchnorm), then the activation."""
    weights, bias = fold_batchnorm(layer)
    k, s, p = layer.size, layer.stride, layer.padding
    y = g.op("Conv", x, g.const(weights, "conv_w"), g.const(bias, "conv_b"), kernel_shape=[k, k],
             strides=[s, s], pads=[p, p, p, p], group=layer.groups)
    return activation(g, layer.activation, y)


def connected(g, layer, x, outputs):
    weights, bias = fold_batchnorm(layer)
    y = g.op("Gemm", g.op("Flatten", x, axis=1), g.const(weights, "fc_w"), g.const(bias, "fc_b"), transB=1)
    return g.reshape(activation(g, layer.activation, y), [BATCH, layer.n_outputs, 1, 1])


def batchnorm(g, layer, x, outputs):
    """[batchnorm] at inference: per channel y = s*x + (bias - s*mean), s = scale / (sqrt(var) + 1e-6)."""
    s = layer.scales / (np.sqrt(layer.rolling_variance.astype(np.float64)) + 1e-6)
    shift = (layer.biases - layer.rolling_mean * s).astype(F32)
    channel = (-1, 1, 1)
    return g.op("Add", g.op("Mul", x, g.const(s.astype(F32).reshape(channel))), g.const(shift.reshape(channel)))


def maxpool(g, layer, x, outputs):
    """Darknet's padding: windows start at -padding/2, out = (in + padding - size)/stride + 1, taps outside
    the map never win (-FLT_MAX); ONNX's pads are exactly that, the end pads sized to give Darknet's out."""
    _, h, w = layer.in_shape
    _, out_h, out_w = layer.out_shape
    k, s, before = layer.size, layer.stride, layer.padding // 2
    after_h = max(0, (out_h - 1) * s + k - h - before)
    after_w = max(0, (out_w - 1) * s + k - w - before)
    if max(before, after_h, after_w) >= k:
        raise NotExportable(f"a {k}x{k} maxpool with padding={layer.padding} pads more than its window")
    return g.op("MaxPool", x, kernel_shape=[k, k], strides=[s, s], pads=[before, before, after_h, after_w])


def avgpool(g, layer, x, outputs):
    return g.op("GlobalAveragePool", x)


def reorg(g, layer, x, outputs):
    """reorg_cpu's index order (layers/reorg.py; not DepthToSpace) as two reshapes and a transpose.

    forward_reorg_layer calls reorg_cpu(input, w, h, c, stride, forward=0): output[k, j, i] of a (c, h, w)
    grid is input[out_index], the input read as (c/s^2, h*s, w*s) at (k % (c/s^2), j*s + dy, i*s + dx)
    with k / (c/s^2) = dy*s + dx. So the input seen as [c2, j, dy, i, dx] goes to [dy, dx, c2, j, i]:
    the same bytes as the layer's (c*s^2, h/s, w/s) output. The reverse reorg is the inverse permutation.
    """
    c, h, w = layer.in_shape
    s = layer.stride
    if layer.extra:  # the input flattened, then `extra` zeros
        flat = g.op("Flatten", x, axis=1)
        padded = g.op("Pad", flat, g.ints([0, 0, 0, layer.extra]), g.const(0))
        return g.reshape(padded, [BATCH, layer.outputs, 1, 1])
    if layer.flatten:  # blas.c flatten: (layers, size) planes <-> (size, layers)
        shape = [BATCH, c, h * w] if not layer.reverse else [BATCH, h * w, c]
        t = g.op("Transpose", g.reshape(x, shape), perm=[0, 2, 1])
        return g.reshape(t, [BATCH, *layer.out_shape])
    if layer.reverse:  # forward=1: input [dy, dx, c2, j, i] goes to [c2, j, dy, i, dx]
        six = g.reshape(x, [BATCH, s, s, c // (s * s), h, w])
        t = g.op("Transpose", six, perm=[0, 3, 4, 1, 5, 2])
    else:
        six = g.reshape(x, [BATCH, c // (s * s), h, s, w, s])
        t = g.op("Transpose", six, perm=[0, 3, 5, 1, 2, 4])
    return g.reshape(t, [BATCH, *layer.out_shape], hint="reorg")


def route(g, layer, x, outputs):
    parts = [outputs[j] for j in layer.indices]
    return g.op("Identity", parts[0]) if len(parts) == 1 else g.op("Concat", *parts, axis=1, hint="route")


def shortcut(g, layer, x, outputs):
    """shortcut_cpu: alpha*x + beta*from over the common channels, the larger map strided, the smaller
    sampled; x passes unchanged elsewhere. Then the activation."""
    c1, h1, w1 = layer.from_shape
    c2, h2, w2 = layer.in_shape
    stride, sample = max(1, w1 // w2), max(1, w2 // w1)
    c, hs, ws = min(c1, c2), min(h1, h2), min(w1, w2)
    source = outputs[layer.index]
    if (c1, h1, w1) != (c, hs * stride, ws * stride) or stride > 1:
        source = g.slice(g.slice(g.slice(source, 1, 0, c), 2, 0, hs * stride, stride), 3, 0, ws * stride, stride)
    source = g.scale(source, F32(layer.beta))
    if (c2, h2, w2) != (c, hs, ws):
        # Place the (c, hs, ws) sum at every sample-th row and column of a zero (c2, h2, w2) map.
        if sample > 1:
            spread = g.op("Pad", g.reshape(source, [BATCH, c, hs, 1, ws, 1]),
                          g.ints([0] * 6 + [0, 0, 0, sample - 1, 0, sample - 1]), g.const(0))
            source = g.reshape(spread, [BATCH, c, hs * sample, ws * sample])
        source = g.op("Pad", source, g.ints([0] * 4 + [0, c2 - c, h2 - hs * sample, w2 - ws * sample]), g.const(0))
    if layer.alpha != 1:
        mask = np.ones((c2, h2, w2), F32)
        mask[:c, :hs * sample:sample, :ws * sample:sample] = layer.alpha
        x = g.op("Mul", x, g.const(mask, "shortcut_alpha"))
    return activation(g, layer.activation, g.op("Add", x, source, hint="shortcut"))


def dropout(g, layer, x, outputs):
    return x  # identity at inference


def softmax(g, layer, x, outputs):
    """softmax_cpu over `groups` equal slices of each input (exp(x/t - max/t)), or the WordTree's."""
    b_shape = [BATCH, *layer.out_shape]
    flat = g.op("Flatten", x, axis=1)
    t = layer.temperature
    if layer.tree is not None:  # forward_softmax_layer: softmax_tree over the first tree.n inputs
        n = layer.tree.n
        head = tree_softmax(g, divided(g, g.slice(flat, 1, 0, n), t), layer.tree, [BATCH], [])
        if n < layer.inputs:  # forward_softmax_layer leaves the entries past the tree at 0
            head = g.op("Pad", head, g.ints([0, 0, 0, layer.inputs - n]), g.const(0))
        return g.reshape(head, b_shape, hint="softmax")
    groups = divided(g, g.reshape(flat, [BATCH, layer.groups, layer.inputs // layer.groups]), t)
    return g.reshape(g.op("Softmax", groups, axis=2), b_shape, hint="softmax")


def divided(g, x, temperature):
    """x / t, as softmax_cpu's exp(x/t - max/t) (nothing at t = 1)."""
    return x if temperature == 1 else g.op("Div", x, g.const(temperature))


def tree_softmax(g, x, tree, lead, rest):
    """A softmax over each group of co-hyponyms along the axis after the `lead` ones, `rest` the axes after
    it (wordtree/tree.py softmax_tree).

    Groups of equal size are gathered into one (.., groups, size, ..) block and normalised together,
    so YOLO9000's 1846 groups take 41 blocks; one last gather puts the nodes back in tree order.
    """
    axis = len(lead)
    blocks, order = [], []
    sizes = tree.group_size.tolist()
    for size in sorted(set(sizes)):
        starts = [int(o) for o, s in zip(tree.group_offset.tolist(), sizes) if s == size]
        index = np.asarray(starts)[:, None] + np.arange(size)[None, :]
        block = g.op("Gather", x, g.const(index, "tree_index", np.int64), axis=axis)  # (.., groups, size, ..)
        e = g.op("Exp", g.op("Sub", block, g.op("ReduceMax", block, axes=[axis + 1], keepdims=1)))
        probs = g.op("Div", e, g.op("ReduceSum", e, g.ints([axis + 1]), keepdims=1))
        blocks.append(g.reshape(probs, lead + [index.size] + rest))
        order.extend(index.ravel().tolist())
    joined = g.op("Concat", *blocks, axis=axis)
    return g.op("Gather", joined, g.const(np.argsort(order), "tree_order", np.int64), axis=axis, hint="tree_softmax")


def region(g, layer, x, outputs):
    """forward_region_layer's activations on (B, num, entries, h, w): logistic on tx, ty (and objectness
    unless background), then softmax, the WordTree's softmax (its GPU layout) or logistic classes."""
    if layer.tree is not None and layer.darknet_cpu_tree_layout:
        raise NotExportable("-darknet_cpu_tree (the CPU build's mangled tree softmax) has no ONNX form")
    _, h, w = layer.in_shape
    entries = layer.entries
    r = g.reshape(x, [BATCH, layer.num, entries, h, w])
    first_class = layer.coords + (0 if layer.background else 1)
    parts = [g.op("Sigmoid", g.slice(r, 2, 0, 2)), g.slice(r, 2, 2, layer.coords)]
    if not layer.background:
        parts.append(g.op("Sigmoid", g.slice(r, 2, layer.coords, layer.coords + 1)))
    classes = g.slice(r, 2, first_class, entries)
    if layer.tree is not None:
        parts.append(tree_softmax(g, divided(g, classes, layer.temperature), layer.tree, [BATCH, layer.num], [h, w]))
    elif layer.softmax:
        parts.append(g.op("Softmax", classes, axis=2))
    else:
        parts.append(g.op("Sigmoid", classes))
    return g.reshape(g.op("Concat", *parts, axis=2), [BATCH, *layer.out_shape], hint="region")


def yolo(g, layer, x, outputs):
    """forward_yolo_layer (YOLOv3): per anchor of its mask, logistic on x, y, objectness and classes."""
    _, h, w = layer.in_shape
    entries = 5 + layer.classes
    r = g.reshape(x, [BATCH, len(layer.mask), entries, h, w])
    parts = [g.op("Sigmoid", g.slice(r, 2, 0, 2)), g.slice(r, 2, 2, 4), g.op("Sigmoid", g.slice(r, 2, 4, entries))]
    return g.reshape(g.op("Concat", *parts, axis=2), [BATCH, *layer.out_shape], hint="yolo")


def upsample(g, layer, x, outputs):
    """upsample_cpu: nearest-neighbour by `stride`, times `scale`; a negative stride (reverse) sums each
    stride x stride block instead."""
    c, h, w = layer.in_shape
    s = abs(layer.stride)
    if getattr(layer, "reverse", layer.stride < 0):
        blocks = g.reshape(x, [BATCH, c, h // s, s, w // s, s])
        y = g.op("ReduceSum", blocks, g.ints([3, 5]), keepdims=0)
    else:
        spread = g.op("Expand", g.reshape(x, [BATCH, c, h, 1, w, 1]), g.ints([1, c, h, s, w, s]))
        y = g.reshape(spread, [BATCH, c, h * s, w * s])
    return g.scale(y, F32(getattr(layer, "scale", 1)))


BUILDERS = {f.__name__: f for f in (convolutional, connected, batchnorm, maxpool, avgpool, reorg, route,
                                     shortcut, dropout, softmax, region, yolo, upsample)}


def build(g, layer, x, outputs):
    """The layer's output name; NotExportable (with the reason) for what has no ONNX form."""
    builder = BUILDERS.get(layer.type)
    if builder is None:
        raise NotExportable(f"[{layer.type}] has no ONNX form in darknet-py yet")
    if getattr(layer, "binary", 0) or getattr(layer, "xnor", 0):
        raise NotExportable("binary/XNOR convolutions have no ONNX form in darknet-py yet")
    return builder(g, layer, x, outputs)

