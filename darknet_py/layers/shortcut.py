"""[shortcut] (`shortcut_layer.c`, `blas.c: shortcut_cpu`): out = alpha*input + beta*layers[from], then activation.

When the two shapes differ, shortcut_cpu strides through the larger one and adds over the common channels.
"""
from .activations import activate, gradient
from .activations import from_cfg as activation_from_cfg
from .base import Layer


class ShortcutLayer(Layer):
    type = "shortcut"

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        index = len(layers)
        i = section.int("from")
        if i is None:
            raise section.error("[shortcut] needs from=")
        layer.index = i + index if i < 0 else i
        if not 0 <= layer.index < index:
            raise section.error(f"shortcut from={i} is out of range for layer {index}", "from")
        layer.activation = activation_from_cfg(section, "linear")
        layer.alpha = section.float("alpha", 1)
        layer.beta = section.float("beta", 1)
        layer.reshape(in_shape, layers)
        return layer

    def reshape(self, in_shape, layers):
        c1, h1, w1 = layers[self.index].out_shape
        c2, h2, w2 = in_shape
        if w1 // w2 != h1 // h2 or w2 // w1 != h2 // h1:
            raise self.error(f"shortcut cannot add layer {self.index} ({w1}x{h1}) to a {w2}x{h2} input")
        self.from_shape = (c1, h1, w1)
        self.in_shape = self.out_shape = in_shape

    def _views(self, into, source):
        """shortcut_cpu's pairing: the common channels of `into` (sampled) and `source` (strided)."""
        c1, h1, w1 = source.shape[1:]
        c2, h2, w2 = into.shape[1:]
        stride, sample = max(1, w1 // w2), max(1, w2 // w1)
        c, hs, ws = min(c1, c2), min(h1, h2), min(w1, w2)
        return (into[:, :c, :hs * sample:sample, :ws * sample:sample],
                source[:, :c, :hs * stride:stride, :ws * stride:stride])

    def forward(self, x, net):
        out = x.copy()
        target, source = self._views(out, net.layers[self.index].output)
        target *= x.dtype.type(self.alpha)
        target += x.dtype.type(self.beta) * source
        self.output = activate(self.activation, out)
        return self.output

    def backward(self, x, delta, net):
        """backward_shortcut_layer: activation gradient; net.delta += alpha*delta (over the whole input, as
        Darknet's axpy does); the `from` layer's delta += beta*delta through the same pairing (transposed)."""
        d = self.delta
        d *= gradient(self.activation, self.output)
        if delta is not None:
            delta += d.dtype.type(self.alpha) * d
        target, source = self._views(net.layers[self.index].delta, d)
        target += d.dtype.type(self.beta) * source

    def summary(self, index):
        c1, h1, w1 = self.from_shape
        c, h, w = self.out_shape
        return f"res  {self.index:3d}                {w1:4d} x{h1:4d} x{c1:4d}   ->  {w:4d} x{h:4d} x{c:4d}"
