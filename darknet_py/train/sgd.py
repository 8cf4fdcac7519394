"""Darknet's SGD step (`network.c: train_network_datum, update_network`, `convolutional_layer.c:
update_convolutional_layer`, `connected_layer.c: update_connected_layer`).

Deltas are target - output, so gradients point downhill and the update *adds* them. Weight, bias and
scale updates accumulate over the subdivisions of a batch (they are never zeroed, only decayed by the
momentum), and the step divides by the full batch (minibatch * subdivisions).

The layers only fill their `*_updates` arrays (Layer.accumulate); the step is this module's. On a GPU the
parameters it steps are the device's copies (Network.parameters).
"""
from ..gpu.device import array_module
from .schedule import current_rate


def sgd_update(params, learning_rate, momentum, decay, batch):
    """update_convolutional_layer on the arrays of `params` (a layer, or its parameters on a GPU): biases
    and scales step without decay, weights with decay*batch."""
    dtype = params.weights.dtype.type
    rate = dtype(learning_rate / batch)
    for name, updates_name in (("biases", "bias_updates"), ("scales", "scale_updates")):
        updates = getattr(params, updates_name, None)
        if updates is not None:
            param = getattr(params, name)
            param += rate * updates
            updates *= dtype(momentum)
    updates = getattr(params, "weight_updates", None)
    if updates is None:  # Darknet allocates the buffers with the layer: weights decay even without gradients
        updates = params.weight_updates = array_module(params.weights).zeros_like(params.weights)
    updates += dtype(-decay * batch) * params.weights
    params.weights += rate * updates
    updates *= dtype(momentum)


def update_arguments(net):
    """update_network's arguments: the current rate, momentum, decay and the full batch (minibatch * subdivisions)."""
    return current_rate(net), net.momentum, net.decay, net.minibatch * net.subdivisions


def update_network(net, learning_rate, momentum, decay, batch):
    """update_network's loop: one SGD step for every layer with weights, at its own rate multiplier
    (a layer section's `learning_rate`)."""
    for layer, params in net.parameters():
        sgd_update(params, learning_rate * layer.learning_rate_scale, momentum, decay, batch)


def update_due(net):
    """train_network_datum updates once every `subdivisions` minibatches."""
    return (net.seen // net.minibatch) % net.subdivisions == 0


def train_datum(net, x, truth):
    """train_network_datum: one minibatch forward and backward; update once every `subdivisions` minibatches.

    Returns the network cost (calc_network_cost: the mean of the layers' costs). A network on a GPU
    (Network.to) runs its forward and backward there (gpu/train.py), and the step updates the device's
    parameters.
    """
    net.seen += net.minibatch
    net.forward_backward(x, truth)
    if update_due(net):
        update_network(net, *update_arguments(net))
    return net.cost
