"""[softmax] (`softmax_layer.c`): softmax over `groups` equal slices of each input, or a WordTree softmax."""
import numpy as np

from ..gpu.device import array_module
from ..wordtree.tree import softmax_tree
from .base import Layer
from .cost import SECRET_NUM  # fill_hierarchy marks the tree groups off the label's path with it
from .region import load_tree


def softmax(x, axis, temperature=1.0):
    """Darknet's softmax: exp((x - max)/t) normalised, in float32."""
    xp = array_module(x)
    t = x.dtype.type(temperature)
    e = xp.exp(x / t - x.max(axis=axis, keepdims=True) / t)
    return e / e.sum(axis=axis, keepdims=True)


class SoftmaxLayer(Layer):
    type = "softmax"

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        layer.groups = section.int("groups", 1)
        layer.temperature = section.float("temperature", 1)
        layer.noloss = section.int("noloss", 0)
        layer.tree = load_tree(section, "tree")
        layer.reshape(in_shape, layers)
        if layer.inputs % layer.groups:
            raise section.error(f"groups={layer.groups} must divide the {layer.inputs} inputs", "groups")
        if layer.tree is not None and layer.tree.n > layer.inputs:
            raise section.error(f"tree has {layer.tree.n} nodes but the layer has {layer.inputs} inputs", "tree")
        return layer

    def forward(self, x, net):
        b = x.shape[0]
        flat = x.reshape(b, -1)
        if self.tree is not None:
            # forward_softmax_layer: one softmax per tree group over the flat input; the rest stays 0.
            out = array_module(x).zeros_like(flat)
            out[:, :self.tree.n] = softmax_tree(flat[:, :self.tree.n], self.tree, axis=1, temperature=self.temperature)
        else:
            out = softmax(flat.reshape(b, self.groups, -1), axis=2, temperature=self.temperature)
        self.output = out.reshape(x.shape).astype(x.dtype, copy=False)
        if net.train and net.truth is not None and not self.noloss:
            self.cross_entropy(net.truth.reshape(b, -1))
        return self.output

    def cross_entropy(self, truth):
        """softmax_x_ent_cpu: delta = t - p, loss = -log p where t != 0; cost = sum of the losses.

        For a tree, entries whose truth is SECRET_NUM (groups off the label's path) get delta and loss 0:
        the GPU build masks them (mask_gpu); Darknet's CPU build forgets to, which we do not follow.
        """
        xp = array_module(truth)
        p = self.output.reshape(truth.shape)
        truth = xp.asarray(truth, p.dtype)
        delta = truth - p
        with np.errstate(divide="ignore"):
            loss = xp.where(truth != 0, -xp.log(p), 0)
        if self.tree is not None:
            masked = truth == SECRET_NUM
            delta[masked] = 0
            loss[masked] = 0
        self.delta[...] = delta.reshape(self.delta.shape)
        self.cost = float(loss.sum())

    def backward(self, x, delta, net):
        """backward_softmax_layer: the delta passes straight through (it is already d(cross-entropy)/d(logits))."""
        if delta is not None:
            delta += self.delta

    def summary(self, index):
        return f"softmax                                        {self.inputs:4d}"
