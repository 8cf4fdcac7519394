"""[yolo] (`yolo_layer.c`): YOLOv3's detection layer - activations here, the loss in `yolo_loss.py`, boxes in
`boxes.py` (yolo_detections).

The input's channels are len(mask) anchors x (4 + 1 + classes) entries, each a w x h plane (entry_index).
`anchors` lists all `num` anchor sizes in input pixels; `mask` picks the ones this layer predicts (a
YOLOv3 net has one [yolo] per scale, each with a third of the anchors). Forward applies the logistic to
tx, ty, the objectness and every class (the classes are independent, not a softmax); tw, th stay raw.
Backward adds the loss's delta into the input's as it is (backward_yolo_layer's axpy): the deltas of
the logistic entries are target - sigmoid, the gradient of the cross-entropy with respect to the logit.
Darknet's CPU build computes this loss and its backward (unlike [region]'s), so training is checked
against it directly.
"""
import numpy as np

from ..wordtree.tree import read_map
from .activations import activate
from .region import AnchorPlanes
from .yolo_loss import TRUTHS, yolo_loss


class YoloLayer(AnchorPlanes):
    type = "yolo"
    coords = 4

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        layer.number = len(layers)  # net.index, printed in the loss line
        layer.classes = section.int("classes", 20)
        layer.total = section.int("num", 1)
        layer.mask = section.ints("mask", list(range(layer.total)))
        layer.max_boxes = section.int("max", TRUTHS)
        layer.jitter = section.float("jitter", .2)
        layer.ignore_thresh = section.float("ignore_thresh", .5)
        layer.truth_thresh = section.float("truth_thresh", 1)
        layer.random = section.int("random", 0)
        map_path = section.file("map")
        layer.map = read_map(map_path) if map_path else None
        anchors = section.floats("anchors", [])
        if len(anchors) not in (0, 2 * layer.total):  # Darknet would keep .5 for the missing ones: say so instead
            raise section.error(f"{len(anchors)} anchor values for num={layer.total} (need {2 * layer.total})",
                                "anchors")
        if not all(0 <= m < layer.total for m in layer.mask):
            raise section.error(f"mask {layer.mask} names anchors outside the num={layer.total} given", "mask")
        if not 0 < layer.max_boxes <= TRUTHS:
            raise section.error(f"max must be in [1, {TRUTHS}] (the truths Darknet keeps per image)", "max")
        layer.biases = np.full(2 * layer.total, .5, np.float32)  # make_yolo_layer's default
        layer.biases[:len(anchors)] = anchors
        layer.reshape(in_shape, layers)
        return layer

    @property
    def num(self):  # the anchors this layer predicts
        return len(self.mask)

    def anchor_sizes(self):
        """(len(mask), 2) float32: the width and height in input pixels of each anchor this layer predicts."""
        return self.biases.reshape(-1, 2)[self.mask]

    def forward(self, x, net):
        b = x.shape[0]
        _, h, w = self.in_shape
        out = x.reshape(b, self.num, self.entries, h, w).copy()
        out[:, :, 0:2] = activate("logistic", out[:, :, 0:2])
        out[:, :, 4:] = activate("logistic", out[:, :, 4:])
        self.output = out.reshape(x.shape)
        if net.train and net.truth is not None:
            self.set_loss(*yolo_loss(self, self.output, net.truth, net.w, net.h))
        return self.output

    def backward(self, x, delta, net):
        """backward_yolo_layer: net.delta += l.delta."""
        if delta is not None:
            delta += self.delta

    def summary(self, index):
        return "yolo"
