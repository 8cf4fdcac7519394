"""What every layer has, as Darknet's `struct layer` fields that all types share."""
from ..gpu.device import array_module, like


class Layer:
    """A Darknet layer. Shapes are (channels, height, width); arrays are (batch, c, h, w) float32.

    Subclasses set `type` (Darknet's section name), build from a cfg Section in `from_cfg`, compute their
    output shape in `reshape` (called at build and by Network.resize) and implement `forward`.
    For training they implement `backward(x, delta, net)`: x is the layer's input and delta the input's
    delta (None for the first layer). Layers with parameters add their gradients into `<name>_updates`
    arrays (`accumulate`); the optimiser (train/sgd.py) steps the parameters with them.
    """
    type = None

    def __init__(self):
        self.in_shape = self.out_shape = None
        self.output = None   # last forward's result, kept for inspection and for route/shortcut
        self.section = None  # the cfg Section this layer came from (for errors and per-layer options)
        # Training (Darknet's l.delta): target - output, i.e. the negative gradient of the loss w.r.t. the
        # output; zeroed before each training forward (forward_network), filled by the layers after this one.
        self.delta = None
        # parse_network_cfg's options that every layer takes (see read_common_options).
        self.dontload = self.dontloadscales = self.numload = self.dontsave = self.stopbackward = 0
        self.learning_rate_scale = 1.0

    def read_common_options(self, section):
        """The keys Darknet reads for every layer type: weight loading/saving, where backward stops,
        and a per-layer learning-rate multiplier (`learning_rate=` inside a layer section)."""
        self.dontload = section.int("dontload", 0)
        self.dontloadscales = section.int("dontloadscales", 0)
        self.numload = section.int("numload", 0)
        self.dontsave = section.int("dontsave", 0)
        self.stopbackward = section.int("stopbackward", 0)
        self.learning_rate_scale = section.float("learning_rate", 1)

    def accumulate(self, name, value):
        """self.<name> += value (Darknet's weight_updates, bias_updates, scale_updates), zeros on first use;
        Darknet accumulates them over a batch's subdivisions and the SGD step decays them by the momentum."""
        updates = getattr(self, name, None)
        if updates is None:
            updates = array_module(value).zeros_like(value)
            setattr(self, name, updates)
        updates += like(updates, value)

    @property
    def outputs(self):
        c, h, w = self.out_shape
        return c * h * w

    @property
    def inputs(self):
        c, h, w = self.in_shape
        return c * h * w

    def reshape(self, in_shape, layers):
        """Set in/out shapes for an input of `in_shape`; `layers` are the layers before this one."""
        self.in_shape = self.out_shape = in_shape

    def check_weights_memory(self, count):
        """Refuse `count` weights the machine cannot hold, before numpy draws them (filters=2000000000 would fail
        deep in numpy, or get the process killed while the pages fill)."""
        from ..cpu.heap import physical_memory
        need, have = 8 * count, physical_memory()  # drawn in float64, then kept as float32
        if need > have:
            raise self.error(f"{count} weights need {need / 2 ** 30:.1f} GiB to initialise, more than this "
                             f"machine's {have / 2 ** 30:.1f} GiB of memory")

    def set_loss(self, delta, cost, stats):
        """A loss layer's training forward: its delta (target - output), its cost and the line Darknet prints."""
        self.delta[...] = array_module(self.delta).asarray(delta).reshape(self.delta.shape)
        self.cost, self.stats = cost, stats
        print(stats.line())

    def error(self, message):
        from ..errors import CfgError
        if self.section is None:
            return CfgError("<network>", 0, message)
        return CfgError(self.section.path, self.section.line, message)

    def summary(self, index):
        """Darknet's line for this layer in the network table (without the index)."""
        return self.type
