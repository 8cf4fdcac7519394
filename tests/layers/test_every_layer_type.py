"""Layer types and options the YOLOv2 cfgs don't exercise, through the oracle on a small cfg of our own."""
import numpy as np
import pytest

import oracle
from conftest import CHAINED_TOLERANCE, TOLERANCE, chained_errors, isolated_errors, needs_oracle
from darknet_py.network import Network
from darknet_py.weights import write_random_weights

ACTIVATIONS = ["logistic", "loggy", "relu", "elu", "selu", "relie", "ramp", "leaky", "tanh", "plse", "stair",
               "hardtan", "lhtan", "linear"]

NET = """[net]
width={w}
height={h}
channels=3

[convolutional]
filters=8
size=3
stride=2
pad=1
activation={act}

[convolutional]
batch_normalize=1
filters=8
groups=2
size=3
stride=1
pad=1
activation=leaky

[reorg]
stride=2

[reorg]
stride=2
reverse=1

[shortcut]
from=-3
activation=leaky

[maxpool]
size=3
stride=2

[convolutional]
filters=16
size=3
stride=1
padding=2
activation=linear

[maxpool]
size=2
stride=1

[route]
layers=-1,-2

[avgpool]

[connected]
output=12
batch_normalize=1
activation=leaky

[dropout]
probability=.25

[connected]
output=10
activation=linear

[softmax]
groups=2

[cost]
type=sse
"""


@needs_oracle
@pytest.mark.parametrize("act,w,h", [(a, 20, 16) for a in ACTIVATIONS] + [("leaky", 44, 28)])
def test_small_network_of_every_type(tmp_path, act, w, h):
    cfg = tmp_path / "all.cfg"
    cfg.write_text(NET.format(act=act, w=w, h=h))
    weights = tmp_path / "all.weights"
    net = Network.from_cfg(cfg)
    write_random_weights(net, weights, seed=3)
    x = np.random.default_rng(1).normal(size=(2,) + net.input_shape).astype(np.float32) * 2
    ref = oracle.layer_outputs(cfg, weights, x)
    for i, kind, error in chained_errors(net, x, ref):
        assert error < CHAINED_TOLERANCE, f"end to end: layer {i} {kind}"
    for fast in (False, True):
        for i, kind, error in isolated_errors(net, x, ref, fast):
            assert error < TOLERANCE, f"on the oracle's inputs: layer {i} {kind}"
