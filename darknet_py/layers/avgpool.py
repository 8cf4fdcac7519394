"""[avgpool] (`avgpool_layer.c`): global average over each channel -> (c, 1, 1)."""

from .base import Layer


class AvgpoolLayer(Layer):
    type = "avgpool"

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        layer.reshape(in_shape, layers)
        return layer

    def reshape(self, in_shape, layers):
        self.in_shape, self.out_shape = in_shape, (in_shape[0], 1, 1)

    def forward(self, x, net):
        _, h, w = self.in_shape
        self.output = x.sum(axis=(2, 3), keepdims=True, dtype=x.dtype) / x.dtype.type(h * w)
        return self.output

    def backward(self, x, delta, net):
        """backward_avgpool_layer: every input of a channel gets delta / (h*w)."""
        if delta is not None:
            _, h, w = self.in_shape
            delta += self.delta / delta.dtype.type(h * w)

    def summary(self, index):
        c, h, w = self.in_shape
        return f"avg                     {w:4d} x{h:4d} x{c:4d}   ->  {c:4d}"
