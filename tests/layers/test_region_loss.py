"""The region (YOLOv2) loss: Darknet's deltas and cost (oracle.train with STEPS=0 runs its CPU
forward_region_layer in training mode), a case computed by hand, the tree and YOLO9000 rules, and a
finite-difference check of the backward pass (Darknet's GPU semantics)."""
import math

import numpy as np
import pytest

import oracle
from conftest import TOLERANCE, isolated_training_errors, needs_oracle, relative_error
from darknet_py.network import Network
from darknet_py.layers.region_loss import region_loss
from darknet_py.weights import write_random_weights
from test_backward import gradient_check

DETECTOR_CFG = """[net]
batch=2
subdivisions=1
width=8
height=8
channels=3

[convolutional]
filters=16
size=3
stride=2
pad=1
activation=leaky

[convolutional]
filters={filters}
size=1
stride=1
activation=linear

[region]
anchors={anchors}
bias_match={bias_match}
classes=3
coords=4
num={num}
softmax={softmax}
rescore={rescore}
object_scale=5
noobject_scale=1
class_scale=1
coord_scale=1
thresh={thresh}
"""

# Boxes x, y, w, h, class (normalised); the second shares the first's 4x4 cell, a truth of x=0 ends the list.
TRUTHS = [[[.3, .4, .3, .5, 1], [.35, .45, .2, .3, 2], [.8, .1, .6, .15, 0], [.55, .6, .9, .8, 1]],
          [[.1, .9, .1, .1, 2]]]


def truth_array(rows, batch=2):
    truth = np.zeros((batch, 30 * 5), np.float32)
    for b, boxes in enumerate(rows):
        truth[b, :5 * len(boxes)] = np.ravel(boxes)
    return truth


def detector(tmp_path, num=2, anchors="1.0,1.5, 2.5,2.0", softmax=1, bias_match=1, rescore=1, thresh=.3):
    cfg = tmp_path / "region.cfg"
    cfg.write_text(DETECTOR_CFG.format(filters=num * 8, anchors=anchors, num=num, softmax=softmax,
                                       bias_match=bias_match, rescore=rescore, thresh=thresh))
    return cfg


@needs_oracle
@pytest.mark.parametrize("seen", [0, 20000], ids=["prior", "no-prior"])
@pytest.mark.parametrize("options", [
    {},  # yolov2's choices: softmax classes, bias_match, rescore
    {"softmax": 0, "bias_match": 0, "rescore": 0, "thresh": .05},
    {"num": 1, "anchors": "1.5,1.5", "softmax": 0},  # two truths on one anchor: logistic classes' `tag` rule
], ids=["yolov2", "logistic", "shared-anchor"])
def test_deltas_and_cost_match_darknet(tmp_path, capsys, seen, options):
    cfg = detector(tmp_path, **options)
    net = Network.from_cfg(cfg)
    write_random_weights(net, tmp_path / "init.weights", seed=3)
    x = np.random.default_rng(0).random((2,) + net.input_shape, dtype=np.float32)
    truth = truth_array(TRUTHS)
    dump = oracle.trace(cfg, tmp_path / "init.weights", x, truth, seen, 0, tmp_path)
    net.seen = seen
    for i, kind, what, error in isolated_training_errors(net, x, truth, dump):  # the region on Darknet's input
        assert error < TOLERANCE, f"layer {i} {kind} {what}: {error:.3g}"
    assert capsys.readouterr().out.startswith("Region Avg IOU: ")
    net.forward(x, train=True, truth=truth)  # through the two convs: at most 2.2e-7 measured, AVX2 or AVX-512
    region = net.layers[-1]
    assert relative_error(region.output.ravel(), dump["out"][-1]) < TOLERANCE
    assert relative_error(region.delta.ravel(), dump["fwd"][-1]) < TOLERANCE
    assert region.cost == pytest.approx(float(dump["cost"][0]), rel=TOLERANCE)


def single_cell(tmp_path, body):
    cfg = tmp_path / "cell.cfg"
    cfg.write_text(f"[net]\nbatch=1\nwidth=1\nheight=1\nchannels={1 * 7}\n\n[region]\n{body}")
    return Network.from_cfg(cfg)


