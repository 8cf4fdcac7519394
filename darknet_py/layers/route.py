"""[route] (`route_layer.c`): the listed layers' outputs concatenated by channel, in the listed order."""
from ..gpu.device import array_module
from .base import Layer


class RouteLayer(Layer):
    type = "route"

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        index = len(layers)
        layer.indices = []
        for i in section.ints("layers", []):
            j = i + index if i < 0 else i  # parse_route: negative indices count back from this layer
            if not 0 <= j < index:
                raise section.error(f"route layer {i} is out of range for layer {index}", "layers")
            layer.indices.append(j)
        if not layer.indices:
            raise section.error("[route] needs layers=", "layers")
        layer.reshape(in_shape, layers)
        return layer

    def reshape(self, in_shape, layers):
        shapes = [layers[j].out_shape for j in self.indices]
        c, h, w = shapes[0]
        for j, (cj, hj, wj) in zip(self.indices[1:], shapes[1:]):
            if (hj, wj) != (h, w):
                raise self.error(f"route cannot join layer {self.indices[0]} ({w}x{h}) and layer {j} ({wj}x{hj})")
            c += cj
        self.in_shape = self.out_shape = (c, h, w)

    def forward(self, x, net):
        parts = [net.layers[j].output for j in self.indices]
        self.output = parts[0].copy() if len(parts) == 1 else array_module(parts[0]).concatenate(parts, axis=1)
        return self.output

    def backward(self, x, delta, net):
        """backward_route_layer: each source layer's delta gets its channel slice of this delta added."""
        offset = 0
        for j in self.indices:
            source = net.layers[j]
            c = source.out_shape[0]
            source.delta += self.delta[:, offset:offset + c]
            offset += c

    def summary(self, index):
        return "route " + "".join(f" {j}" for j in self.indices)
