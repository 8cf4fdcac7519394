"""Layer types and options the YOLOv2 cfgs don't exercise, through the oracle on a small cfg of our own."""
import numpy as np
import pytest

import oracle
from conftest import assert_matches, needs_oracle
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
    assert_matches(net, x, ref)


# The model zoo's layer types with the options their cfgs leave at the defaults: an off-centre crop, an
# upsample with a scale, a downsample (negative stride), an unpadded strided [local], a [yolo] predicting
# two of four anchors and a [detection] with softmax classes.
ZOO_NET = """[net]
width={w}
height={h}
channels=3

[crop]
crop_width={cw}
crop_height={ch}
flip=1

[convolutional]
filters=6
size=3
stride=1
pad=1
activation=leaky

[upsample]
stride=2
scale=.5

[upsample]
stride=-2

[local]
filters=4
size=3
stride=2
activation=leaky

[convolutional]
filters=16
size=1
activation=linear

[yolo]
mask=1,3
anchors=4,5, 10,8, 12,20, 30,22
num=4
classes=3

[route]
layers=-2

[connected]
output={outputs}
activation=linear

[detection]
classes=3
coords=4
side=2
num=2
softmax=1
"""


@needs_oracle
@pytest.mark.parametrize("w,h,cw,ch", [(19, 15, 16, 12), (24, 21, 21, 17)])
def test_small_network_of_the_zoo_types(tmp_path, w, h, cw, ch):
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(ZOO_NET.format(w=w, h=h, cw=cw, ch=ch, outputs=2 * 2 * ((1 + 4) * 2 + 3)))
    weights = tmp_path / "zoo.weights"
    net = Network.from_cfg(cfg)
    write_random_weights(net, weights, seed=4)
    x = np.random.default_rng(2).random((2,) + net.input_shape, dtype=np.float32)
    ref = oracle.layer_outputs(cfg, weights, x)
    assert_matches(net, x, ref)
