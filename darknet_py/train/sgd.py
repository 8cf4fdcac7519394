"""Darknet's SGD step (`network.c: train_network_datum, update_network`, `convolutional_layer.c:
update_convolutional_layer`, `connected_layer.c: update_connected_layer`).

Deltas are target - output, so gradients point downhill and the update *adds* them. Weight, bias and
scale updates accumulate over the subdivisions of a batch (they are never zeroed, only decayed by the
momentum), and the step divides by the full batch (minibatch * subdivisions).
"""
import numpy as np

from ..cpu.heap import keep_freed_memory
from ..gpu.device import array_module, to_numpy
from .schedule import current_rate


def like(ref, value):
    """value in ref's array module (parameters may live on the host while gradients are on the GPU)."""
    return to_numpy(value).astype(ref.dtype, copy=False) if isinstance(ref, np.ndarray) else value


def accumulate(layer, name, value):
    """layer.<name> += value (Darknet's weight_updates, bias_updates, ...), zeros on first use."""
    updates = getattr(layer, name, None)
    if updates is None:
        updates = array_module(value).zeros_like(value)
        setattr(layer, name, updates)
    updates += like(updates, value)


def sgd_update(layer, learning_rate, momentum, decay, batch):
    """update_convolutional_layer: biases and scales step without decay, weights with decay*batch."""
    dtype = layer.weights.dtype.type
    rate = dtype(learning_rate / batch)
    for name, updates_name in (("biases", "bias_updates"), ("scales", "scale_updates")):
        updates = getattr(layer, updates_name, None)
        if updates is not None:
            param = getattr(layer, name)
            param += rate * updates
            updates *= dtype(momentum)
    updates = getattr(layer, "weight_updates", None)
    if updates is None:  # Darknet allocates the buffers with the layer: weights decay even without gradients
        updates = layer.weight_updates = array_module(layer.weights).zeros_like(layer.weights)
    updates += dtype(-decay * batch) * layer.weights
    layer.weights += rate * updates
    updates *= dtype(momentum)


def update_arguments(net):
    """update_network's arguments: the current rate, momentum, decay and the full batch (minibatch * subdivisions)."""
    return current_rate(net), net.momentum, net.decay, net.minibatch * net.subdivisions


def update_network(net):
    """update_network: every layer with parameters takes one step at the current learning rate."""
    net.update(*update_arguments(net))


def update_due(net):
    """train_network_datum updates once every `subdivisions` minibatches."""
    return (net.seen // net.minibatch) % net.subdivisions == 0


def train_datum(net, x, truth):
    """train_network_datum: one minibatch forward and backward; update once every `subdivisions` minibatches.

    Returns the network cost (calc_network_cost: the mean of the layers' costs). A network on a GPU
    (Network.to) trains there (gpu/train.py).
    """
    if net.gpu is not None:
        return net.gpu.train_datum(x, truth)
    keep_freed_memory()  # each step reuses the last one's memory instead of faulting in new pages
    net.seen += net.minibatch
    net.forward(x, train=True, truth=truth)
    net.backward()
    if update_due(net):
        update_network(net)
    return net.cost
