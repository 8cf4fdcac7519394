"""[maxpool] (`maxpool_layer.c`) with Darknet's padding rule.

parse_maxpool: size defaults to stride, padding to size-1. make_maxpool_layer: out = (in + padding - size)/stride + 1.
forward_maxpool_layer starts each window at -padding/2 and treats taps outside the image as -FLT_MAX, so a
2x2/1 pool (yolov2-tiny layer 11) keeps 13x13 by extending the window right/down.
"""
import numpy as np

from ..cpu.threads import run_slices
from ..gpu.device import array_module
from .base import Layer

LOWEST = np.finfo(np.float32).min  # -FLT_MAX: a window wholly outside the map keeps it, as in the C


class MaxpoolLayer(Layer):
    type = "maxpool"

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        layer.stride = section.int("stride", 1)
        layer.size = section.int("size", layer.stride)
        layer.padding = section.int("padding", layer.size - 1)
        if layer.size < 1 or layer.stride < 1 or layer.padding < 0:
            raise section.error("maxpool size and stride must be positive, padding non-negative")
        layer.reshape(in_shape, layers)
        return layer

    def reshape(self, in_shape, layers):
        c, h, w = in_shape
        out_h = (h + self.padding - self.size) // self.stride + 1
        out_w = (w + self.padding - self.size) // self.stride + 1
        if out_h < 1 or out_w < 1:
            raise self.error(f"a {self.size}x{self.size}/{self.stride} maxpool cannot take a {w}x{h} input")
        self.in_shape, self.out_shape = in_shape, (c, out_h, out_w)

    def _window_geometry(self):
        """The padding before (Darknet's -padding/2 offset) and after each side so every window fits,
        and the strided slice of the padded map that tap (ky, kx) reads."""
        _, h, w = self.in_shape
        _, out_h, out_w = self.out_shape
        s, k, before = self.stride, self.size, self.padding // 2
        after_h = max(0, (out_h - 1) * s + k - h - before)
        after_w = max(0, (out_w - 1) * s + k - w - before)

        def tap(ky, kx):
            return (slice(None), slice(None), slice(ky, ky + s * (out_h - 1) + 1, s), slice(kx, kx + s * (out_w - 1) + 1, s))
        return before, after_h, after_w, tap

    def forward(self, x, net):
        """Batch slices run on the cpu/threads pool; training also keeps each window's argmax tap."""
        xp = array_module(x)
        k = self.size
        before, after_h, after_w, tap = self._window_geometry()
        padding = before or after_h or after_w
        out = xp.empty((x.shape[0],) + self.out_shape, x.dtype)
        # forward_maxpool_layer's l.indexes: the first tap (row-major) holding the window's maximum, as its
        # strict '>' scan keeps; stored as the tap number ky*size + kx.
        self.argmax = xp.zeros(out.shape, xp.min_scalar_type(k * k - 1)) if net.train else None

        def pool(s):
            if k == 2 and self.stride == 1 and before == 0 and not net.train:
                self._pool_2x2_stride1(xp, x[s], out[s])
                return
            padded = x[s]
            if padding:  # taps beyond the map read -FLT_MAX
                c, h, w = self.in_shape
                padded = xp.full((len(padded), c, before + h + after_h, before + w + after_w), LOWEST, x.dtype)
                padded[:, :, before:before + h, before:before + w] = x[s]
            if k == 2:
                self._pool_2x2(xp, [padded[tap(ky, kx)] for ky in range(2) for kx in range(2)], out[s],
                               self.argmax[s] if net.train else None)
                return
            out[s] = padded[tap(0, 0)]
            greater = xp.empty(out[s].shape, bool)
            for i in range(1, k * k):
                window = padded[tap(*divmod(i, k))]
                if net.train:
                    xp.greater(window, out[s], out=greater)
                    xp.copyto(self.argmax[s], i, where=greater)
                xp.maximum(out[s], window, out=out[s])
        run_slices(pool, x.shape[0])
        self.output = out
        return out

    @staticmethod
    def _pool_2x2_stride1(xp, x, out):
        """A 2x2/1 pool whose windows start on the map (-padding/2 == 0): yolov2-tiny's and yolov3-tiny's layer
        11. Its windows may reach one row and column past the map, where the -FLT_MAX taps never win, so the
        last row and column keep the taps on the map; without padding, out is the top-left of that. Each row's
        neighbours first, then two rows (_pool_2x2's order), over the flattened maps: one long loop per pass
        rather than one per 13-pixel row (yolov2-tiny's 512x13x13: 0.035 ms against 0.22)."""
        w = x.shape[3]
        full = out if out.shape == x.shape and out.flags.c_contiguous else xp.empty(x.shape, x.dtype)
        pairs = xp.empty(x.shape, x.dtype)
        flat_x, flat_pairs, flat_full = x.reshape(-1), pairs.reshape(-1), full.reshape(-1)
        xp.maximum(flat_x[:-1], flat_x[1:], out=flat_pairs[:-1])  # across each row's end too: mended next
        pairs[..., -1] = x[..., -1]
        xp.maximum(flat_pairs[:-w], flat_pairs[w:], out=flat_full[:-w])  # across each map's end: mended next
        full[:, :, -1] = pairs[:, :, -1]
        if full is not out:
            out[...] = full[:, :, :out.shape[2], :out.shape[3]]

    @staticmethod
    def _pool_2x2(xp, taps, out, argmax):
        """The max of a 2x2 window's taps (a, b, c, d in row-major order) as two pairs then the pair
        winners, the second pair only when strictly greater: the first maximum, as the C scan keeps
        (argmax: its tap number, when given). Half the passes of the tap-by-tap scan."""
        a, b, c, d = taps
        first, second = xp.maximum(a, b), xp.maximum(c, d)
        if argmax is not None:
            second_wins = second > first
            xp.copyto(argmax, xp.where(second_wins, (d > c).view(xp.uint8) + xp.uint8(2), (b > a).view(xp.uint8)))
        xp.maximum(first, second, out=out)

    def backward(self, x, delta, net):
        """backward_maxpool_layer: net.delta[indexes[i]] += l.delta[i]; the window's argmax tap gets it all."""
        if delta is None:
            return
        xp = array_module(delta)
        b, c, h, w = delta.shape
        before, after_h, after_w, tap = self._window_geometry()
        padding = before or after_h or after_w

        def unpool(s):
            padded = delta[s]  # windows within the map add straight into the input's delta
            if padding:
                padded = xp.zeros((s.stop - s.start, c, h + before + after_h, w + before + after_w), delta.dtype)
            zero = delta.dtype.type(0)
            for i in range(self.size * self.size):  # where() then add: twice as fast as a masked add
                window = padded[tap(*divmod(i, self.size))]
                window += xp.where(self.argmax[s] == i, self.delta[s], zero)
            if padding:
                delta[s] += padded[:, :, before:before + h, before:before + w]
        run_slices(unpool, b)

    def summary(self, index):
        c, h, w = self.in_shape
        _, oh, ow = self.out_shape
        k, s = self.size, self.stride
        return f"max          {k} x {k} / {s}  {w:4d} x{h:4d} x{c:4d}   ->  {ow:4d} x{oh:4d} x{c:4d}"
