"""The GPU forward plan: a network's forward pass as a fixed list of kernel launches and GEMMs.

A `Plan` is built once per (batch, width, height): every layer's output buffer is allocated up front,
parameters are copied to the device, and each layer becomes a few steps - cuBLAS GEMMs (cupy.matmul)
and the hand-written kernels of `kernels/`. Because nothing is allocated while it runs, the whole pass
can be captured as a CUDA graph and replayed with one launch (what makes batch-1 latency low).

Layout: buffers are (C, B, H, W) - channel-major over the batch - so a convolution of the whole batch is
one GEMM, weights (n, C*k*k) x im2col (C*k*k, B*H*W). With B == 1 this is Darknet's layout. `layer.output`
is set to a (B, C, H, W) view of each buffer, so per-layer inspection works as on the CPU.

Layers without a kernel here ([local], [crop], [detection], binary/xnor convolutions, [reorg] flatten/extra,
the CPU-build region tree) run their own `forward` on CuPy arrays (one `xp` code path); such a plan is not
captured as a graph.

Precision: float32 throughout, as Darknet. The fast mode (`half=True`, the CLI's -half) runs the GEMMs
on TF32 tensor cores (10-bit mantissa inputs, float32 accumulation); kernels and buffers stay float32.
bench/bench_gpu.py measures its speed and its difference from float32.

Runners: the plan calls `runner.launch(file, kernel, count, *args)` and `runner.matmul(a, b, out)`;
`CupyRunner` runs them on the GPU. tests/gpu/kernel_host.py runs the same plan on the CPU with the kernels
compiled as C++ - how the kernels and this file are checked where there is no GPU.
"""
import numpy as np

from ..boxes import detections_from_rows
from ..image import letterbox_size
from ..layers.batchnorm import BN_EPSILON
from .device import cupy, get_kernel, to_numpy

# Darknet's ACTIVATION enum order; kernels/activations.cuh numbers them the same way.
ACTIVATION_CODES = ("logistic", "relu", "relie", "linear", "ramp", "tanh", "plse", "leaky", "elu", "loggy",
                    "stair", "hardtan", "lhtan", "selu")
THREADS = 256  # threads per block of every launch: one thread per output element
MAX_TREE_DEPTH = 64  # kernels/region.cu region_decode: deeper WordTrees are decoded on the host
MAX_ELEMENTS = 2**31 - 1  # kernels index with int


def _kernel_arg(a):
    """CuPy passes Python scalars as 64-bit; the kernels take int and float."""
    if isinstance(a, (bool, int, np.integer)):
        return np.int32(a)
    if isinstance(a, (float, np.floating)):
        return np.float32(a)
    return a


class CupyRunner:
    """Runs a plan's steps on the current GPU; tf32=True: GEMMs on TF32 tensor cores (the fast mode)."""

    def __init__(self, tf32=False):
        self.xp = cupy
        self.tf32 = tf32

    def launch(self, file, name, count, *args):
        blocks = (count + THREADS - 1) // THREADS
        get_kernel(file, name)((blocks,), (THREADS,), tuple(_kernel_arg(a) for a in args))

    def matmul(self, a, b, out):
        if not self.tf32:
            cupy.matmul(a, b, out=out)
            return
        # CuPy picks cuBLAS's compute type per call from a process-wide setting (what CUPY_TF32=1 sets at
        # start); switch it for this GEMM only, so float32 work elsewhere stays float32.
        from cupy._core import _routines_linalg as linalg
        previous = linalg.get_compute_type(np.float32)
        linalg.set_compute_type(np.float32, linalg.COMPUTE_TYPE_TF32)
        try:
            cupy.matmul(a, b, out=out)
        finally:
            linalg.set_compute_type(np.float32, previous)


def bn_denominator(rolling_variance):
    """bn_inference's per-channel divisor sqrt(var) + 1e-6, computed in double as Darknet's C does."""
    return (np.sqrt(np.asarray(rolling_variance, np.float64)) + np.float32(BN_EPSILON)).astype(np.float32)


