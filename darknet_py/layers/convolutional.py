"""[convolutional] (`convolutional_layer.c`, `im2col.c`): im2col + GEMM, then batchnorm or bias, then activation.

`binary=1` convolves with binarized weights (each filter's sign times its mean |w|, binarize_weights);
`xnor=1` binarizes the weights and the input (+1 where x > 0, else -1, binarize_cpu). Darknet's CPU
forward binarizes only for xnor (its one trace of `binary` swaps the weight pointers of a by-value copy of the
layer, to binary weights it never computed), so a CPU build runs binary=1 layers on the real weights.
Its GPU forward binarizes for both; we follow the GPU (see README, "Where Darknet has bugs"). Training follows the GPU
backward too: the weight gradient against the (binarized) input the forward saw, the input delta through
the binarized weights and, for xnor, the hardtan gradient of the real input (a straight-through
estimator); the real weights are the ones updated and saved.
"""
import numpy as np

from ..cpu.threads import run_parts, run_slices
from ..gpu.device import array_module
from .activations import activate, gradient
from .activations import from_cfg as activation_from_cfg
from .base import Layer
from .batchnorm import BatchnormParams


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


def col2im(cols, size, stride, padding, h, w):
    """The adjoint of im2col: (B, C*size*size, out_h*out_w) -> (B, C, h, w), overlapping taps summed (col2im_cpu)."""
    xp = array_module(cols)
    b = cols.shape[0]
    c = cols.shape[1] // (size * size)
    out_h, out_w = conv_out_size(h, size, stride, padding), conv_out_size(w, size, stride, padding)
    cols = cols.reshape(b, c, size, size, out_h, out_w)
    padded = xp.zeros((b, c, h + 2 * padding, w + 2 * padding), cols.dtype)
    for ky in range(size):
        for kx in range(size):
            rows = slice(ky, ky + stride * (out_h - 1) + 1, stride)
            columns = slice(kx, kx + stride * (out_w - 1) + 1, stride)
            padded[:, :, rows, columns] += cols[:, :, ky, kx]
    return padded[:, :, padding:padding + h, padding:padding + w]


