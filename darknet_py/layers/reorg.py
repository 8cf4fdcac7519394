"""[reorg] (`reorg_layer.c`, `blas.c: reorg_cpu`): the passthrough's space-to-depth, in Darknet's own order.

Darknet's order is NOT standard space_to_depth: forward_reorg_layer calls reorg_cpu with the layer's *input*
dims and forward=0, so output[in_index] = input[out_index] with reorg_cpu's index formulas. We build those
two index maps once per shape and gather with them, which is that loop exactly.
"""
from functools import lru_cache

import numpy as np

from ..gpu.device import array_module
from .base import Layer


@lru_cache(maxsize=16)
def reorg_indices(w, h, c, stride):
    """reorg_cpu's (in_index, out_index) for one batch element of a w x h x c grid."""
    k, j, i = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    out_c = c // (stride * stride)
    c2, offset = k % out_c, k // out_c
    w2 = i * stride + offset % stride
    h2 = j * stride + offset // stride
    in_index = i + w * (j + h * k)
    out_index = w2 + w * stride * (h2 + h * stride * c2)
    return in_index.ravel(), out_index.ravel()


def reorg(x, w, h, c, stride, forward):
    """reorg_cpu(x, w, h, c, batch, stride, forward) on a (B, ...) array, returned flat per batch element."""
    xp = array_module(x)
    in_index, out_index = (xp.asarray(a) for a in reorg_indices(w, h, c, stride))
    flat = x.reshape(x.shape[0], -1)
    out = xp.empty_like(flat)
    if forward:
        out[:, out_index] = flat[:, in_index]
    else:
        out[:, in_index] = flat[:, out_index]
    return out


def flatten(x, size, layers, forward):
    """blas.c flatten: forward turns (layers, size) planes into (size, layers) interleaved, per batch element."""
    b = x.shape[0]
    if forward:
        return x.reshape(b, layers, size).transpose(0, 2, 1).reshape(b, -1)
    return x.reshape(b, size, layers).transpose(0, 2, 1).reshape(b, -1)


class ReorgLayer(Layer):
    type = "reorg"

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        layer.stride = section.int("stride", 1)
        layer.reverse = section.int("reverse", 0)
        layer.flatten = section.int("flatten", 0)
        layer.extra = section.int("extra", 0)
        if layer.stride < 1:
            raise section.error("reorg stride must be positive", "stride")
        layer.reshape(in_shape, layers)
        return layer

    def reshape(self, in_shape, layers):
        c, h, w = in_shape
        s = self.stride
        if self.extra:  # make_reorg_layer: output is the input plus `extra` zeros, flat
            self.in_shape, self.out_shape = in_shape, (c * h * w + self.extra, 1, 1)
            return
        if self.reverse:
            if c % (s * s):
                raise self.error(f"reverse reorg /{s} needs channels divisible by {s * s}, got {c}")
            out = (c // (s * s), h * s, w * s)
        else:
            if h % s or w % s:
                raise self.error(f"reorg /{s} needs width and height divisible by {s}, got {w}x{h}")
            out = (c * s * s, h // s, w // s)
        self.in_shape, self.out_shape = in_shape, out

    def forward(self, x, net):
        xp = array_module(x)
        c, h, w = self.in_shape
        b = x.shape[0]
        if self.extra:
            out = xp.zeros((b, self.outputs), x.dtype)
            out[:, :self.inputs] = x.reshape(b, -1)
        elif self.flatten:
            out = flatten(x, w * h, c, forward=not self.reverse)
        else:
            out = reorg(x, w, h, c, self.stride, forward=bool(self.reverse))
        self.output = out.reshape((b,) + self.out_shape)
        return self.output

    def backward(self, x, delta, net):
        """backward_reorg_layer: the inverse index map (reorg_cpu with the other flag); it overwrites net.delta."""
        if delta is None:
            return
        c, h, w = self.in_shape
        b = delta.shape[0]
        if self.extra:
            back = self.delta.reshape(b, -1)[:, :self.inputs]
        elif self.flatten:
            back = flatten(self.delta, w * h, c, forward=bool(self.reverse))
        else:
            back = reorg(self.delta, w, h, c, self.stride, forward=not self.reverse)
        delta[...] = back.reshape(delta.shape)

    def summary(self, index):
        c, h, w = self.in_shape
        oc, oh, ow = self.out_shape
        return f"reorg              /{self.stride:2d}  {w:4d} x{h:4d} x{c:4d}   ->  {ow:4d} x{oh:4d} x{oc:4d}"
