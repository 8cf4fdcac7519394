"""[crop] (`crop_layer.c`): a crop_width x crop_height window of the input, mapped from [0, 1] to [-1, 1].

At test time the window is centred; in training it is at a random offset, mirrored when `flip` is set and
a coin says so, one draw for the whole batch, as forward_crop_layer does. Darknet's CPU build applies
nothing else: `angle`, `saturation`, `exposure` and `shift` are read but only its GPU kernels use them (with
bilinear sampling at half-pixel offsets), so they change nothing here either. The crop has no gradient
(backward_crop_layer is empty): it is the first layer of the networks that use it.
"""
import numpy as np

from .base import Layer


class CropLayer(Layer):
    type = "crop"

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        layer.crop_h = section.int("crop_height", 1)
        layer.crop_w = section.int("crop_width", 1)
        layer.flip = section.int("flip", 0)
        for key, default in (("angle", 0), ("saturation", 1), ("exposure", 1), ("shift", 0)):
            section.float(key, default)  # the GPU kernels' augmentations (see above)
        layer.noadjust = section.int("noadjust", 0)
        layer.scale = np.float32(layer.crop_h) / np.float32(in_shape[1])  # make_crop_layer: crop_height / h
        layer.rng = np.random.default_rng()  # Darknet draws from rand(); the offsets are random either way
        layer.reshape(in_shape, layers)
        return layer

    def reshape(self, in_shape, layers):
        c, h, w = in_shape
        if self.in_shape is None:
            out_h, out_w = self.crop_h, self.crop_w
        else:  # resize_crop_layer: both sides scaled by crop_height/h (C's float -> int truncation)
            out_h, out_w = int(self.scale * np.float32(h)), int(self.scale * np.float32(w))
        if not (0 < out_h <= h and 0 < out_w <= w):
            raise self.error(f"a {out_w}x{out_h} crop does not fit a {w}x{h} input")
        self.in_shape, self.out_shape = in_shape, (c, out_h, out_w)

    def forward(self, x, net):
        _, h, w = self.in_shape
        _, out_h, out_w = self.out_shape
        if net.train:
            flip = bool(self.flip) and self.rng.integers(2) == 1
            dh, dw = int(self.rng.integers(h - out_h + 1)), int(self.rng.integers(w - out_w + 1))
        else:
            flip, dh, dw = False, (h - out_h) // 2, (w - out_w) // 2
        window = x[:, :, dh:dh + out_h, dw:dw + out_w]
        if flip:  # col = w - dw - j - 1: the window mirrored about the image's centre column
            window = x[:, :, dh:dh + out_h, w - dw - out_w:w - dw][..., ::-1]
        scale, shift = (1, 0) if self.noadjust else (2, -1)
        self.output = window * x.dtype.type(scale) + x.dtype.type(shift)
        return self.output

    def backward(self, x, delta, net):
        """backward_crop_layer: nothing (Darknet gives the crop no delta, so nothing reaches its input)."""

    def summary(self, index):
        c, h, w = self.in_shape
        _, oh, ow = self.out_shape
        return f"Crop Layer: {h} x {w} -> {oh} x {ow} x {c} image"