def test_hand_computed_case(tmp_path, capsys):
    # One cell, one anchor 0.5 x 0.5, two softmax classes; raw tx=1, ty=tw=th=0, objectness 0, classes (0, 2).
    net = single_cell(tmp_path, "anchors=.5,.5\nclasses=2\nnum=1\nsoftmax=1\nrescore=1\nobject_scale=5\n"
                      "thresh=.6\nbias_match=1\n")
    x = np.array([1, 0, 0, 0, 0, 0, 2], np.float32).reshape(1, 7, 1, 1)
    truth = truth_array([[[.5, .5, .5, .5, 1]]], batch=1)
    net.seen = 20000
    net.forward(x, train=True, truth=truth)
    region = net.layers[0]
    # Prediction (sigma(1), .5, .5, .5) = (.7310586, .5, .5, .5) vs truth (.5, .5, .5, .5): IoU = .3678794.
    # x: coord_scale*(2 - .5*.5) * (.5 - .7310586) = 1.75 * -.2310586; y, w, h: targets equal outputs.
    # objectness (rescore): 5 * (IoU - sigma(0)); classes: onehot(1) - softmax(0, 2) = (-.1192029, .1192029).
    expected = [-0.4043525126025086, 0, 0, 0, -0.6606027941427886, -0.11920292202211755, 0.11920292202211755]
    np.testing.assert_allclose(region.delta.ravel(), expected, atol=2e-7)
    assert region.cost == pytest.approx(0.6283156793144433, rel=1e-6)
    assert capsys.readouterr().out == ("Region Avg IOU: 0.367879, Class: 0.880797, Obj: 0.500000, No Obj: 0.500000, "
                                       "Avg Recall: 0.000000,  count: 1\n")
    # Backward (GPU semantics): tx and objectness deltas times the logistic gradient, the rest as they are.
    delta = np.zeros_like(x)
    net.backward(delta)
    np.testing.assert_allclose(delta.ravel(), [-0.07950052921382987, 0, 0, 0, -0.16515069853569714,
                                               -0.11920292202211755, 0.11920292202211755], atol=2e-7)


def test_no_truth_prints_darknets_nan(tmp_path, capsys):
    net = single_cell(tmp_path, "anchors=.5,.5\nclasses=2\nnum=1\nsoftmax=1\n")
    net.seen = 20000
    net.forward(np.zeros((1, 7, 1, 1), np.float32), train=True, truth=truth_array([[]], batch=1))
    assert net.layers[0].delta.ravel().tolist() == [0, 0, 0, 0, -.5, 0, 0]
    assert capsys.readouterr().out == ("Region Avg IOU: -nan, Class: -nan, Obj: -nan, No Obj: 0.500000, "
                                       "Avg Recall: -nan,  count: 0\n")


def test_gradient_of_the_region_loss(tmp_path):
    # With unit scales, no prior term (seen >= 12800) and coord_scale = 1/(2 - w*h), the deltas are
    # -d/d(input) of 0.5 * sum(non-class deltas^2) + the softmax cross-entropy of the matched anchor.
    w, h = .4, .5
    cfg = tmp_path / "g.cfg"
    cfg.write_text("[net]\nbatch=1\nwidth=4\nheight=4\nchannels=3\n\n[convolutional]\nfilters=16\nsize=3\nstride=2\n"
                   "pad=1\nactivation=linear\n\n[region]\nanchors=1,1.5, 2,1\nbias_match=1\nclasses=3\nnum=2\n"
                   f"softmax=1\nthresh=.99\ncoord_scale={1 / (2 - w * h)!r}\n")
    net = Network.from_cfg(cfg)
    for layer in net.layers[:1]:
        layer.weights = layer.weights.astype(np.float64) * .5
        layer.biases = layer.biases.astype(np.float64)
    net.seen = 20000
    truth = truth_array([[[.3, .7, w, h, 2]]], batch=1)
    region = net.layers[1]
    # The truth's cell is (i, j) = (0, 1) of the 2x2 grid; bias_match picks anchor 0 (1 x 1.5 cells).
    matched = (0, 5 + 2, 1, 0)  # (batch, anchor 0's class 2 channel, j, i)

    def loss(net):
        d = region.delta.reshape(1, 2, 8, 2, 2)
        p = region.output[matched]
        return .5 * float((d[:, :, :5] ** 2).sum()) - math.log(p)

    gradient_check(net, np.random.default_rng(0).normal(size=(1, 3, 4, 4)), truth=truth, loss=loss, tol=1e-5)


TREE = "a -1\nb -1\na1 0\na2 0\nb1 1\nb2 1\nb2x 5\nb2y 5\n"  # groups {a, b}, {a1, a2}, {b1, b2}, {b2x, b2y}


def tree_net(tmp_path):
    (tmp_path / "t.tree").write_text(TREE)
    cfg = tmp_path / "tree.cfg"
    cfg.write_text(f"[net]\nbatch=1\nwidth=2\nheight=1\nchannels={2 * 13}\n\n[region]\nanchors=1,1, 2,1\n"
                   f"classes=8\nnum=2\nbias_match=1\nsoftmax=1\ntree={tmp_path / 't.tree'}\nthresh=.6\n")
    return Network.from_cfg(cfg)