class Plan:
    """The forward pass of `net` for `batch` images at the network's current size, on `runner`."""

    def __init__(self, net, batch, runner):
        self.net, self.batch, self.runner, self.xp = net, batch, runner, runner.xp
        self.steps = []
        self.buffers = []  # every layer's output buffer (C, B, H, W), in layer order (aliases repeat)
        self.capturable = True  # False once a layer falls back to its own forward (it allocates)
        self.input = self._buffer(net.input_shape)
        self.cols = self.xp.empty(self._cols_size(), np.float32)
        x = self.input
        for layer in net.layers:
            build = self._BUILDERS.get(layer.type) if self._has_kernels(layer) else None
            x = getattr(self, build)(layer, x) if build else self._fallback(layer, x)
            self.buffers.append(x)
        c, h, w = net.output_layer.out_shape
        self.result = self.xp.empty((batch, c, h, w), np.float32)
        out = self.buffers[net.layers.index(net.output_layer)]
        self.steps.append(lambda: self._copy(self.result, self.batch_view(out)))

    # -- buffers and views

    def _buffer(self, shape):
        c, h, w = shape
        if c * self.batch * h * w > MAX_ELEMENTS:
            raise ValueError(f"a {c}x{h}x{w} output for {self.batch} images is too large for int indexing")
        return self.xp.empty((c, self.batch, h, w), np.float32)

    def batch_view(self, buffer):
        """The (B, C, H, W) view of a (C, B, H, W) buffer."""
        return buffer.transpose(1, 0, 2, 3)

    def set_layer_outputs(self):
        for layer, buffer in zip(self.net.layers, self.buffers):
            layer.output = self.batch_view(buffer)

    def _cols_size(self):
        sizes = [1]
        for layer in self.net.layers:
            if layer.type == "convolutional" and not self._is_pointwise(layer):
                c = layer.in_shape[0]
                _, oh, ow = layer.out_shape
                sizes.append(c * layer.size * layer.size * self.batch * oh * ow)
        if max(sizes) > MAX_ELEMENTS:
            raise ValueError(f"im2col for {self.batch} images needs {max(sizes)} floats; use a smaller batch")
        return max(sizes)

    @staticmethod
    def _is_pointwise(layer):
        return layer.size == 1 and layer.stride == 1 and layer.padding == 0

    @staticmethod
    def _has_kernels(layer):
        if layer.type == "reorg":
            return not (layer.extra or layer.flatten)
        if layer.type == "region":
            return not (layer.tree is not None and layer.darknet_cpu_tree_layout)
        if layer.type == "convolutional":
            return not (layer.binary or layer.xnor)
        return layer.type in Plan._BUILDERS

    def _copy(self, dst, src):
        dst[...] = src

    def run(self):
        for step in self.steps:
            step()

    # -- layers: each returns its output buffer after appending its steps

    _BUILDERS = {t: "_" + t for t in ("convolutional", "connected", "batchnorm", "maxpool", "avgpool", "reorg",
                                      "route", "region", "softmax", "dropout", "cost", "upsample", "yolo",
                                      "shortcut")}

    def _launch(self, file, name, count, *args):
        self.steps.append(lambda: self.runner.launch(file, name, count, *args))

    def _epilogue(self, layer, out, spatial, activation):
        """Batchnorm or bias, then the activation, over out (channels, spatial) in place."""
        xp = self.xp
        act = ACTIVATION_CODES.index(activation)
        channels = out.size // spatial
        biases = xp.asarray(layer.biases)
        if getattr(layer, "batch_normalize", 0) or layer.type == "batchnorm":
            mean, scales = xp.asarray(layer.rolling_mean), xp.asarray(layer.scales)
            denom = xp.asarray(bn_denominator(layer.rolling_variance))
            self._launch("epilogue.cu", "batchnorm_activate_forward", out.size, out, mean, denom, scales, biases,
                         channels, spatial, act)
        else:
            self._launch("epilogue.cu", "bias_activate_forward", out.size, out, biases, channels, spatial, act)

    def _convolutional(self, layer, x):
        c, h, w = layer.in_shape
        n, oh, ow = layer.out_shape
        k, g = layer.size, layer.groups
        out = self._buffer(layer.out_shape)
        spatial = self.batch * oh * ow
        if self._is_pointwise(layer):  # Darknet skips im2col for 1x1: the input is the matrix
            cols = x.reshape(c, spatial)
        else:
            cols = self.cols[:c * k * k * spatial].reshape(c * k * k, spatial)
            self._launch("im2col.cu", "im2col_forward", cols.size, x, cols, c, self.batch, h, w, k, layer.stride,
                         layer.padding, oh, ow)
        weights = self.xp.asarray(layer.weights.reshape(n, -1))
        out2d = out.reshape(n, spatial)
        m, kg = n // g, c // g * k * k
        for j in range(g):  # a group's filters see only its channels: consecutive rows of cols
            a, b, o = weights[j * m:(j + 1) * m], cols[j * kg:(j + 1) * kg], out2d[j * m:(j + 1) * m]
            self.steps.append(lambda a=a, b=b, o=o: self.runner.matmul(a, b, o))
        self._epilogue(layer, out, spatial, layer.activation)
        return out

    def _connected(self, layer, x):
        c, h, w = layer.in_shape
        inputs = c * h * w
        out = self._buffer(layer.out_shape)
        if self.batch == 1 or h * w == 1:  # (C, B, H, W) is already (inputs, B)
            xt = x.reshape(inputs, self.batch)
        else:
            xt = self.xp.empty((inputs, self.batch), np.float32)
            source = x.reshape(c, self.batch, h * w).transpose(0, 2, 1)
            self.steps.append(lambda: self._copy(xt.reshape(c, h * w, self.batch), source))
        weights = self.xp.asarray(layer.weights)
        out2d = out.reshape(layer.n_outputs, self.batch)
        self.steps.append(lambda: self.runner.matmul(weights, xt, out2d))
        self._epilogue(layer, out, self.batch, layer.activation)
        return out

    def _batchnorm(self, layer, x):
        out = self._buffer(layer.out_shape)
        self.steps.append(lambda: self._copy(out, x))
        c, h, w = layer.in_shape
        self._epilogue(layer, out, self.batch * h * w, "linear")  # [batchnorm] has no activation
        return out

    def _maxpool(self, layer, x):
        c, h, w = layer.in_shape
        _, oh, ow = layer.out_shape
        out = self._buffer(layer.out_shape)
        self._launch("maxpool.cu", "maxpool_forward", out.size, x, out, c * self.batch, h, w, layer.size,
                     layer.stride, layer.padding, oh, ow)
        return out

    def _avgpool(self, layer, x):
        c, h, w = layer.in_shape
        out = self._buffer(layer.out_shape)
        self._launch("avgpool.cu", "avgpool_forward", out.size, x, out, c * self.batch, h * w)
        return out

    def _reorg(self, layer, x):
        c, h, w = layer.in_shape
        _, oh, ow = layer.out_shape
        out = self._buffer(layer.out_shape)
        self._launch("reorg.cu", "reorg_forward", out.size, x, out, w, h, c, self.batch, layer.stride,
                     int(bool(layer.reverse)), h * w, oh * ow)
        return out

    def _route(self, layer, x):
        out = self._buffer(layer.out_shape)
        offset = 0
        for j in layer.indices:  # each source is one contiguous block of (C, B, H, W)
            source = self.buffers[j]
            self._launch("route.cu", "route_forward", source.size, source, out, source.size, offset)
            offset += source.size
        return out

    def _region(self, layer, x):
        c, h, w = layer.in_shape
        plane, inputs = h * w, c * h * w
        out = self._buffer(layer.out_shape)
        tree = layer.tree
        self._launch("region.cu", "region_forward", out.size, x, out, layer.num, layer.entries, self.batch,
                     plane, layer.coords, layer.background, int(tree is None and not layer.softmax))
        first = (layer.coords + (0 if layer.background else 1)) * plane  # entry_index(l, 0, 0, first class)
        anchors = self.batch * layer.num
        if tree is not None:
            offsets, sizes = self._tree_arrays(tree)
            self._launch("softmax.cu", "softmax_tree_forward", anchors * plane * tree.groups, out, out, offsets,
                         sizes, tree.groups, anchors, inputs // layer.num, plane, first, float(layer.temperature),
                         inputs, self.batch, plane)
        elif layer.softmax:
            self._launch("softmax.cu", "softmax_forward", anchors * plane, out, out,
                         layer.classes + layer.background, anchors, inputs // layer.num, plane, 1, plane, 1.0,
                         first, inputs, self.batch, plane)
        return out

    def _softmax(self, layer, x):
        c, h, w = layer.in_shape
        inputs = c * h * w
        out = self._buffer(layer.out_shape)
        tree = layer.tree
        if tree is not None:
            if tree.n < inputs:  # forward_softmax_layer leaves the entries past the tree at 0
                self.steps.append(lambda: out.fill(0))
            offsets, sizes = self._tree_arrays(tree)
            self._launch("softmax.cu", "softmax_tree_forward", self.batch * tree.groups, x, out, offsets, sizes,
                         tree.groups, self.batch, inputs, 1, 0, float(layer.temperature), inputs, self.batch, h * w)
        else:
            n = inputs // layer.groups
            self._launch("softmax.cu", "softmax_forward", self.batch * layer.groups, x, out, n, self.batch,
                         inputs, layer.groups, n, 1, float(layer.temperature), 0, inputs, self.batch, h * w)
        return out

    def _upsample(self, layer, x):
        c, h, w = layer.out_shape if layer.reverse else layer.in_shape  # the small side
        out = self._buffer(layer.out_shape)
        self._launch("upsample.cu", "upsample_forward", out.size, x, out, c * self.batch, h, w, layer.stride,
                     float(layer.scale), int(layer.reverse))
        return out

    def _yolo(self, layer, x):
        _, h, w = layer.in_shape
        out = self._buffer(layer.out_shape)
        self._launch("yolo.cu", "yolo_forward", out.size, x, out, layer.num, layer.entries, self.batch, h * w)
        return out

    def _shortcut(self, layer, x):
        c, h, w = layer.out_shape
        fc, fh, fw = layer.from_shape
        out = self._buffer(layer.out_shape)
        self._launch("shortcut.cu", "shortcut_forward", out.size, x, self.buffers[layer.index], out, c, self.batch,
                     h, w, fc, fh, fw, float(layer.alpha), float(layer.beta), ACTIVATION_CODES.index(layer.activation))
        return out

    def _tree_arrays(self, tree):
        return (self.xp.asarray(tree.group_offset.astype(np.int32)),
                self.xp.asarray(tree.group_size.astype(np.int32)))

    def _dropout(self, layer, x):
        return x  # Darknet points a dropout layer's output at its input

    def _cost(self, layer, x):
        out = self._buffer(layer.out_shape)
        self.steps.append(lambda: out.fill(0))  # Darknet never writes it at inference
        return out

    def _fallback(self, layer, x):
        """The layer's own forward on (B, C, H, W) CuPy views, copied into its buffer."""
        self.capturable = False
        out = self._buffer(layer.out_shape)
        net = self.net

        def step():
            self.set_layer_outputs()  # the layers it reads (route, shortcut) see their buffers
            self._copy(self.batch_view(out), layer.forward(self.batch_view(x), net))
        self.steps.append(step)
        return out

    # -- detections

    def can_decode(self, class_map=None):
        """Whether region_decode decodes this network's output: a [region] last layer with kernels; a tree
        only with a class map, every parent before its children and depth below MAX_TREE_DEPTH (else
        boxes.region_detections decodes on the host, as for the top-prediction tree decoding)."""
        layer = self.net.output_layer
        others = [other for other in self.net.layers if other.type in ("yolo", "detection")]
        if layer.type != "region" or others or not self._has_kernels(layer):
            return False
        tree = layer.tree
        return tree is None or (class_map is not None and tree.levels is not None
                                and len(tree.levels) < MAX_TREE_DEPTH)

    def decode(self, sizes, thresh, class_map=None, relative=True):
        """get_region_detections + correct_region_boxes of every image on the device (region_decode);
        returns (indices, rows) of the detections with a nonzero objectness, still on the device.
        sizes: each image's (width, height)."""
        xp, layer = self.xp, self.net.output_layer
        _, h, w = layer.out_shape
        tree = layer.tree
        map_size = len(class_map) if tree is not None else 0  # Darknet uses the map for trees only
        rows = xp.empty((self.batch * layer.num * h * w, 5 + (map_size or layer.classes)), np.float32)
        parents = tree.parent if tree is not None else np.zeros(1)
        mapping = class_map if map_size else np.zeros(1)
        ints = [xp.asarray(np.asarray(a, np.int32).reshape(-1)) for a in (sizes, parents, mapping)]
        self.runner.launch("region.cu", "region_decode", len(rows), self.buffers[self.net.layers.index(layer)],
                           rows, xp.asarray(layer.biases, np.float32), *ints, layer.num, layer.entries, self.batch,
                           w, h, layer.coords, int(bool(layer.background)), layer.classes, map_size, float(thresh),
                           self.net.w, self.net.h, int(relative))
        keep = xp.flatnonzero(rows[:, 4] > 0)
        return keep, rows[keep]

    def detections(self, sizes, thresh, class_map=None, relative=True):
        """decode's results brought to the host as one full region_detections list per image."""
        layer = self.net.output_layer
        _, h, w = layer.out_shape
        per_image = layer.num * h * w
        keep, rows = (to_numpy(a) for a in self.decode(sizes, thresh, class_map, relative))
        image = keep // per_image
        return [detections_from_rows(keep[image == b] % per_image, rows[image == b], per_image)
                for b in range(self.batch)]

    # -- images

    def letterbox(self, bgr, image):
        """Letterbox an 8-bit BGR (H, W, 3) image into image `image` of the plan's input (Darknet's
        letterbox_image of load_image_color). `bgr` must be on the runner's device."""
        c, h, w = self.net.input_shape
        im_h, im_w = bgr.shape[:2]
        new_w, new_h = letterbox_size(im_w, im_h, w, h)
        if new_h < 2:
            raise ValueError(f"darknet's resize_image is undefined for height {new_h}")
        # resize_image's scales, in float32 as the C computes them (unused where a side is 1)
        w_scale = np.float32(im_w - 1) / np.float32(max(new_w - 1, 1))
        h_scale = np.float32(im_h - 1) / np.float32(new_h - 1)
        self.runner.launch("letterbox.cu", "letterbox_forward", 3 * h * w, bgr, self.input, im_w, im_h, w, h,
                           new_w, new_h, (w - new_w) // 2, (h - new_h) // 2, w_scale, h_scale, image, self.batch)
