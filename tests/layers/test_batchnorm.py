"""layers/batchnorm.py: channel_sums adds in Darknet's order (mean_cpu/variance_cpu: one element at a time, image by
image) whatever the thread count or channel slice width; a sequential float32 cumsum is the reference."""
import numpy as np
import pytest

from darknet_py.cpu.threads import set_threads
from darknet_py.layers.batchnorm import channel_sums


def sequential_sums(x):
    return np.cumsum(np.moveaxis(x, 1, 0).reshape(x.shape[1], -1), axis=1, dtype=x.dtype)[:, -1]


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("shape", [(4, 1, 300, 300), (3, 5, 64, 64), (16, 5)])
def test_channel_sums_are_sequential(threads, shape):
    x = np.random.default_rng(0).random(shape, np.float32)
    mean = sequential_sums(x) / x.dtype.type(x.size // x.shape[1])
    centred = x - mean.reshape((1, -1) + (1,) * (x.ndim - 2))
    set_threads(threads)
    try:
        assert np.array_equal(channel_sums(x), sequential_sums(x))
        assert np.array_equal(channel_sums(x, mean), sequential_sums(centred ** 2))
    finally:
        set_threads(None)
