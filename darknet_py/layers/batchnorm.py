"""Batch normalization (`batchnorm_layer.c`): used inside [convolutional]/[connected] and as [batchnorm].

Inference uses the rolling statistics with Darknet's CPU formula `(x - mean) / (sqrt(var) + 1e-6)`
(eps outside the square root; its GPU kernel puts 1e-5 inside - we follow the CPU build, the oracle).
"""
import numpy as np

from ..cpu.threads import run_parts, run_slices, split
from ..gpu.device import array_module, like
from .base import Layer

BN_EPSILON = 1e-6  # normalize_cpu: added to sqrt(variance), not to variance
BN_DELTA_EPSILON = 1e-5  # mean/variance/normalize_delta_cpu: sqrt(variance + .00001f), unlike the forward
BN_ROLLING_MOMENTUM = .99  # forward_batchnorm_layer: rolling = .99 * rolling + .01 * batch statistic


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


def _channels(x, values):
    """Per-channel values shaped to broadcast over axis 1 of x."""
    return values.reshape((1, -1) + (1,) * (x.ndim - 2))


def channel_sums(x, mean=None):
    """Per-channel sums over batch and space of x, or of (x - mean)**2 when mean is given, added one element
    at a time in Darknet's order (mean_cpu, variance_cpu): on a 416x416 map float32 pairwise sums differ
    from Darknet's by ~1e-4 relative. Channels are independent, so slices of them run on the thread pool."""
    xp = array_module(x)
    b, c = x.shape[:2]
    sums = xp.empty(c, x.dtype)

    def channel_slice(s):
        # Each image as rows of positions x channels after a carry row (the sums so far): numpy reduces
        # over axis 0 one row at a time (pairwise only along the contiguous axis), so this is Darknet's
        # order, vectorised across the channels. A spare zero column keeps rows 2 wide: a single column
        # would be contiguous and summed pairwise.
        cs = s.stop - s.start
        images = x[:, s].reshape(b, cs, -1)
        run = xp.zeros((images.shape[2] + 1, cs + 1), x.dtype)
        for image in images:
            if mean is None:
                run[1:, :cs] = image.T
            else:
                xp.square(xp.subtract(image.T, mean[s], out=run[1:, :cs]), out=run[1:, :cs])
            run[0] = xp.add.reduce(run, axis=0)
        sums[s] = run[0, :cs]
    run_slices(channel_slice, c)
    return sums


