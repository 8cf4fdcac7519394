"""A Darknet network: built from a .cfg, run layer by layer (`network.c`, `parser.c: parse_network_cfg`)."""
import numpy as np

from .backend import array_module
from .cfg import parse_cfg, warn_unused
from .errors import DarknetError
from .layers import LAYER_TYPES


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
        if min(self.w, self.h, self.c) < 1:
            raise net.error("[net] needs positive width, height and channels")
        self.read_training_options(net)
        self.seen = 0  # images trained on, kept in the weights header
        self.layers = []
        shape = (self.c, self.h, self.w)
        for section in sections[1:]:
            layer = LAYER_TYPES[section.type].from_cfg(section, shape, self.layers)
            self.layers.append(layer)
            shape = layer.out_shape
        if not self.layers:
            raise net.error("the network has no layers")
        for section in sections:
            warn_unused(section)

    @classmethod
    def from_cfg(cls, path):
        return cls(parse_cfg(path))

    def read_training_options(self, net):
        """parse_net_options: the hyper-parameters training reads (kept as Darknet names them)."""
        self.batch_size = net.int("batch", 1)
        self.subdivisions = max(1, net.int("subdivisions", 1))
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
        self.center = net.int("center", 0)
        for key in ("step", "scale", "steps", "scales", "gamma"):
            net.str(key)  # read by the training code from net_section; marked used here

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

    def forward(self, x):
        """Run every layer on x (batch, c, h, w); returns the network output (the last non-cost layer's)."""
        xp = array_module(x)
        x = xp.asarray(x, dtype=np.float32)
        if x.ndim == 3:
            x = x[None]
        if x.shape[1:] != self.input_shape:
            c, h, w = self.input_shape
            raise DarknetError(f"network input must be {c}x{h}x{w} (c x h x w), got {'x'.join(map(str, x.shape[1:]))}")
        for layer in self.layers:
            x = layer.forward(x, self)
        return self.output_layer.output

    predict = forward

    def resize(self, w, h):
        """resize_network: a new input size for every layer, same weights."""
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

    def load_weights(self, path, cutoff=None, allow_partial=False):
        from .weights import load_weights
        load_weights(self, path, cutoff, allow_partial)
        return self

    def save_weights(self, path, cutoff=None):
        from .weights import save_weights
        save_weights(self, path, cutoff)