def test_tree_class_deltas_walk_up_the_parents(tmp_path):
    net = tree_net(tmp_path)
    x = np.random.default_rng(0).normal(size=(1, 26, 1, 2)).astype(np.float32)
    net.seen = 20000
    net.forward(x, train=True, truth=truth_array([[[.75, .5, .5, .5, 6]]], batch=1))  # label b2x
    region = net.layers[0]
    out = region.output.reshape(2, 13, 2)
    delta = region.delta.reshape(2, 13, 2)
    # Cell (i=1), anchor 0 (1x1 cells = .5 x 1 of the image, the closer shape to .5 x .5): groups {b2x, b2y},
    # {b1, b2}, {a, b} get onehot - p; {a1, a2} stays 0.
    classes, p = delta[0, 5:, 1], out[0, 5:, 1]
    target = np.array([0, 1, 0, 0, 0, 1, 1, 0], np.float32)
    on_path = [0, 1, 4, 5, 6, 7]
    np.testing.assert_allclose(classes[on_path], (target - p)[on_path], atol=1e-7)
    assert (classes[[2, 3]] == 0).all() and (delta[:, 5:, 0] == 0).all() and (delta[1, 5:] == 0).all()
    # "Class:" averages the label's tree probability p(b2x | b2) p(b2 | b) p(b).
    assert region.stats.avg_cat == pytest.approx(float(p[6] * p[5] * p[1]), rel=1e-6)


def test_yolo9000_classification_only_truth(tmp_path):
    net = tree_net(tmp_path)
    x = np.random.default_rng(1).normal(size=(1, 26, 1, 2)).astype(np.float32)
    net.forward(x, train=True, truth=truth_array([[[999999, 999999, 1, 1, 4]]], batch=1))  # label b1, no box
    region = net.layers[0]
    out, delta = region.output.reshape(2, 13, 2), region.delta.reshape(2, 13, 2)
    # The location with the highest objectness * P(b1) = sigma(obj) p(b1 | b) p(b) takes the class deltas.
    score = out[:, 4] * out[:, 5 + 4] * out[:, 5 + 1]
    n, i = np.unravel_index(np.argmax(score), score.shape)
    objectness = -out[:, 4]
    objectness[n, i] = 0  # the .3 target Darknet computes is overwritten with 0
    np.testing.assert_allclose(delta[:, 4], objectness, atol=1e-7)
    assert (delta[:, :4] == 0).all()  # no box and no prior term, whatever net.seen says
    classes = delta[:, 5:].copy()
    np.testing.assert_allclose(classes[n, [0, 1], i], [-out[n, 5, i], 1 - out[n, 6, i]], atol=1e-7)
    np.testing.assert_allclose(classes[n, [4, 5], i], [1 - out[n, 9, i], -out[n, 10, i]], atol=1e-7)
    classes[n, [0, 1, 4, 5], i] = 0
    assert (classes == 0).all()
    assert region.stats.count == 0 and region.stats.class_count == 1


def test_region_loss_function(tmp_path):
    """region_loss is usable on its own (as the GPU path will): it leaves the layer untouched."""
    net = single_cell(tmp_path, "anchors=.5,.5\nclasses=2\nnum=1\nsoftmax=1\nrescore=1\nobject_scale=5\n")
    layer = net.layers[0]
    out = layer.forward(np.array([1, 0, 0, 0, 0, 0, 2], np.float32).reshape(1, 7, 1, 1), net)
    delta, cost, stats = region_loss(layer, out, truth_array([[[.5, .5, .5, .5, 1]]], batch=1), seen=20000)
    assert delta.shape == out.shape and cost == pytest.approx(0.6283156793144433, rel=1e-6)
    assert (stats.count, stats.recall) == (1, 0)


@needs_oracle
def test_yolov2_tiny_voc_training_forward_matches_darknet(tmp_path, capsys):
    """A real cfg at 416x416: batch-statistics BN through 9 conv layers, then the region loss. Each layer on the
    oracle's inputs within TOLERANCE; end to end within CHAINED below."""
    # End to end, measured with AVX2 and AVX-512 kernels (issue 11): region output 9.1e-6, deltas 8.0e-6 of
    # their max, cost 2.5e-6 (yolov2.cfg gives 3.3e-5 / 3.5e-5, not run here); the bound leaves 2x. Alone, on
    # the oracle's inputs: 5.5e-6 at most (a batch-normalised conv, batch statistics).
    chained = 2e-5
    cfg = oracle._cfg_with_batch(oracle.DARKNET_DIR / "cfg" / "yolov2-tiny-voc.cfg", 2, tmp_path)
    net = Network.from_cfg(cfg)
    write_random_weights(net, tmp_path / "w.weights", seed=1)
    net.seen = 0
    x = np.random.default_rng(0).random((2,) + net.input_shape, dtype=np.float32)
    truth = truth_array([[[.3, .4, .3, .5, 1], [.35, .45, .2, .3, 2], [.8, .2, .3, .15, 0]], [[.6, .6, .5, .7, 3]]])
    dump = oracle.trace(cfg, tmp_path / "w.weights", x, truth, 0, 0, tmp_path)
    net.forward(x, train=True, truth=truth)
    region = net.layers[-1]
    assert relative_error(region.output.ravel(), dump["out"][-1]) < chained
    assert relative_error(region.delta.ravel(), dump["fwd"][-1]) < chained
    assert region.cost == pytest.approx(float(dump["cost"][0]), rel=chained)
    for i, kind, what, error in isolated_training_errors(net, x, truth, dump):
        assert error < TOLERANCE, f"layer {i} {kind} {what}: {error:.3g}"
