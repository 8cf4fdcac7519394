"""[dropout] (`dropout_layer.c`): identity at inference; in training, zero with probability p and scale by 1/(1-p).

Darknet's dropout layer shares its output and delta buffers with the layer before it, so training
modifies that layer's output in place and masks the delta everything downstream accumulated into it.
"""
from ..gpu.device import array_module
from .base import Layer


class DropoutLayer(Layer):
    type = "dropout"

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        layer.probability = section.float("probability", .5)
        if not 0 <= layer.probability < 1:
            raise section.error("dropout probability must be in [0, 1)", "probability")
        layer.reshape(in_shape, layers)
        return layer

    def forward(self, x, net):
        if net.train:
            # forward_dropout_layer: r = rand_uniform(0, 1); r < p ? 0 : x * scale, in place.
            xp = array_module(x)
            keep = xp.random.random_sample(x.shape) >= self.probability
            self.mask = keep * x.dtype.type(1. / (1. - self.probability))
            x *= self.mask
        self.output = x  # Darknet points a dropout layer's output at its input's
        return x

    def backward(self, x, delta, net):
        """backward_dropout_layer: the shared delta (what reached this layer plus what was already in the
        previous layer's) is masked and scaled like the forward."""
        if delta is not None:
            delta += self.delta
            delta *= self.mask

    def summary(self, index):
        n = self.inputs
        return f"dropout       p = {self.probability:.2f}               {n:4d}  ->  {n:4d}"
