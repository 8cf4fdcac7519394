"""[detection] (`detection_layer.c`): YOLOv1's output layer - the loss in `detection_loss.py`, boxes in `boxes.py`
(detection_detections).

Its input is a flat vector (a [connected] layer's) of side*side cells: first every cell's class
probabilities (side*side*classes), then every cell's `num` box confidences (side*side*num), then every
cell's num boxes (x, y, w, h: offsets in the cell and sizes relative to the image, square-rooted with
`sqrt=1`). Forward copies it, with a softmax over each cell's classes when `softmax=1`. Backward adds the
loss's delta into the input's (backward_detection_layer's axpy), as Darknet's CPU build trains it.
Darknet's GPU inference skips the softmax (forward_detection_layer_gpu copies the input unless training);
we apply it, as its CPU build and its training do.
"""
import numpy as np

from .base import Layer
from .detection_loss import detection_loss
from .softmax import softmax


class DetectionLayer(Layer):
    type = "detection"

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        layer.coords = section.int("coords", 1)
        layer.classes = section.int("classes", 1)
        layer.rescore = section.int("rescore", 0)
        layer.num = section.int("num", 1)
        layer.side = section.int("side", 7)
        layer.softmax = section.int("softmax", 0)
        layer.sqrt = section.int("sqrt", 0)
        layer.max_boxes = section.int("max", 90)
        layer.coord_scale = section.float("coord_scale", 1)
        layer.forced = section.int("forced", 0)
        layer.object_scale = section.float("object_scale", 1)
        layer.noobject_scale = section.float("noobject_scale", 1)
        layer.class_scale = section.float("class_scale", 1)
        layer.jitter = section.float("jitter", .2)
        layer.random = section.int("random", 0)
        section.int("reorg", 0)  # parse_detection reads it; forward_detection_layer's use is commented out
        layer.rng = np.random.default_rng()  # random=1 picks a random box while seen < 64000 (Darknet: rand())
        if layer.coords != 4:
            raise section.error("[detection] boxes have 4 coordinates (coords=4)", "coords")
        layer.reshape(in_shape, layers)
        return layer

    @property
    def cells(self):
        return self.side * self.side

    @property
    def truths(self):
        """l.truths: per cell, is-object, the one-hot class and the box."""
        return self.cells * (1 + self.coords + self.classes)

    def reshape(self, in_shape, layers):
        c, h, w = in_shape
        needed = self.cells * ((1 + self.coords) * self.num + self.classes)
        if c * h * w != needed:
            raise self.error(f"detection needs side*side*((1+coords)*num+classes) = {needed} inputs, the layer "
                             f"before gives {c * h * w}")
        self.in_shape = self.out_shape = in_shape

    def forward(self, x, net):
        b = x.shape[0]
        out = x.reshape(b, -1).copy()
        if self.softmax:  # forward_detection_layer: softmax(output + i*classes, classes, 1, 1, ...) per cell
            probs = out[:, :self.cells * self.classes].reshape(b, self.cells, self.classes)
            out[:, :self.cells * self.classes] = softmax(probs, axis=2).reshape(b, -1)
        self.output = out.reshape(x.shape)
        if net.train and net.truth is not None:
            self.set_loss(*detection_loss(self, self.output, net.truth, net.seen))
        return self.output

    def backward(self, x, delta, net):
        """backward_detection_layer: net.delta += l.delta."""
        if delta is not None:
            delta += self.delta

    def summary(self, index):
        return "Detection Layer"
