"""Darknet's SGD step (update_convolutional_layer), its learning-rate policies (get_current_rate) and the
train_network_datum bookkeeping (seen, update every `subdivisions` minibatches)."""
from types import SimpleNamespace

import numpy as np
import pytest

from darknet_py.errors import CfgError
from darknet_py.network import Network
from darknet_py.train import sgd
from darknet_py.train.schedule import Schedule, check_training_options, current_batch
from darknet_py.train.sgd import sgd_update, train_datum


def test_sgd_update_follows_update_convolutional_layer():
    layer = SimpleNamespace(weights=np.array([1., -2.], np.float32), biases=np.array([.5], np.float32),
                            scales=np.array([2.], np.float32), weight_updates=np.array([4., 8.], np.float32),
                            bias_updates=np.array([10.], np.float32), scale_updates=np.array([-6.], np.float32))
    sgd_update(layer, learning_rate=.1, momentum=.9, decay=.01, batch=4)
    # biases, scales: x += lr/batch * upd; upd *= momentum.
    np.testing.assert_allclose(layer.biases, [.5 + .025 * 10], rtol=1e-6)
    np.testing.assert_allclose(layer.bias_updates, [9.], rtol=1e-6)
    np.testing.assert_allclose(layer.scales, [2 - .025 * 6], rtol=1e-6)
    np.testing.assert_allclose(layer.scale_updates, [-5.4], rtol=1e-6)
    # weights: upd += -decay*batch*w; w += lr/batch * upd; upd *= momentum.
    upd = np.array([4 - .04 * 1, 8 + .04 * 2])
    np.testing.assert_allclose(layer.weights, [1 + .025 * upd[0], -2 + .025 * upd[1]], rtol=1e-6)
    np.testing.assert_allclose(layer.weight_updates, .9 * upd, rtol=1e-6)


class Section:
    """The few [net] keys a Schedule reads."""

    def __init__(self, **values):
        self.values = values

    def int(self, key, default=None):
        return self.values.get(key, default)

    float = int

    def ints(self, key, default=None):
        return self.values.get(key, default)

    floats = ints


def schedule(policy, burn_in=0, power=4, max_batches=0, **keys):
    return Schedule(Section(**keys), .01, policy, burn_in, power, max_batches)


@pytest.mark.parametrize("policy, keys, batch, rate", [
    ("constant", {}, 500, .01),
    ("step", {"step": 100, "scale": .5}, 250, .01 * .5 ** 2),  # pow(scale, batch/step), integer division
    ("steps", {"steps": [100, 200], "scales": [.1, .5]}, 99, .01),
    ("steps", {"steps": [100, 200], "scales": [.1, .5]}, 100, .001),  # a step applies from its batch on
    ("steps", {"steps": [100, 200], "scales": [.1, .5]}, 300, .0005),
    ("exp", {"gamma": .99}, 10, .01 * .99 ** 10),
    ("poly", {}, 250, .01 * (1 - 250 / 1000) ** 4),
    ("sigmoid", {"gamma": .1, "step": 50}, 60, .01 / (1 + np.exp(.1 * 10))),
])
def test_policies(policy, keys, batch, rate):
    assert schedule(policy, max_batches=1000, **keys).rate(batch) == pytest.approx(rate, rel=1e-6)


def test_random_policy_is_lr_times_uniform_to_the_power():
    np.random.seed(0)
    u = np.random.random()
    np.random.seed(0)
    assert schedule("random", power=2).rate(5) == pytest.approx(.01 * u ** 2, rel=1e-6)


def test_burn_in_overrides_every_policy():
    s = schedule("steps", burn_in=1000, power=4, steps=[1], scales=[.1])
    assert s.rate(0) == 0
    assert s.rate(500) == pytest.approx(.01 * .5 ** 4, rel=1e-6)
    assert s.rate(1000) == pytest.approx(.001, rel=1e-6)


def test_rates_overflow_as_in_c_not_with_an_exception():
    """C's pow and exp give inf or 0 where Python's raise OverflowError (a traceback mid-training)."""
    assert schedule("exp", gamma=1e10).rate(10 ** 6) == np.inf
    assert schedule("sigmoid", gamma=10., step=1).rate(10 ** 6) == 0
    assert schedule("step", step=1, scale=1e300).rate(10) == np.inf


def test_training_options_are_checked_with_file_and_line(tmp_path):
    head = "[net]\nwidth=2\nheight=2\nchannels=1\n"
    body = "\n[connected]\noutput=2\n"
    for options, message, endless in [
            ("batch=0", r"n\.cfg:5: batch must be at least 1 to train, got 0", False),
            ("batch=4\nsubdivisions=8", r"n\.cfg:6: subdivisions must be between 1 and batch=4, got 8", False),
            ("max_batches=0", r"n\.cfg:5: max_batches must be at least 1 to train, got 0", False),
            ("max_batches=0\npolicy=poly", r"max_batches must be at least 1 to train with policy=poly", True),
            ("policy=steps\nmax_batches=9", r"n\.cfg:5: policy=steps needs steps= and scales=", False),
            ("policy=step\nstep=0\nmax_batches=9", r"n\.cfg:6: policy=step needs step= of at least 1", False)]:
        cfg = tmp_path / "n.cfg"
        cfg.write_text(head + options + body)
        with pytest.raises(CfgError, match=message):
            check_training_options(Network.from_cfg(cfg), endless)
    cfg.write_text(head + "max_batches=0" + body)
    check_training_options(Network.from_cfg(cfg), endless=True)  # train_classifier: 0 is forever


def test_unknown_policy_goes_with_constant(capsys):
    assert schedule("cosine").rate(10) == pytest.approx(.01)
    assert capsys.readouterr().out == "Couldn't find policy cosine, going with constant\n"


def test_updates_every_subdivisions_minibatches(tmp_path, monkeypatch):
    cfg = tmp_path / "n.cfg"
    cfg.write_text("[net]\nbatch=6\nsubdivisions=3\nwidth=2\nheight=2\nchannels=1\nlearning_rate=.5\n\n"
                   "[connected]\noutput=2\nactivation=linear\n\n[cost]\n")
    net = Network.from_cfg(cfg)
    assert net.minibatch == 2  # parse_net_options: net->batch = batch / subdivisions
    calls = []
    monkeypatch.setattr(sgd, "update_network", lambda net, *args: calls.append((net.seen, args)))
    x, truth = np.ones((2, 1, 2, 2), np.float32), np.zeros((2, 2), np.float32)
    layer = net.layers[0]
    for _ in range(2):
        train_datum(net, x, truth)
    assert calls == [] and net.seen == 4
    first = layer.weight_updates.copy()
    train_datum(net, x, truth)  # the third minibatch completes the batch of 6
    np.testing.assert_allclose(layer.weight_updates, 1.5 * first, rtol=1e-6)  # accumulated, not reset
    assert calls == [(6, (.5, net.momentum, net.decay, 6))]
    assert current_batch(net) == 1
