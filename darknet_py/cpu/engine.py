"""Network-level fast CPU forward: which layers get a fast method, when the folded weights are rebuilt.

Network.forward calls `use_fast_path` and, when it says yes, `forward`. Layers without a fast method
(route, reorg, region, softmax, grouped convs, padded maxpools, ...) run their reference forward.
The folded/transformed weights are cached per network and rebuilt when a layer's parameters change:
each forward compares a small fingerprint of them (all biases / batch-norm values and a strided
sample of the weights), which catches load_weights and training updates; code that edits single
weights in place by hand should call `forget(net)`. Which method computes each conv is measured on this
CPU at its first forward (tune.py) unless DARKNET_PY_TUNE=0 (then conv.make_conv's shape rules).
"""
import os
import sys
import weakref

import numpy as np

from . import blas, blas_env, tune
from .conv import Scratch, candidates, make_conv, rule_method
from .threads import thread_count

REFERENCE_VAR = "DARKNET_PY_REFERENCE"  # "1": always run the reference layers (layers/*.py)
FINGERPRINT_SAMPLES = 64                 # weights sampled per layer for change detection

_engines = weakref.WeakKeyDictionary()  # Network -> _Engine
_tuner = None  # the process's tune.Tuner, made at the first tuned forward


def use_fast_path(net, x, environ=os.environ):
    """True for numpy float input unless DARKNET_PY_REFERENCE=1 or the network is training."""
    if environ.get(REFERENCE_VAR, "") not in ("", "0"):
        return False
    return isinstance(x, np.ndarray) and not net.train


def forget(net):
    """Drop the network's folded weights (rebuilt at the next forward)."""
    _engines.pop(net, None)


def _fingerprint(layer):
    parts = [getattr(layer, name) for name in ("biases", "scales", "rolling_mean", "rolling_variance")
             if getattr(layer, name, None) is not None]
    flat = layer.weights.reshape(-1)
    parts.append(flat[::max(1, flat.size // FINGERPRINT_SAMPLES)])
    return np.concatenate([p.reshape(-1) for p in parts]), layer.in_shape


class _Engine:
    """One network's fast methods and work buffers."""

    def __init__(self):
        self.ops = {}          # layer index -> (fingerprint, method, FastConv or None)
        self.methods = {}      # (layer index, its input shape, batch, threads, tuning) -> method
        self.scratch = Scratch()

    def op(self, net, i, x, threads):
        """The fast method of layer i (None: run its reference forward), the one measured fastest for this
        input when tuning, rebuilt when the layer's parameters changed."""
        layer = net.layers[i]
        if layer.type != "convolutional":
            return None
        nxt = net.layers[i + 1] if i + 1 < len(net.layers) else None
        tuning = blas_env.tuning_enabled()
        key = (i, layer.in_shape, x.shape[0], threads, tuning)
        if key not in self.methods:  # asked once per engine: the lookup (and its load check) cost ~0.5 ms a forward
            self.methods[key] = self.tuned(layer, nxt, x, threads) if tuning else None
        method = self.methods[key]
        fp = _fingerprint(layer)
        cached = self.ops.get(i)
        if cached is None or cached[0][1] != fp[1] or not np.array_equal(cached[0][0], fp[0]) or cached[1] != method:
            cached = self.ops[i] = (fp, method, make_conv(layer, nxt, method))
        return cached[2]

    def tuned(self, layer, pool, x, threads):
        """The method the tuner measured fastest for this layer and input shape (None: only one computes it)."""
        names = candidates(layer)
        if len(names) < 2:
            return None
        key = tune.layer_key(layer, pool, x.shape[0], threads)
        choice = tuner().known(key, names)
        if choice is None:
            ops = {name: make_conv(layer, pool, name) for name in names}
            choice = tuner().choose(key, {name: (lambda op=op: op(x, self.scratch, threads))
                                          for name, op in ops.items()}, default=rule_method(layer))
        return choice

    def forward(self, net, x):
        threads = thread_count()
        skip = None  # a maxpool computed by the conv before it
        with blas.single_threaded():
            for i, layer in enumerate(net.layers):
                if layer is skip:
                    x = layer.output
                    continue
                op = self.op(net, i, x, threads)
                if op is None:
                    x = layer.forward(x, net)
                else:
                    x = op(x, self.scratch, threads)
                    skip = op.pool
        return net.output_layer.output


def tuner():
    """The process's Tuner; the first one measures the OpenBLAS kernels if this CPU's are not in the cache."""
    global _tuner
    if _tuner is None:
        _tuner = tune.Tuner()
        if "openblas_core" not in _tuner.machine:
            print(f"darknet-py: measuring this CPU for the fast path, once (kept in {_tuner.path})", file=sys.stderr)
        _tuner.openblas_core()
    return _tuner


def forward(net, x):
    """The fast inference forward of x (B, C, H, W) float32; every layer's .output is set."""
    engine = _engines.get(net)
    if engine is None:
        engine = _engines[net] = _Engine()
    return engine.forward(net, x)


def forward_layer(net, i, x):
    """Layer i alone on x through its fast method (the reference forward where it has none), for per-layer
    comparisons: a maxpool the conv would fuse is left to its own forward. Sets the layer's .output."""
    layer = net.layers[i]
    op = make_conv(layer, None) if layer.type == "convolutional" else None
    with blas.single_threaded():
        return layer.forward(x, net) if op is None else op(x, Scratch(), thread_count())

