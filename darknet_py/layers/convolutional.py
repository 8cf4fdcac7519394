"""[convolutional] (`convolutional_layer.c`, `im2col.c`): im2col + GEMM, then batchnorm or bias, then activation."""
import numpy as np

from ..activations import FORWARD, activate
from ..backend import array_module
from .base import Layer
from .batchnorm import BatchnormParams, bn_inference


def conv_out_size(size_in, size, stride, padding):
    """convolutional_out_height/width: (in + 2*pad - size)/stride + 1 with C integer division."""
    return (size_in + 2 * padding - size) // stride + 1


def im2col(x, size, stride, padding, out_h, out_w):
    """(B, C, H, W) -> (B, C*size*size, out_h*out_w), rows ordered (c, ky, kx) as Darknet's im2col_cpu."""
    xp = array_module(x)
    b, c, h, w = x.shape
    if padding:
        x = xp.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = xp.empty((b, c, size, size, out_h, out_w), x.dtype)
    for ky in range(size):
        for kx in range(size):
            cols[:, :, ky, kx] = x[:, :, ky:ky + stride * (out_h - 1) + 1:stride, kx:kx + stride * (out_w - 1) + 1:stride]
    return cols.reshape(b, c * size * size, out_h * out_w)


class ConvolutionalLayer(Layer, BatchnormParams):
    type = "convolutional"

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        layer.filters = section.int("filters", 1)
        layer.size = section.int("size", 1)
        layer.stride = section.int("stride", 1)
        pad = section.int("pad", 0)
        layer.padding = layer.size // 2 if pad else section.int("padding", 0)  # parse_convolutional
        layer.groups = section.int("groups", 1)
        layer.activation = section.str("activation", "logistic")  # Darknet's default is logistic
        layer.batch_normalize = section.int("batch_normalize", 0)
        layer.flipped = section.int("flipped", 0)
        if layer.activation not in FORWARD:
            raise section.error(f"unknown activation '{layer.activation}'", "activation")
        if min(layer.filters, layer.size, layer.stride, layer.groups) < 1 or layer.padding < 0:
            raise section.error("filters, size, stride and groups must be positive")
        layer.reshape(in_shape, layers)
        c = in_shape[0]
        n, k, g = layer.filters, layer.size, layer.groups
        if c % g or n % g:
            raise section.error(f"groups={g} must divide the {c} input channels and the {n} filters", "groups")
        # make_convolutional_layer: scale = sqrt(2/(size*size*c/groups)), weights ~ scale*N(0,1).
        scale = np.sqrt(2.0 / (k * k * c / g))
        layer.weights = (scale * np.random.standard_normal((n, c // g, k, k))).astype(np.float32)
        layer.biases = np.zeros(n, np.float32)
        if layer.batch_normalize:
            layer.init_batchnorm(n)
        return layer

    def reshape(self, in_shape, layers):
        c, h, w = in_shape
        out_h = conv_out_size(h, self.size, self.stride, self.padding)
        out_w = conv_out_size(w, self.size, self.stride, self.padding)
        if out_h < 1 or out_w < 1:
            raise self.error(f"a {self.size}x{self.size}/{self.stride} convolution cannot take a {w}x{h} input")
        self.in_shape, self.out_shape = in_shape, (self.filters, out_h, out_w)

    @property
    def bflops(self):
        c = self.in_shape[0]
        _, out_h, out_w = self.out_shape
        return 2.0 * self.filters * self.size * self.size * c / self.groups * out_h * out_w / 1e9

    def forward(self, x, net):
        xp = array_module(x)
        n, out_h, out_w = self.out_shape
        b = x.shape[0]
        g = self.groups
        weights = xp.asarray(self.weights).reshape(g, n // g, -1)
        if self.size == 1 and self.stride == 1 and self.padding == 0:  # Darknet skips im2col for 1x1
            cols = x.reshape(b, x.shape[1], out_h * out_w)
        else:
            cols = im2col(x, self.size, self.stride, self.padding, out_h, out_w)
        cols = cols.reshape(b, g, -1, out_h * out_w)
        out = xp.matmul(weights[None], cols).reshape(b, n, out_h, out_w)
        if self.batch_normalize:
            bn_inference(out, xp.asarray(self.scales), xp.asarray(self.biases),
                         xp.asarray(self.rolling_mean), xp.asarray(self.rolling_variance))
        else:
            out += xp.asarray(self.biases).reshape(1, n, 1, 1)
        self.output = activate(self.activation, out)
        return self.output

    def summary(self, index):
        c, h, w = self.in_shape
        n, oh, ow = self.out_shape
        k, s = self.size, self.stride
        return (f"conv  {n:5d} {k:2d} x{k:2d} /{s:2d}  {w:4d} x{h:4d} x{c:4d}   ->  "
                f"{ow:4d} x{oh:4d} x{n:4d}  {self.bflops:5.3f} BFLOPs")
