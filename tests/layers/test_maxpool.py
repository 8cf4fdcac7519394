"""[maxpool] with stride 1 (yolov2-tiny's 2x2/1 keeps 13x13 by reading past the map): the inference pass equals
forward_maxpool_layer's scan - the window from -padding/2, taps outside the map -FLT_MAX - written as loops, and
the training pass that keeps each window's argmax."""
import numpy as np
import pytest

from conftest import section
from darknet_py.network import Network


def scan(x, size, stride, padding, out_h, out_w):
    """maxpool_layer.c, tap by tap."""
    b, c, h, w = x.shape
    out = np.full((b, c, out_h, out_w), -np.finfo(np.float32).max, np.float32)
    for i in range(out_h):
        for j in range(out_w):
            for n in range(size):
                for m in range(size):
                    y, xx = i * stride - padding // 2 + n, j * stride - padding // 2 + m
                    if 0 <= y < h and 0 <= xx < w:
                        out[:, :, i, j] = np.maximum(out[:, :, i, j], x[:, :, y, xx])
    return out


@pytest.mark.parametrize("size,padding", [(2, 1), (2, 0), (2, 3), (3, 2)])
@pytest.mark.parametrize("hw", [(13, 13), (6, 9)])
def test_stride_one_windows(tmp_path, size, padding, hw):
    h, w = hw
    cfg = tmp_path / "pool.cfg"
    cfg.write_text(f"[net]\nwidth={w}\nheight={h}\nchannels=5\n" + section("maxpool", size=size, stride=1,
                                                                          padding=padding))
    net = Network.from_cfg(cfg)
    layer = net.layers[0]
    x = np.random.default_rng(0).standard_normal((2, 5, h, w), dtype=np.float32)
    want = scan(x, size, 1, padding, *layer.out_shape[1:])
    np.testing.assert_array_equal(layer.forward(x, net), want)
    net.train = True
    np.testing.assert_array_equal(layer.forward(x, net), want)


@pytest.mark.parametrize("hw", [(1, 1), (1, 4), (4, 1), (2, 2), (3, 5)])
def test_two_by_two_stride_one_on_thin_maps(tmp_path, hw):
    """The 2x2/1 inference pass works on the flattened maps and mends each row's and map's last windows: maps of
    one row or column, and a NaN in a corner, which must reach only the windows over it."""
    h, w = hw
    cfg = tmp_path / "pool.cfg"
    cfg.write_text(f"[net]\nwidth={w}\nheight={h}\nchannels=3\n" + section("maxpool", size=2, stride=1))
    net = Network.from_cfg(cfg)
    x = np.random.default_rng(1).standard_normal((2, 3, h, w), dtype=np.float32)
    x[1, 2, h - 1, w - 1] = np.nan
    want = scan(x, 2, 1, 1, h, w)
    np.testing.assert_array_equal(net.layers[0].forward(x, net), want)
