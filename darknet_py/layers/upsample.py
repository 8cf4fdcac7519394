"""[upsample] (`upsample_layer.c`, `blas.c: upsample_cpu`): nearest-neighbour upsampling by `stride`, times `scale`.

A negative stride downsamples: each output is `scale` times the *sum* (not the mean) of its stride x stride
block, as forward_upsample_layer runs upsample_cpu backwards into a zeroed output.
"""
from ..gpu.device import array_module
from .base import Layer


class UpsampleLayer(Layer):
    type = "upsample"

    @classmethod
    def from_cfg(cls, section, in_shape, layers):
        layer = cls()
        layer.section = section
        stride = section.int("stride", 2)
        if stride == 0:
            raise section.error("upsample stride must not be 0", "stride")
        layer.reverse = stride < 0  # make_upsample_layer: a negative stride is a downsample
        layer.stride = abs(stride)
        layer.scale = section.float("scale", 1)
        layer.reshape(in_shape, layers)
        return layer

    def reshape(self, in_shape, layers):
        c, h, w = in_shape
        s = self.stride
        if self.reverse and (h % s or w % s):
            # upsample_cpu indexes the large map as out_w*stride wide: any other width reads the wrong pixels
            raise self.error(f"a {s}x downsample needs a map divisible by {s}, got {w}x{h}")
        self.in_shape = in_shape
        self.out_shape = (c, h // s, w // s) if self.reverse else (c, h * s, w * s)

    def forward(self, x, net):
        scale = x.dtype.type(self.scale)
        if self.reverse:
            b, c = x.shape[:2]
            _, h, w = self.out_shape
            self.output = add_blocks(array_module(x).zeros((b, c, h, w), x.dtype), x, self.stride, scale)
        else:
            self.output = scale * repeat(x, self.stride)
        return self.output

    def backward(self, x, delta, net):
        """backward_upsample_layer: upsampling adds each block's scaled delta into its source pixel; the
        downsample writes (not adds) the scaled delta into every pixel of the block, as upsample_cpu's
        forward direction does into net.delta."""
        if delta is None:
            return
        scale = self.delta.dtype.type(self.scale)
        if self.reverse:
            delta[...] = scale * repeat(self.delta, self.stride)
        else:
            add_blocks(delta, self.delta, self.stride, scale)

    def summary(self, index):
        c, h, w = self.in_shape
        _, oh, ow = self.out_shape
        kind = "downsample" if self.reverse else "upsample  "
        return f"{kind}         {self.stride:2d}x  {w:4d} x{h:4d} x{c:4d}   ->  {ow:4d} x{oh:4d} x{c:4d}"


def repeat(x, s):
    """(B, C, H, W) -> (B, C, H*s, W*s), each pixel copied into an s x s block."""
    xp = array_module(x)
    b, c, h, w = x.shape
    return xp.broadcast_to(x[:, :, :, None, :, None], (b, c, h, s, w, s)).reshape(b, c, h * s, w * s)


def add_blocks(into, x, s, scale):
    """into (B, C, H/s, W/s) += scale * each pixel of the matching s x s block of x (B, C, H, W), one
    block pixel at a time in upsample_cpu's order (row by row, left to right); returns into."""
    b, c, h, w = into.shape
    blocks = x.reshape(b, c, h, s, w, s)
    for dy in range(s):
        for dx in range(s):
            into += scale * blocks[:, :, :, dy, :, dx]
    return into
