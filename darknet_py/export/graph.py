"""An ONNX graph under construction: nodes, constants and fresh names, plus the few compound ops the
layer builders share (slices along one axis, reshapes keeping the batch, Darknet's 14 activations)."""
import numpy as np
from onnx import TensorProto, helper, numpy_helper

F32 = np.float32
BATCH = -1  # Reshape's "whatever is left": the batch axis, so one graph takes any batch size


class Graph:
    def __init__(self):
        self.nodes, self.initializers = [], []
        self.prefix = ""  # put before every new name: the layer being built ("l12_"), so profiles name layers
        self._names = {}
        self._constants = {}

    def fresh(self, hint):
        """A name not used before: prefix + hint, then prefix + hint_1, hint_2, ..."""
        hint = self.prefix + hint
        count = self._names.get(hint, 0)
        self._names[hint] = count + 1
        return hint if count == 0 else f"{hint}_{count}"

    def const(self, value, hint="const", dtype=F32):
        """An initializer holding value (scalars and small int lists are shared by content)."""
        array = np.asarray(value, dtype)
        key = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 16 else None
        if key in self._constants:
            return self._constants[key]
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        if key is not None:
            self._constants[key] = name
        return name

    def ints(self, values, hint="shape"):
        return self.const(values, hint, np.int64)

    def op(self, op_type, *inputs, hint=None, outputs=1, **attrs):
        """Append a node; returns its output name (a list of them when outputs > 1)."""
        names = [self.fresh(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=names[0], **attrs))
        return names[0] if outputs == 1 else names

    def reshape(self, x, shape, hint=None):
        return self.op("Reshape", x, self.ints(shape), hint=hint)

    def slice(self, x, axis, start, stop, step=1, hint=None):
        """x[..., start:stop:step, ...] along axis."""
        return self.op("Slice", x, self.ints([start]), self.ints([stop]), self.ints([axis]), self.ints([step]),
                       hint=hint)

    def scale(self, x, factor):
        """x * factor (nothing when factor is 1)."""
        return x if factor == 1 else self.op("Mul", x, self.const(factor))

    def where_less(self, x, bound, below, above):
        return self.op("Where", self.op("Less", x, self.const(bound)), below, above)

    def where_greater(self, x, bound, above, below):
        return self.op("Where", self.op("Greater", x, self.const(bound)), above, below)


def value_info(name, shape, dtype=TensorProto.FLOAT):
    """A graph input/output; a str in shape is a named free dimension (the dynamic batch)."""
    return helper.make_tensor_value_info(name, dtype, list(shape))


def activation(g, name, x):
    """Darknet's activate() (activations.h) as ONNX ops: one op where ONNX has it, else its formula."""
    if name == "linear":
        return x
    simple = {"logistic": ("Sigmoid", {}), "relu": ("Relu", {}), "tanh": ("Tanh", {}),
              "leaky": ("LeakyRelu", {"alpha": .1}), "relie": ("LeakyRelu", {"alpha": .01}),
              "elu": ("Elu", {"alpha": 1.}), "selu": ("Selu", {"alpha": 1.6732, "gamma": 1.0507})}
    if name in simple:
        op_type, attrs = simple[name]
        return g.op(op_type, x, hint=name, **attrs)
    if name == "loggy":  # 2/(1 + e^-x) - 1
        return g.op("Sub", g.scale(g.op("Sigmoid", x), 2), g.const(1), hint=name)
    if name == "ramp":  # x*(x > 0) + .1x
        return g.op("Add", g.op("Relu", x), g.scale(x, F32(.1)), hint=name)
    if name == "hardtan":
        return g.op("Clip", x, g.const(-1), g.const(1), hint=name)
    if name == "plse":  # x < -4: .01(x + 4); x > 4: .01(x - 4) + 1; else .125x + .5
        low = g.scale(g.op("Add", x, g.const(4)), F32(.01))
        high = g.op("Add", g.scale(g.op("Sub", x, g.const(4)), F32(.01)), g.const(1))
        middle = g.op("Add", g.scale(x, F32(.125)), g.const(.5))
        return g.where_less(x, -4, low, g.where_greater(x, 4, high, middle))
    if name == "lhtan":  # x < 0: .001x; x > 1: .001(x - 1) + 1; else x
        low = g.scale(x, F32(.001))
        high = g.op("Add", g.scale(g.op("Sub", x, g.const(1)), F32(.001)), g.const(1))
        return g.where_less(x, 0, low, g.where_greater(x, 1, high, x))
    if name == "stair":  # n = floor(x): n even: floor(x/2); odd: (x - n) + floor(x/2)
        n = g.op("Floor", x)
        half = g.op("Floor", g.op("Div", x, g.const(2)))
        odd = g.op("Sub", n, g.scale(g.op("Floor", g.op("Div", n, g.const(2))), 2))
        return g.op("Where", g.op("Equal", odd, g.const(0)), half, g.op("Add", g.op("Sub", x, n), half), hint=name)
    raise ValueError(f"no ONNX form for activation '{name}'")
