"""[dropout] (`dropout_layer.c`): identity at inference; in training, zero with probability p and scale by 1/(1-p)."""
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
        self.output = x  # Darknet points a dropout layer's output at its input's
        return x

    def summary(self, index):
        n = self.inputs
        return f"dropout       p = {self.probability:.2f}               {n:4d}  ->  {n:4d}"
