"""[avgpool] (`avgpool_layer.c`): global average over each channel -> (c, 1, 1)."""
import numpy as np

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
        self.output = (x.sum(axis=(2, 3), keepdims=True, dtype=np.float32) / np.float32(h * w)).astype(np.float32)
        return self.output

    def summary(self, index):
        c, h, w = self.in_shape
        return f"avg                     {w:4d} x{h:4d} x{c:4d}   ->  {c:4d}"
