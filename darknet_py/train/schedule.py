"""Learning-rate policies (`network.c: get_current_rate, get_current_batch`, `parser.c: parse_net_options`).

The rate depends on the batch number seen / (minibatch * subdivisions); during the first `burn_in`
batches every policy is replaced by lr * (batch / burn_in)^power.
"""
import math

import numpy as np

from ..errors import DarknetError

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
        if policy == "steps" and (not self.steps or not self.scales):
            raise DarknetError("STEPS policy must have steps and scales in cfg file")

    @classmethod
    def from_network(cls, net):
        return cls(net.net_section, net.learning_rate, net.policy, net.burn_in, net.power, net.max_batches)

    def rate(self, batch_num):
        """get_current_rate for batch number `batch_num`, as a Python float (Darknet returns float)."""
        lr = self.learning_rate
        if batch_num < self.burn_in:
            return float(np.float32(lr * math.pow(batch_num / self.burn_in, self.power)))
        if self.policy == "step":
            rate = lr * math.pow(self.scale, batch_num // self.step)
        elif self.policy == "steps":
            rate = lr
            for step, scale in zip(self.steps, self.scales):
                if step > batch_num:
                    break
                rate *= scale
        elif self.policy == "exp":
            rate = lr * math.pow(self.gamma, batch_num)
        elif self.policy == "poly":
            rate = lr * math.pow(1 - batch_num / self.max_batches, self.power)
        elif self.policy == "sigmoid":
            rate = lr * (1. / (1. + math.exp(self.gamma * (batch_num - self.step))))
        elif self.policy == "random":
            rate = lr * math.pow(np.random.random(), self.power)
        else:
            rate = lr
        return float(np.float32(rate))


def current_rate(net):
    """get_current_rate(net) at the network's current batch number."""
    return Schedule.from_network(net).rate(current_batch(net))
