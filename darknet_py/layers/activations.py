"""Darknet's activations (`activations.h`): forward on x, gradient on the activated output y.

Darknet computes gradients from the *output* (e.g. logistic' = y*(1-y)), so `gradient(name, y)` takes y.
Functions take and return arrays of the caller's array module (numpy or CuPy) and keep float32.
"""
import numpy as np

from ..gpu.device import array_module as _xp


def _f(x, v):
    return x.dtype.type(v)


def _logistic(x):
    xp = _xp(x)
    with np.errstate(over="ignore"):  # exp(-x) is inf below x = -88: 1/(1 + inf) = 0, as Darknet's C gives
        return (1 / (1 + xp.exp(-x))).astype(x.dtype, copy=False)


def _stair(x):
    xp = _xp(x)
    n = xp.floor(x)
    return xp.where(n % 2 == 0, xp.floor(x / 2), (x - n) + xp.floor(x / 2)).astype(x.dtype, copy=False)


FORWARD = {
    "linear": lambda x: x,
    "logistic": _logistic,
    "loggy": lambda x: 2 * _logistic(x) - 1,
    "relu": lambda x: x * (x > 0),
    "elu": lambda x: _xp(x).where(x >= 0, x, _xp(x).exp(x) - 1),
    "selu": lambda x: _xp(x).where(x >= 0, _f(x, 1.0507) * x, _f(x, 1.0507 * 1.6732) * (_xp(x).exp(x) - 1)),
    "relie": lambda x: _xp(x).where(x > 0, x, _f(x, .01) * x),
    "ramp": lambda x: x * (x > 0) + _f(x, .1) * x,
    # (x > 0) ? x : .1*x, as max(x, .1*x): the same float32 bits, 4x faster than where() on large maps
    "leaky": lambda x: _xp(x).maximum(x, _f(x, .1) * x),
    "tanh": lambda x: _xp(x).tanh(x),
    "plse": lambda x: _xp(x).where(x < -4, _f(x, .01) * (x + 4),
                                   _xp(x).where(x > 4, _f(x, .01) * (x - 4) + 1, _f(x, .125) * x + _f(x, .5))),
    "stair": _stair,
    "hardtan": lambda x: _xp(x).clip(x, -1, 1),
    "lhtan": lambda x: _xp(x).where(x < 0, _f(x, .001) * x, _xp(x).where(x > 1, _f(x, .001) * (x - 1) + 1, x)),
}

GRADIENT = {
    "linear": lambda y: _xp(y).ones_like(y),
    "logistic": lambda y: (1 - y) * y,
    "loggy": lambda y: 2 * (1 - (y + 1) / 2) * ((y + 1) / 2),
    "relu": lambda y: (y > 0).astype(y.dtype),
    "elu": lambda y: (y >= 0) + (y < 0) * (y + 1),
    "selu": lambda y: _xp(y).where(y >= 0, _f(y, 1.0507), y + _f(y, 1.0507 * 1.6732)),
    "relie": lambda y: _xp(y).where(y > 0, _f(y, 1), _f(y, .01)),
    "ramp": lambda y: (y > 0) + _f(y, .1),
    "leaky": lambda y: _xp(y).where(y > 0, _f(y, 1), _f(y, .1)),
    "tanh": lambda y: 1 - y * y,
    "plse": lambda y: _xp(y).where((y < 0) | (y > 1), _f(y, .01), _f(y, .125)),
    "stair": lambda y: (_xp(y).floor(y) != y).astype(y.dtype),
    "hardtan": lambda y: ((y > -1) & (y < 1)).astype(y.dtype),
    "lhtan": lambda y: _xp(y).where((y > 0) & (y < 1), _f(y, 1), _f(y, .001)),
}


def activate(name, x):
    return FORWARD[name](x).astype(x.dtype, copy=False)


def gradient(name, y):
    return GRADIENT[name](y).astype(y.dtype, copy=False)


def from_cfg(section, default):
    """A layer's `activation=` option (get_activation), refused with file:line when Darknet has no such name."""
    name = section.str("activation", default)
    if name not in FORWARD:
        raise section.error(f"unknown activation '{name}'", "activation")
    return name
