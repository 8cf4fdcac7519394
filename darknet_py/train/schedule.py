"""Learning-rate policies (`network.c: get_current_rate, get_current_batch`, `parser.c: parse_net_options`).

The rate depends on the batch number seen / (minibatch * subdivisions); during the first `burn_in`
batches every policy is replaced by lr * (batch / burn_in)^power.
"""
import math

import numpy as np

# get_policy: cfg name -> policy; anything else falls back to constant with a warning, as Darknet does.
POLICIES = ("constant", "step", "steps", "exp", "poly", "sigmoid", "random")


def current_batch(net):
    """get_current_batch: whole batches (minibatch * subdivisions images) trained so far."""
    return net.seen // (net.minibatch * net.subdivisions)


class Schedule:
    """The [net] options of one policy, read as parse_net_options reads them."""

    def __init__(self, section, learning_rate, policy, burn_in, power, max_batches):
        self.learning_rate, self.burn_in, self.power, self.max_batches = learning_rate, burn_in, power, max_batches
        if policy not in POLICIES:
            print(f"Couldn't find policy {policy}, going with constant")
            policy = "constant"
        self.policy = policy
        self.step = section.int("step", 1)
        self.scale = section.float("scale", 1)
        self.gamma = section.float("gamma", 1)
        self.steps = section.ints("steps", [])
        self.scales = section.floats("scales", [])
        if policy == "step" and self.step < 1:
            raise section.error(f"policy=step needs step= of at least 1, got {self.step}", "step")
        if policy == "steps" and (not self.steps or not self.scales):
            raise section.error("policy=steps needs steps= and scales= (Darknet: STEPS policy must have steps and "
                                "scales in cfg file)", "policy")

    @classmethod
    def from_network(cls, net):
        return cls(net.net_section, net.learning_rate, net.policy, net.burn_in, net.power, net.max_batches)

    def rate(self, batch_num):
        """get_current_rate for batch number `batch_num`, as a Python float (Darknet returns float)."""
        lr = self.learning_rate
        if batch_num < self.burn_in:
            return float(np.float32(lr * _c_math(math.pow, batch_num / self.burn_in, self.power)))
        if self.policy == "step":
            rate = lr * _c_math(math.pow, self.scale, batch_num // self.step)
        elif self.policy == "steps":
            rate = lr
            for step, scale in zip(self.steps, self.scales):
                if step > batch_num:
                    break
                rate *= scale
        elif self.policy == "exp":
            rate = lr * _c_math(math.pow, self.gamma, batch_num)
        elif self.policy == "poly":
            rate = lr * _c_math(math.pow, 1 - batch_num / self.max_batches, self.power)
        elif self.policy == "sigmoid":
            rate = lr * (1. / (1. + _c_math(math.exp, self.gamma * (batch_num - self.step))))
        elif self.policy == "random":
            rate = lr * _c_math(math.pow, np.random.random(), self.power)
        else:
            rate = lr
        return float(np.float32(rate))


def _c_math(fn, *args):
    """fn as C's libm answers: inf where Python's overflows, NaN out of its domain (a negative base to a
    fractional power), never an exception in the middle of training."""
    try:
        return fn(*args)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def check_training_options(net, endless=False):
    """What training needs of [net] and Darknet never checks (batch=0 trains on nothing, as does a batch smaller
    than its subdivisions; the schedule's options are read once here, so a bad one shows before training).
    endless: max_batches=0 means train forever (train_classifier), unless the poly policy divides by it."""
    section = net.net_section
    if net.batch_size < 1:
        raise section.error(f"batch must be at least 1 to train, got {net.batch_size}", "batch")
    if not 1 <= net.subdivisions <= net.batch_size:
        raise section.error(f"subdivisions must be between 1 and batch={net.batch_size}, got {net.subdivisions}",
                            "subdivisions")
    if net.max_batches < (0 if endless and net.policy != "poly" else 1):
        raise section.error(f"max_batches must be at least 1 to train{' with policy=poly' * endless}, got "
                            f"{net.max_batches}", "max_batches")
    Schedule.from_network(net)


def current_rate(net):
    """get_current_rate(net) at the network's current batch number."""
    return Schedule.from_network(net).rate(current_batch(net))
