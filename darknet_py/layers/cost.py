"""[cost] (`cost_layer.c`): the training loss on the network's output; its output is the per-element error.

At inference Darknet never writes a cost layer's output (it stays zero) and the network's output is the
layer before it (`get_network_output` skips cost layers).
"""
import numpy as np

from ..gpu.device import array_module
from .base import Layer

COST_TYPES = ("sse", "masked", "smooth", "L1")
SECRET_NUM = -1234  # darknet.h: a truth entry to ignore ("masked" cost, tree softmax groups off the path)


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
        if net.train and net.truth is not None:
            self.loss(x, net.truth.reshape(x.shape))
        return self.output

    def loss(self, x, truth):
        """forward_cost_layer (CPU): per-element error into output, delta = d(target - prediction), cost = sum."""
        xp = array_module(x)
        truth = xp.asarray(truth, x.dtype)
        if self.cost_type == "masked":
            x[truth == SECRET_NUM] = SECRET_NUM  # Darknet overwrites the input (the previous layer's output)
        diff = truth - x
        if self.cost_type == "smooth":  # smooth_l1_cpu; for |diff| >= 1 Darknet's delta has the gradient's sign
            small = xp.abs(diff) < 1
            error = xp.where(small, diff * diff, 2 * xp.abs(diff) - 1)
            delta = xp.where(small, diff, xp.where(diff < 0, 1, -1).astype(x.dtype))
        elif self.cost_type == "L1":  # l1_cpu
            error = xp.abs(diff)
            delta = xp.where(diff > 0, 1, -1).astype(x.dtype)
        else:  # l2_cpu (sse and masked)
            error = diff * diff
            delta = diff
        self.output = error.astype(x.dtype, copy=False)
        self.delta[...] = delta
        self.cost = float(error.sum())

    def backward(self, x, delta, net):
        """backward_cost_layer: net.delta += scale * delta."""
        if delta is not None:
            delta += delta.dtype.type(self.scale) * self.delta

    def summary(self, index):
        return f"cost                                           {self.inputs:4d}"
