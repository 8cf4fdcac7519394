"""[region] (`region_layer.c`): YOLOv2's detection layer - activations here, boxes in `boxes.py`.

The input's channels are `num` anchors x (coords + 1 + classes) entries, each entry a w x h plane
(entry_index). Forward applies Darknet's CPU activations: logistic on tx, ty and objectness, then a
softmax over the classes of each anchor and cell, a WordTree softmax (`tree=`), or logistic classes.
The training loss lives in `region_loss.py`. Backward follows Darknet's GPU build
(backward_region_layer_gpu): its CPU backward_region_layer is commented out, so a CPU build never
propagates the region loss; on the GPU the deltas of tx, ty and objectness get the logistic gradient.
"""
import numpy as np

from ..gpu.device import array_module
from ..wordtree.tree import Tree, read_map, softmax_tree
from .activations import activate, gradient
from .base import Layer
from .region_loss import region_loss


def load_tree(section, key):
    path = section.file(key)
    return Tree.read(path) if path else None


class AnchorPlanes(Layer):
    """What [region] and [yolo] share: `num` anchors x (coords + 1 + classes) entry planes of the input."""

    @property
    def entries(self):
        return self.coords + 1 + self.classes

    def reshape(self, in_shape, layers):
        c, h, w = in_shape
        if c != self.num * self.entries:
            raise self.error(f"[{self.type}] needs {self.num} anchors x (coords+1+classes) = {self.num * self.entries} "
                             f"input channels, the layer before gives {c}")
        self.in_shape = self.out_shape = in_shape


class RegionLayer(AnchorPlanes):
    type = "region"
    # Darknet's CPU build mangles the tree softmax (see _cpu_tree_softmax); its GPU kernel does what the
    # paper describes. False (default) follows the GPU kernel; True reproduces the CPU build exactly,
    # for comparing with the oracle (`darknet-py ... -darknet_cpu_tree`).
    darknet_cpu_tree_layout = False

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        layer.coords = section.int("coords", 4)
        layer.classes = section.int("classes", 20)
        layer.num = section.int("num", 1)
        layer.softmax = section.int("softmax", 0)
        layer.background = section.int("background", 0)
        layer.max_boxes = section.int("max", 30)  # truths per image: Darknet's hard limit of 30
        if layer.num < 1 or layer.classes < 1 or layer.coords < 4:
            raise section.error(f"[region] needs num >= 1, classes >= 1 and coords >= 4, got num={layer.num}, "
                                f"classes={layer.classes}, coords={layer.coords}")
        layer.jitter = section.float("jitter", .2)
        if not 0 <= layer.jitter < 1:  # data.c: the aspect jitter +-jitter*size; at 1 a box can shrink to nothing
            raise section.error(f"jitter must be in [0, 1), got {layer.jitter:g}", "jitter")
        layer.rescore = section.int("rescore", 0)
        layer.thresh = section.float("thresh", .5)
        layer.absolute = section.int("absolute", 0)
        layer.random = section.int("random", 0)
        layer.coord_scale = section.float("coord_scale", 1)
        layer.object_scale = section.float("object_scale", 1)
        layer.noobject_scale = section.float("noobject_scale", 1)
        layer.mask_scale = section.float("mask_scale", 1)
        layer.class_scale = section.float("class_scale", 1)
        layer.bias_match = section.int("bias_match", 0)
        layer.temperature = section.float("temperature", 1)
        layer.tree = load_tree(section, "tree")
        map_path = section.file("map")
        layer.map = read_map(map_path) if map_path else None
        anchors = section.floats("anchors", [])
        layer.check_weights_memory(2 * layer.num)
        layer.biases = np.full(layer.num * 2, .5, np.float32)  # make_region_layer's default
        layer.biases[:len(anchors)] = anchors[:layer.num * 2]
        if len(anchors) not in (0, layer.num * 2):
            raise section.error(f"{len(anchors)} anchor values for num={layer.num} (need {2 * layer.num})", "anchors")
        if layer.tree is not None and layer.tree.n != layer.classes:
            raise section.error(f"tree has {layer.tree.n} nodes but classes={layer.classes}", "tree")
        layer.reshape(in_shape, layers)
        return layer


    def forward(self, x, net):
        b = x.shape[0]
        _, h, w = self.in_shape
        raw = x.reshape(b, self.num, self.entries, h, w)
        out = raw.copy()
        out[:, :, 0:2] = activate("logistic", raw[:, :, 0:2])
        if not self.background:
            out[:, :, self.coords] = activate("logistic", raw[:, :, self.coords])
        first_class = self.coords + (0 if self.background else 1)
        if self.tree is not None:
            if self.darknet_cpu_tree_layout:
                out = out.reshape(b, -1)
                self._cpu_tree_softmax(x.reshape(b, -1), out)
            else:
                out[:, :, first_class:] = softmax_tree(raw[:, :, first_class:], self.tree, axis=2,
                                                       temperature=self.temperature)
        elif self.softmax:
            classes = raw[:, :, first_class:first_class + self.classes + self.background]
            e = array_module(x).exp(classes - classes.max(axis=2, keepdims=True))
            out[:, :, first_class:first_class + self.classes + self.background] = e / e.sum(axis=2, keepdims=True)
        else:
            out[:, :, first_class:] = activate("logistic", raw[:, :, first_class:])
        self.output = out.reshape(x.shape)
        if net.train and net.truth is not None:
            self.set_loss(*region_loss(self, self.output, net.truth, net.seen))
        return self.output

    def backward(self, x, delta, net):
        """backward_region_layer_gpu: logistic gradient on the tx, ty and objectness deltas, then net.delta += delta."""
        b = x.shape[0]
        _, h, w = self.in_shape
        d = self.delta.reshape(b, self.num, self.entries, h, w)
        y = self.output.reshape(d.shape)
        d[:, :, 0:2] *= gradient("logistic", y[:, :, 0:2])
        if not self.background:
            d[:, :, self.coords] *= gradient("logistic", y[:, :, self.coords])
        if delta is not None:
            delta += self.delta

    def _cpu_tree_softmax(self, raw, out):
        """softmax_cpu(input + count, group_size, batch, inputs, n*w*h, 1, n*w*h, temp, ...), count += size.

        Reproduces the CPU build bit for bit: the flat offset `count` ignores entry_index's layout, later
        groups overwrite earlier ones (even tx/ty of anchor 0), and parse_region never sets the region
        layer's temperature, so softmax divides by 0 (IEEE inf/NaN) - the oracle's region output has NaNs.
        """
        _, h, w = self.in_shape
        spots = self.num * h * w
        count = self.coords + 1
        xp = array_module(raw)
        zero = raw.dtype.type(0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for size in self.tree.group_size.tolist():
                block = raw[:, count:count + size * spots].reshape(-1, size, spots)
                e = xp.exp(block / zero - block.max(axis=1, keepdims=True) / zero)
                out[:, count:count + size * spots] = (e / e.sum(axis=1, keepdims=True)).reshape(raw.shape[0], -1)
                count += size

    def summary(self, index):
        return "detection"
