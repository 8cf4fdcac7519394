"""A conv's bias and leaky or linear activation in one compiled pass over its output (numba, optional - see
jit.py): numpy makes three (the bias, the product by the slope into a temporary, the maximum), 1 ms of
yolov2's 64x208x208 layer against 0.18 here. The same float32 operations, so the same values: s = x + bias,
then max(s, slope * s) (activations.h leaky, slope .1; linear: slope 1, max(s, s) = s)."""
import numpy as np

from . import jit


def _bias_activate(out, bias, slope):
    for b in range(out.shape[0]):
        for k in range(out.shape[1]):
            row, add = out[b, k], bias[k]
            for x in range(row.shape[0]):
                s = row[x] + add
                row[x] = max(s, s * slope)


_kernel = jit.compiled_at_first_call(_bias_activate)


def bias_activate(view, bias, slope):
    """view (B, k, h, w) float32 with contiguous maps, in place: view + bias[k], then max(s, slope * s)."""
    flat = view.reshape(view.shape[0], view.shape[1], -1)
    assert np.may_share_memory(flat, view), "the maps must be contiguous: a copy would be written"
    _kernel(flat, bias, np.float32(slope))
