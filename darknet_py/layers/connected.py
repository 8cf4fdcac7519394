"""[connected] (`connected_layer.c`): out = in @ W^T, then batchnorm or bias, then activation."""
import numpy as np

from ..gpu.device import array_module
from .activations import activate, gradient
from .activations import from_cfg as activation_from_cfg
from .base import Layer
from .batchnorm import BatchnormParams


class ConnectedLayer(Layer, BatchnormParams):
    type = "connected"

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        layer.n_outputs = section.int("output", 1)
        layer.activation = activation_from_cfg(section, "logistic")  # Darknet's default, as for conv
        layer.batch_normalize = section.int("batch_normalize", 0)
        if layer.n_outputs < 1:
            raise section.error("output must be positive", "output")
        layer.reshape(in_shape, layers)
        inputs = layer.inputs
        layer.check_weights_memory(inputs * layer.n_outputs)
        # make_connected_layer: weights ~ sqrt(2/inputs) * U(-1, 1), stored (outputs, inputs).
        scale = np.sqrt(2.0 / inputs)
        layer.weights = (scale * np.random.uniform(-1, 1, (layer.n_outputs, inputs))).astype(np.float32)
        layer.biases = np.zeros(layer.n_outputs, np.float32)
        if layer.batch_normalize:
            layer.init_batchnorm(layer.n_outputs)
        return layer

    def reshape(self, in_shape, layers):
        """Its weights fix the input size: Network.resize to a size that changes it is refused, as Darknet's
        resize_network ("Cannot resize this type of layer")."""
        if getattr(self, "weights", None) is not None and np.prod(in_shape) != self.weights.shape[1]:
            c, h, w = in_shape
            raise self.error(f"cannot resize: [connected] takes {self.weights.shape[1]} inputs, the new size gives "
                             f"it {w}x{h}x{c} = {c * h * w}")
        self.in_shape, self.out_shape = in_shape, (self.n_outputs, 1, 1)

    def forward(self, x, net):
        xp = array_module(x)
        b = x.shape[0]
        out = self.normalize_or_add_bias(x.reshape(b, -1) @ xp.asarray(self.weights).T, net)
        self.output = activate(self.activation, out).reshape((b,) + self.out_shape)
        return self.output

    def backward(self, x, delta, net):
        """backward_connected_layer: activation gradient, batchnorm or bias, weight updates, input delta."""
        xp = array_module(x)
        b = x.shape[0]
        d = self.delta.reshape(b, -1)
        d *= gradient(self.activation, self.output.reshape(b, -1))
        self.normalize_or_add_bias_backward(d)
        self.accumulate("weight_updates", d.T @ x.reshape(b, -1))
        if delta is not None:
            delta += (d @ xp.asarray(self.weights, d.dtype)).reshape(delta.shape)

    def summary(self, index):
        return f"connected                            {self.inputs:4d}  ->  {self.n_outputs:4d}"