def binarize_weights(weights):
    """binarize_weights: per filter (first axis), +mean|w| where w > 0, else -mean|w|."""
    xp = array_module(weights)
    flat = weights.reshape(weights.shape[0], -1)
    mean = xp.abs(flat).sum(axis=1, keepdims=True, dtype=np.float64) / flat.shape[1]
    mean = mean.astype(weights.dtype)
    return xp.where(flat > 0, mean, -mean).reshape(weights.shape)


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
        layer.activation = activation_from_cfg(section, "logistic")  # Darknet's default is logistic
        layer.batch_normalize = section.int("batch_normalize", 0)
        layer.flipped = section.int("flipped", 0)
        layer.binary = section.int("binary", 0)
        layer.xnor = section.int("xnor", 0)
        section.float("dot", 0)  # parse_convolutional reads it for a GPU debugging aid (dot_error_gpu)
        for key in ("filters", "size", "stride", "groups"):
            value = getattr(layer, key)
            if value < 1:
                raise section.error(f"filters, size, stride and groups must be positive, got {key}={value}", key)
        if layer.padding < 0:
            raise section.error(f"padding must not be negative, got {layer.padding}", "padding")
        layer.reshape(in_shape, layers)
        c = in_shape[0]
        n, k, g = layer.filters, layer.size, layer.groups
        if c % g or n % g:
            raise section.error(f"groups={g} must divide the {c} input channels and the {n} filters", "groups")
        layer.check_weights_memory(n * c // g * k * k)
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
        """im2col + GEMM and the activation split over the batch on the cpu/threads pool (one BLAS thread
        each); batchnorm in between needs the whole batch. Training keeps the columns for backward."""
        xp = array_module(x)
        n, out_h, out_w = self.out_shape
        b, g = x.shape[0], self.groups
        weights = self.forward_weights(xp, x.dtype).reshape(g, n // g, -1)
        if self.xnor:
            self.real_input = x  # the backward's hardtan gradient is of the input before binarization
            x = xp.where(x > 0, x.dtype.type(1), x.dtype.type(-1))
        out = xp.empty((b, n, out_h, out_w), xp.result_type(weights, x))
        columns = []

        def gemm(s):
            cols = self._columns(x[s])
            xp.matmul(weights[None], cols, out=out[s].reshape(cols.shape[0], g, n // g, out_h * out_w))
            columns.append((s, cols))
        run_slices(gemm, b)
        # in batch order, whatever order the slices finished in, so backward sums them deterministically
        self.train_columns = sorted(columns, key=lambda part: part[0].start) if net.train else None
        self.normalize_or_add_bias(out, net)

        def activation(s):
            out[s] = activate(self.activation, out[s])
        run_slices(activation, b)
        self.output = out
        return out

    def forward_weights(self, xp, dtype):
        """The weights the GEMMs use: binarized for binary/xnor layers, else the layer's own."""
        weights = xp.asarray(self.weights, dtype)
        return binarize_weights(weights) if self.binary or self.xnor else weights

    @property
    def _is_1x1(self):
        return self.size == 1 and self.stride == 1 and self.padding == 0

    def _columns(self, x):
        """The input as GEMM columns (B, groups, c/groups*size*size, out_h*out_w); Darknet skips im2col for 1x1."""
        _, out_h, out_w = self.out_shape
        b = x.shape[0]
        if self._is_1x1:
            cols = x.reshape(b, x.shape[1], out_h * out_w)
        else:
            cols = im2col(x, self.size, self.stride, self.padding, out_h, out_w)
        return cols.reshape(b, self.groups, -1, out_h * out_w)

    def backward(self, x, delta, net):
        """backward_convolutional_layer: activation gradient, batchnorm or bias, weight updates, input delta.

        Uses the columns the training forward kept; the GEMMs and col2im run per batch slice on the pool,
        each slice's weight gradient summed image by image (Darknet's gemm with beta=1), then the slices'.
        """
        xp = array_module(x)
        n, out_h, out_w = self.out_shape
        b, g = x.shape[0], self.groups
        d = self.delta

        def activation_gradient(s):
            d[s] *= gradient(self.activation, self.output[s])
        run_slices(activation_gradient, b)
        self.normalize_or_add_bias_backward(d)
        d = d.reshape(b, g, n // g, out_h * out_w)
        weights = self.forward_weights(xp, d.dtype).reshape(g, n // g, -1)
        gradients = [None] * len(self.train_columns)

        def slice_backward(part):
            # Image by image, as Darknet: one image's input-delta columns at a time stay small (a whole
            # slice's were hundreds of MB, allocated afresh every step).
            s, cols = self.train_columns[part]
            total, product = (xp.zeros((g, n // g, cols.shape[2]), d.dtype) for _ in range(2))
            dcols = None if delta is None else xp.empty((g, cols.shape[2], out_h * out_w), d.dtype)
            for i in range(cols.shape[0]):
                xp.matmul(d[s.start + i], cols[i].transpose(0, 2, 1), out=product)
                total += product
                if dcols is None:  # the first layer: Darknet's net.delta is NULL
                    continue
                xp.matmul(weights.transpose(0, 2, 1), d[s.start + i], out=dcols)
                image_delta = delta[s.start + i:s.start + i + 1]
                if self._is_1x1:
                    # gemm(1,0,...,beta=0) writes straight into net.delta: a 1x1 convolution overwrites the
                    # delta already accumulated there (e.g. by a route), as Darknet does.
                    image_delta[...] = dcols.reshape(image_delta.shape)
                else:
                    _, h, w = self.in_shape
                    image_delta += col2im(dcols.reshape(1, -1, out_h * out_w), self.size, self.stride,
                                          self.padding, h, w)
            gradients[part] = total
        run_parts(slice_backward, len(self.train_columns))
        self.train_columns = None
        self.accumulate("weight_updates", sum(gradients[1:], gradients[0]).reshape(self.weights.shape))
        if self.xnor and delta is not None:  # backward_convolutional_layer_gpu: the straight-through estimator
            delta *= gradient("hardtan", self.real_input)

    def summary(self, index):
        c, h, w = self.in_shape
        n, oh, ow = self.out_shape
        k, s = self.size, self.stride
        return (f"conv  {n:5d} {k:2d} x{k:2d} /{s:2d}  {w:4d} x{h:4d} x{c:4d}   ->  "
                f"{ow:4d} x{oh:4d} x{n:4d}  {self.bflops:5.3f} BFLOPs")
