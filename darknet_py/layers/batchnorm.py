"""Batch normalization (`batchnorm_layer.c`): used inside [convolutional]/[connected] and as [batchnorm].

Inference uses the rolling statistics with Darknet's CPU formula `(x - mean) / (sqrt(var) + 1e-6)`
(eps outside the square root; its GPU kernel puts 1e-5 inside - we follow the CPU build, the oracle).
"""
import numpy as np

from ..backend import array_module
from .base import Layer

BN_EPSILON = 1e-6  # normalize_cpu: added to sqrt(variance), not to variance


def bn_inference(x, scales, biases, rolling_mean, rolling_variance):
    """normalize_cpu + scale_bias + add_bias over channel axis 1 of a (B, C, ...) array, in place."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    xp = array_module(x)
    # Darknet divides in double: (x - mean) / (sqrt(var) + eps); one float32 divisor per channel.
    denom = (xp.sqrt(rolling_variance.astype(np.float64)) + np.float32(BN_EPSILON)).astype(np.float32)
    x -= rolling_mean.reshape(shape)
    x /= denom.reshape(shape)
    x *= scales.reshape(shape)
    x += biases.reshape(shape)
    return x


class BatchnormParams:
    """The four per-channel arrays of a batch-normalized layer, initialised as Darknet does."""

    def init_batchnorm(self, n):
        self.scales = np.ones(n, np.float32)
        self.rolling_mean = np.zeros(n, np.float32)
        self.rolling_variance = np.zeros(n, np.float32)


class BatchnormLayer(Layer, BatchnormParams):
    """[batchnorm]: a standalone batch normalization over the previous layer's channels."""
    type = "batchnorm"

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        layer.reshape(in_shape, layers)
        layer.init_batchnorm(in_shape[0])
        layer.biases = np.zeros(in_shape[0], np.float32)
        return layer

    def forward(self, x, net):
        self.output = bn_inference(x.copy(), self.scales, self.biases, self.rolling_mean, self.rolling_variance)
        return self.output

    def summary(self, index):
        c, h, w = self.in_shape
        return f"Batch Normalization Layer: {w} x {h} x {c} image"
