"""The compiled bias + activation (darknet_py/cpu/epilogue.py) equals conv.finish's numpy passes bit for bit:
leaky and linear, a batch of 2 and a slice of its channels (what each thread finishes), NaN and inf kept."""
import numpy as np
import pytest

from darknet_py.cpu import conv, epilogue, jit

pytestmark = pytest.mark.skipif(not jit.available(), reason="numba is not installed (pip install .[fast])")


@pytest.mark.parametrize("activation,slope", [("leaky", conv.LEAKY_SLOPE), ("linear", 1)])
def test_bias_activate_equals_the_numpy_passes(activation, slope, monkeypatch):
    rng = np.random.default_rng(0)
    out = rng.standard_normal((2, 24, 7, 9), dtype=np.float32)
    out[0, 3, 2, 2], out[1, 5, 0, 1] = np.nan, -np.inf
    bias = rng.standard_normal(24, dtype=np.float32)
    compiled = out.copy()
    epilogue.bias_activate(compiled[:, 8:16], bias[8:16], slope)
    monkeypatch.setattr(jit, "available", lambda: False)
    plain = out.copy()
    conv.finish(plain[:, 8:16], bias[8:16], activation)
    np.testing.assert_array_equal(compiled, plain)
