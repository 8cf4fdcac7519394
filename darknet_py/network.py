"""A Darknet network: built from a .cfg, run layer by layer (`network.c`, `parser.c: parse_network_cfg`)."""
import numpy as np

from .cfg import parse_cfg, warn_unused
from .cpu import engine as cpu_engine
from .cpu.heap import keep_freed_memory, physical_memory
from .errors import DarknetError
from .gpu.device import array_module
from .layers import LAYER_TYPES

LOSS_LAYERS = ("softmax", "cost", "region", "yolo", "detection")  # the layer types with an l.cost (calc_network_cost)


class Network:
    """The layers of a .cfg and its [net] options. `forward` takes a (batch, c, h, w) float32 array.

    The batch size follows the input (Darknet's set_batch_network); `resize(w, h)` changes the input size
    and every layer's shape, keeping the weights (Darknet's resize_network).
    """

    def __init__(self, sections):
        net = sections[0]
        self.path = net.path
        self.net_section = net
        self.w = net.int("width", 0)
        self.h = net.int("height", 0)
        self.c = net.int("channels", 0)
        for key, value in (("width", self.w), ("height", self.h), ("channels", self.c)):
            if value < 1:
                raise net.error(f"[net] needs positive width, height and channels, got {key}={value}", key)
        self.read_training_options(net)
        warn_unused(net)
        self.seen = 0  # images trained on, kept in the weights header
        self.train = False  # Darknet's net.train: batch statistics, dropout and losses in forward
        self.truth = None   # net.truth: the current minibatch's targets, read by the loss layers
        self.input = None   # the last training minibatch (the first layer's weight gradients need it)
        self.layers = []
        shape = (self.c, self.h, self.w)
        for section in sections[1:]:
            layer = LAYER_TYPES[section.type].from_cfg(section, shape, self.layers)
            layer.read_common_options(section)
            warn_unused(section)  # as parse_network_cfg, section by section: a typo shows before what it breaks
            self.layers.append(layer)
            shape = layer.out_shape
        if not self.layers:
            raise net.error("the network has no layers")
        self.check_memory(1)

    @classmethod
    def from_cfg(cls, path):
        return cls(parse_cfg(path))

    def read_training_options(self, net):
        """parse_net_options: the hyper-parameters training reads (kept as Darknet names them); training refuses
        those it cannot run with (train/schedule.py: check_training_options)."""
        self.batch_size = net.int("batch", 1)
        self.subdivisions = net.int("subdivisions", 1)
        self.minibatch = max(1, self.batch_size // max(1, self.subdivisions))  # net->batch = batch/subdivisions
        self.learning_rate = net.float("learning_rate", .001)
        self.momentum = net.float("momentum", .9)
        self.decay = net.float("decay", .0001)
        self.max_batches = net.int("max_batches", 0)
        self.policy = net.str("policy", "constant")
        self.burn_in = net.int("burn_in", 0)
        self.power = net.float("power", 4)
        self.angle = net.float("angle", 0)
        self.aspect = net.float("aspect", 1)
        self.saturation = net.float("saturation", 1)
        self.exposure = net.float("exposure", 1)
        self.hue = net.float("hue", 0)
        self.max_crop = net.int("max_crop", self.w * 2)
        self.min_crop = net.int("min_crop", self.w)
        # classifier crops: shortest side between min_ratio*w and max_ratio*w (float ratios, as Darknet)
        self.max_ratio = net.float("max_ratio", float(np.float32(self.max_crop) / np.float32(self.w)))
        self.min_ratio = net.float("min_ratio", float(np.float32(self.min_crop) / np.float32(self.w)))
        self.center = net.int("center", 0)
        for key in ("step", "scale", "steps", "scales", "gamma"):
            net.str(key)  # read by the training code from net_section; marked used here

    @property
    def bytes_per_image(self):
        """float32 bytes every layer's output takes for one image (Darknet allocates them all at parse time)."""
        return 4 * sum(layer.outputs for layer in self.layers)

    def check_memory(self, batch):
        """Refuse a batch whose layer outputs need more memory than the machine has, before numpy tries (and
        fails deep inside, or the kernel kills the process while filling pages)."""
        need, have = batch * self.bytes_per_image, physical_memory()
        if need > have:
            raise self.net_section.error(
                f"{self.w}x{self.h} input{f' x {batch} images' if batch > 1 else ''}: the layer outputs need "
                f"{need / 2 ** 30:.1f} GiB, more than this machine's {have / 2 ** 30:.1f} GiB of memory")

    def first_nonfinite_layer(self):
        """The index of the first layer whose last output holds NaN or inf, None when the network's output is
        finite (what the commands warn about: garbage in the weights or the input)."""
        def finite(layer):
            return layer.output is None or bool(array_module(layer.output).isfinite(layer.output).all())
        if finite(self.output_layer):
            return None
        return next(i for i, layer in enumerate(self.layers) if not finite(layer))

    @property
    def input_shape(self):
        return (self.c, self.h, self.w)

    @property
    def output_layer(self):
        """get_network_output: the last layer that is not a [cost] layer."""
        for layer in reversed(self.layers):
            if layer.type != "cost":
                return layer
        return self.layers[-1]

    def forward(self, x, train=False, truth=None):
        """Run every layer on x (batch, c, h, w); returns the network output (the last non-cost layer's).

        train=True is forward_network with net.train=1: every layer's delta is zeroed first, batchnorm
        uses batch statistics, dropout drops, and loss layers (softmax, cost, region) compare with `truth`.
        Training keeps a float64 input in float64 (for gradient checks); otherwise x becomes float32.
        Arithmetic follows C's float semantics: NaN and inf propagate silently, as in Darknet (the commands
        warn once, naming the first layer: first_nonfinite_layer), not with a numpy warning at every layer.
        """
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            return self._forward(x, train, truth)

    def _forward(self, x, train, truth):
        xp = array_module(x)
        train_f64 = train and getattr(x, "dtype", None) == np.float64
        x = xp.asarray(x, dtype=np.float64 if train_f64 else np.float32)
        if x.ndim == 3:
            x = x[None]
        if x.shape[1:] != self.input_shape:
            c, h, w = self.input_shape
            raise self.net_section.error(f"the network takes {c}x{h}x{w} inputs (channels x height x width), got "
                                         f"{'x'.join(map(str, x.shape[1:]))}", "channels" if x.shape[1] != c else None)
        self.check_memory(x.shape[0])
        self.train, self.truth = train, truth
        if train:
            self.input = x
            for layer in self.layers:
                layer.delta = xp.zeros((x.shape[0],) + layer.out_shape, x.dtype)
                x = layer.forward(x, self)
            return self.output_layer.output
        if self.gpu is not None:  # kernels, cuBLAS and a CUDA graph: darknet_py/gpu (Network.to)
            return self.gpu.forward(x)
        if cpu_engine.use_fast_path(self, x):  # folded BN, Winograd, threads: darknet_py/cpu
            return cpu_engine.forward(self, x)
        for layer in self.layers:
            x = layer.forward(x, self)
        return self.output_layer.output

    def backward(self, input_delta=None, on_layer=None):
        """backward_network: from the last layer to the first, each adds into its input's delta.

        input_delta is Darknet's net.delta for the first layer: NULL in training (no input gradient);
        an array (B, c, h, w) receives the gradient w.r.t. the network input. on_layer(i), when given, is
        called after layer i's backward: its gradients (*_updates) are complete from then on.
        """
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):  # as forward
            for i in reversed(range(len(self.layers))):
                if self.layers[i].stopbackward:  # backward_network: nothing at or below this layer learns
                    break
                prev = self.layers[i - 1] if i else None
                x, delta = (prev.output, prev.delta) if prev else (self.input, input_delta)
                self.layers[i].backward(x, delta, self)
                if on_layer is not None:
                    on_layer(i)

    def forward_backward(self, x, truth, on_layer=None):
        """train_network_datum's forward_network and backward_network with net.train set, on the GPU
        when the network is on one (the SGD step is train/sgd.py's). on_layer: as in backward (the
        data-parallel trainer starts summing gradients there)."""
        if self.gpu is not None:
            self.gpu.forward_backward(x, truth, on_layer)
            return
        keep_freed_memory()  # each step reuses the last one's memory instead of faulting in new pages
        self.forward(x, train=True, truth=truth)
        self.backward(on_layer=on_layer)

    def parameters(self):
        """(layer, params) for every layer with weights: params holds the arrays the optimiser steps
        (weights, biases, scales and their *_updates) - the layer itself, or its copy on the GPU."""
        if self.gpu is not None:
            yield from self.gpu.parameters()
            return
        for layer in self.layers:
            if getattr(layer, "weights", None) is not None:
                yield layer, layer

    @property
    def cost(self):
        """calc_network_cost: the mean of the loss layers' costs (NaN, as Darknet's 0/0, when there are none)."""
        costs = [getattr(layer, "cost", 0.) for layer in self.layers if layer.type in LOSS_LAYERS]
        return sum(costs) / len(costs) if costs else float("nan")

    predict = forward

    gpu = None  # the GpuEngine that runs inference when the network is on a GPU (set by `to`)

    def to(self, device=None, half=False):
        """Run inference on `device`: "cpu", a GPU index, "cuda:N", or None for a GPU when CuPy sees one
        (gpu/device.py: select_device). Parameters are copied to the GPU when a plan is built, so call it after
        loading weights (and again after changing them by hand). train/sgd.py: train_datum then trains
        on that GPU too (gpu/train.py). half=True: the GPU's fast mode for inference (TF32 GEMMs, gpu/plan.py);
        no effect on the CPU."""
        from .gpu.device import select_device
        device = select_device(device)
        if device == "cpu":
            self.gpu = None
        else:
            from .gpu.engine import GpuEngine
            self.gpu = GpuEngine(self, device, half=half)
        return self

    def resize(self, w, h):
        """resize_network: a new input size for every layer, same weights. A size a layer cannot take (a
        [connected] layer's input changes, as Darknet's "Cannot resize this type of layer") is refused and
        the network stays at its size."""
        old = self.w, self.h
        try:
            self._reshape(w, h)
            self.check_memory(1)
        except DarknetError:
            self._reshape(*old)
            raise

    def _reshape(self, w, h):
        shape = (self.c, h, w)
        for i, layer in enumerate(self.layers):
            layer.reshape(shape, self.layers[:i])
            layer.output = None
            shape = layer.out_shape
        self.w, self.h = w, h

    def summary(self):
        """Darknet's layer table as parse_network_cfg prints it."""
        lines = ["layer     filters    size              input                output"]
        lines += [f"{i:5d} {layer.summary(i)}" for i, layer in enumerate(self.layers)]
        return "\n".join(lines)

    @property
    def bflops(self):
        return sum(getattr(layer, "bflops", 0) for layer in self.layers)

    def load_weights(self, path, cutoff=None, allow_partial=False, allow_nonfinite=False):
        """weights.load_weights: NaN or inf in the file is an error unless allow_nonfinite (to inspect a
        diverged run)."""
        from .weights import load_weights
        load_weights(self, path, cutoff, allow_partial, allow_nonfinite)
        return self

    def save_weights(self, path, cutoff=None):
        from .weights import save_weights
        if self.gpu is not None:  # parameters trained on the GPU come back first
            self.gpu.download_parameters()
        save_weights(self, path, cutoff)
