"""[cost] (`cost_layer.c`): the training loss on the network's output; its output is the per-element error.

At inference Darknet never writes a cost layer's output (it stays zero) and the network's output is the
layer before it (`get_network_output` skips cost layers).
"""
import numpy as np

from ..backend import array_module
from .base import Layer

COST_TYPES = ("sse", "masked", "smooth", "L1")


class CostLayer(Layer):
    type = "cost"

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        layer.cost_type = section.str("type", "sse")
        if layer.cost_type not in COST_TYPES:
            raise section.error(f"unknown cost type '{layer.cost_type}'", "type")
        layer.scale = section.float("scale", 1)
        layer.ratio = section.float("ratio", 0)
        layer.noobject_scale = section.float("noobj", 1)
        layer.thresh = section.float("thresh", 0)
        layer.reshape(in_shape, layers)
        return layer

    def forward(self, x, net):
        if self.output is None or self.output.shape != x.shape:
            self.output = array_module(x).zeros(x.shape, np.float32)
        return self.output

    def summary(self, index):
        return f"cost                                           {self.inputs:4d}"