class BatchnormParams:
    """The four per-channel arrays of a batch-normalized layer, initialised as Darknet does, and the
    training-mode batchnorm (forward_batchnorm_layer / backward_batchnorm_layer with net.train=1)."""

    def init_batchnorm(self, n):
        self.scales = np.ones(n, np.float32)
        self.rolling_mean = np.zeros(n, np.float32)
        self.rolling_variance = np.zeros(n, np.float32)

    def normalize_or_add_bias(self, out, net):
        """forward_convolutional/connected_layer after the GEMM, in place over channel axis 1 of out: batch
        normalization (the batch's statistics in training, the rolling ones otherwise) or the bias."""
        xp = array_module(out)
        if self.batch_normalize and net.train:
            self.batchnorm_train(out)
        elif self.batch_normalize:
            bn_inference(out, xp.asarray(self.scales), xp.asarray(self.biases),
                         xp.asarray(self.rolling_mean), xp.asarray(self.rolling_variance))
        else:
            out += _channels(out, xp.asarray(self.biases))
        return out

    def normalize_or_add_bias_backward(self, delta):
        """Its backward on this layer's delta (B, C, ...): batch-norm's, or the bias updates."""
        if self.batch_normalize:
            self.batchnorm_backward(delta)
        else:
            self.accumulate("bias_updates", delta.sum(axis=(0,) + tuple(range(2, delta.ndim))))

    def batchnorm_train(self, x):
        """x (B, C, ...) -> scales * normalize(x) + biases with the batch's statistics, in place.

        mean_cpu over batch x spatial; variance_cpu unbiased (1/(B*spatial - 1)); the rolling statistics
        move .01 toward them; normalize_cpu divides by sqrt(var) + 1e-6 (in double, as the C promotes).
        Keeps x, x_norm, mean and variance for the backward pass.
        """
        xp = array_module(x)
        n = x.size // x.shape[1]
        self.mean = channel_sums(x) * x.dtype.type(1. / n)
        self.variance = channel_sums(x, self.mean) * x.dtype.type(1. / (n - 1))
        for rolling, batch_value in ((self.rolling_mean, self.mean), (self.rolling_variance, self.variance)):
            rolling *= rolling.dtype.type(BN_ROLLING_MOMENTUM)
            rolling += rolling.dtype.type(1 - BN_ROLLING_MOMENTUM) * like(rolling, batch_value)
        denom = (xp.sqrt(self.variance.astype(np.float64)) + np.float32(BN_EPSILON)).astype(x.dtype)
        self.bn_x, self.x_norm = xp.empty_like(x), xp.empty_like(x)
        scales, biases = xp.asarray(self.scales), xp.asarray(self.biases)

        def normalize(s):  # elementwise, so batch slices run on the thread pool
            self.bn_x[s] = x[s]
            x[s] -= _channels(x, self.mean)
            x[s] /= _channels(x, denom)
            self.x_norm[s] = x[s]
            x[s] *= _channels(x, scales)
            x[s] += _channels(x, biases)
        run_slices(normalize, x.shape[0])
        return x

    def batchnorm_backward(self, delta):
        """backward_batchnorm_layer on this layer's delta (B, C, ...), in place; accumulates bias/scale updates.

        Darknet's backward uses sqrt(var + 1e-5) and a 1/(B*spatial) variance derivative, so it is the
        gradient of its forward only up to those O(1e-5) and O(1/(B*spatial)) differences; we follow it.
        """
        xp = array_module(delta)
        axes = (0,) + tuple(range(2, delta.ndim))
        n = delta.size // delta.shape[1]
        scales = _channels(delta, xp.asarray(self.scales, delta.dtype))
        mean = _channels(delta, self.mean)
        slices = split(delta.shape[0])
        partial = [None] * len(slices)

        def slice_sums(part):  # each batch slice's share of the four per-channel sums, on the thread pool
            s = slices[part]
            d = delta[s]
            bias, scale = d.sum(axis=axes), (d * self.x_norm[s]).sum(axis=axes)
            d *= scales
            partial[part] = bias, scale, d.sum(axis=axes), (d * (self.bn_x[s] - mean)).sum(axis=axes)
        run_parts(slice_sums, len(slices))
        bias, scale, scaled, spread = (sum(column[1:], column[0]) for column in zip(*partial))
        self.accumulate("bias_updates", bias)
        self.accumulate("scale_updates", scale)
        var = self.variance.astype(np.float64) + BN_DELTA_EPSILON
        mean_delta = (scaled * (-1. / xp.sqrt(var))).astype(delta.dtype)
        variance_delta = (spread * (-.5 * var ** -1.5)).astype(delta.dtype)
        inverse_std = _channels(delta, (1. / xp.sqrt(var)).astype(delta.dtype))
        variance_term = _channels(delta, variance_delta * delta.dtype.type(2. / n))
        mean_term = _channels(delta, mean_delta / delta.dtype.type(n))

        def normalize_delta(part):
            s = slices[part]
            delta[s] *= inverse_std
            delta[s] += variance_term * (self.bn_x[s] - mean)
            delta[s] += mean_term
        run_parts(normalize_delta, len(slices))
        return delta


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
        if net.train:
            self.output = self.batchnorm_train(x.copy())
        else:
            self.output = bn_inference(x.copy(), self.scales, self.biases, self.rolling_mean, self.rolling_variance)
        return self.output

    def backward(self, x, delta, net):
        """backward_batchnorm_layer, then copy_cpu into net.delta: a [batchnorm] layer overwrites its input's delta.

        Darknet's CPU build gives [batchnorm] no update function, so its scales and biases never train.
        """
        self.batchnorm_backward(self.delta)
        if delta is not None:
            delta[...] = self.delta

    def summary(self, index):
        c, h, w = self.in_shape
        return f"Batch Normalization Layer: {w} x {h} x {c} image"
