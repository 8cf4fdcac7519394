"""[local] (`local_layer.c`): a locally connected layer, a convolution whose filters differ at every output pixel.

Weights are Darknet's layout, one (filters x c*size*size) matrix per output location, location-major:
(out_h*out_w, filters, c*size*size), the columns in im2col's (c, ky, kx) order; biases are one per output
value, (filters, out_h, out_w). YOLOv1 uses it (3x3, 1024 -> 256 channels on its 7x7 grid).
"""
import numpy as np

from ..gpu.device import array_module
from .activations import activate, gradient
from .activations import from_cfg as activation_from_cfg
from .base import Layer
from .convolutional import col2im, im2col


def local_out_size(size_in, size, stride, pad):
    """local_out_height/width: (in - size)/stride + 1 without pad, (in - 1)/stride + 1 with it."""
    return (size_in - (1 if pad else size)) // stride + 1


class LocalLayer(Layer):
    type = "local"

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        layer.filters = section.int("filters", 1)
        layer.size = section.int("size", 1)
        layer.stride = section.int("stride", 1)
        layer.pad = section.int("pad", 0)  # parse_local: the padding itself, not a flag as in [convolutional]
        layer.activation = activation_from_cfg(section, "logistic")
        if min(layer.filters, layer.size, layer.stride) < 1 or layer.pad < 0:
            raise section.error("filters, size and stride must be positive")
        layer.reshape(in_shape, layers)
        c = in_shape[0]
        k = c * layer.size * layer.size
        # make_local_layer: scale * U(-1, 1) with scale = sqrt(2/(size*size*c)); Darknet fills only the first
        # location's weights (its loop stops at c*n*size*size), we fill every location.
        scale = np.sqrt(2. / k)
        layer.weights = (scale * np.random.uniform(-1, 1, (layer.locations, layer.filters, k))).astype(np.float32)
        layer.biases = np.zeros(layer.out_shape, np.float32)
        return layer

    @property
    def locations(self):
        _, h, w = self.out_shape
        return h * w

    def reshape(self, in_shape, layers):
        c, h, w = in_shape
        out_h = local_out_size(h, self.size, self.stride, self.pad)
        out_w = local_out_size(w, self.size, self.stride, self.pad)
        if out_h < 1 or out_w < 1:
            raise self.error(f"a {self.size}x{self.size}/{self.stride} local layer cannot take a {w}x{h} input")
        # im2col_cpu sizes its columns itself; where that differs from local_out_*, Darknet reads past them.
        if self.pad and (h + 2 * self.pad - self.size) // self.stride + 1 != out_h:
            raise self.error(f"[local] with pad={self.pad} needs size={2 * self.pad + 1} (Darknet's output size "
                             f"and its im2col disagree otherwise)")
        if self.in_shape is not None and self.out_shape != (self.filters, out_h, out_w):
            raise self.error("a [local] layer's weights are per output pixel: it cannot be resized")
        self.in_shape, self.out_shape = in_shape, (self.filters, out_h, out_w)

    def _columns(self, x):
        """(B, L, K) -> the im2col columns of each location as rows, (L, K, B) for the batched matmul."""
        _, out_h, out_w = self.out_shape
        return im2col(x, self.size, self.stride, self.pad, out_h, out_w).transpose(2, 1, 0)

    def forward(self, x, net):
        """forward_local_layer: biases, then each location's filters times its own im2col column."""
        xp = array_module(x)
        b = x.shape[0]
        weights = xp.asarray(self.weights, x.dtype)
        out = xp.matmul(weights, self._columns(x))  # (L, n, B)
        out = out.transpose(2, 1, 0).reshape((b,) + self.out_shape) + xp.asarray(self.biases, x.dtype)
        self.output = activate(self.activation, out)
        return self.output

    def backward(self, x, delta, net):
        """backward_local_layer: activation gradient, bias and weight updates per location, and the input
        delta through each location's filters, col2im added into net.delta."""
        xp = array_module(x)
        b = x.shape[0]
        n = self.filters
        d = self.delta
        d *= gradient(self.activation, self.output)
        self.accumulate("bias_updates", d.sum(axis=0))
        per_location = d.reshape(b, n, self.locations).transpose(2, 1, 0)  # (L, n, B)
        cols = self._columns(x)  # (L, K, B)
        self.accumulate("weight_updates", xp.matmul(per_location, cols.transpose(0, 2, 1)))
        if delta is None:
            return
        dcols = xp.matmul(xp.asarray(self.weights, d.dtype).transpose(0, 2, 1), per_location)  # (L, K, B)
        _, h, w = self.in_shape
        delta += col2im(dcols.transpose(2, 1, 0), self.size, self.stride, self.pad, h, w)

    def summary(self, index):
        c, h, w = self.in_shape
        n, oh, ow = self.out_shape
        return f"Local Layer: {h} x {w} x {c} image, {n} filters -> {oh} x {ow} x {n} image"
