"""Training on the GPU: Darknet's train_network_datum step as a fixed list of kernel launches and GEMMs.

`TrainPlan` extends the forward plan of `plan.py` (same (C, B, H, W) buffers, same kernels) with the
training forward (batch-norm on the batch's statistics, maxpool argmaxes, the loss) and a backward step
for every layer, each beside its forward kernel in `kernels/`: the activation's gradient, batch-norm's
backward, col2im, the maxpool, avgpool, route, reorg and region backwards; the weight gradient and the
input delta are cuBLAS GEMMs. Per-channel sums (bias and scale gradients, batch mean and variance)
are array reductions of the runner's module (CuPy on the GPU), accumulated in float64.

As in Darknet's GPU build, the region and YOLOv3 losses run on the host (`layers/region_loss.py`,
`layers/yolo_loss.py`): the output comes down, its delta goes back up. [softmax]'s cross-entropy runs on
the device. [upsample] and [shortcut] train by their kernels (the shortcut's backward adds into its `from`
layer's delta on the device). The layers without training kernels here - [cost], [connected], [batchnorm],
[local], [crop], [detection], grouped and binary/xnor convolutions - run their own CPU forward and backward
on host copies (`_fallback`).

`GpuTrainer` holds the parameters and their update buffers on the device (`DeviceParams`, stepped by
the optimiser, `train/sgd.py`, as the layers are on the CPU) and a plan per (minibatch, width, height); `download`
copies the parameters back into the layers (before saving weights or running inference).
tests/gpu/test_gpu_train.py runs all of this on the CPU with the kernels compiled as C++.
"""
import numpy as np

from ..layers.batchnorm import BN_DELTA_EPSILON, BN_EPSILON, BN_ROLLING_MOMENTUM
from ..layers.region_loss import region_loss
from ..layers.yolo_loss import yolo_loss
from .device import to_numpy
from .plan import ACTIVATION_CODES, Plan

PARAMETERS = ("weights", "biases", "scales", "rolling_mean", "rolling_variance")
UPDATES = (("weight_updates", "weights"), ("bias_updates", "biases"), ("scale_updates", "scales"))
F32 = np.float32
HOST_TRAINED = ("connected", "batchnorm", "cost")  # layer types trained by their own CPU code (_fallback)


class DeviceParams:
    """One layer's parameters and update buffers on the device, with the attribute names sgd_update uses."""

    def __init__(self, layer, xp):
        for name in PARAMETERS:
            value = getattr(layer, name, None)
            setattr(self, name, None if value is None else xp.array(value, F32))
        for name, of in UPDATES:
            host, param = getattr(layer, name, None), getattr(self, of)
            if param is not None:
                setattr(self, name, xp.zeros_like(param) if host is None else xp.array(host, F32))
            else:
                setattr(self, name, None)

    def download(self, layer):
        for name in PARAMETERS + tuple(name for name, _ in UPDATES):
            value = getattr(self, name)
            if value is not None:
                setattr(layer, name, np.array(to_numpy(value), F32))


class TrainPlan(Plan):
    """One minibatch of `batch` images through `net`'s training forward and backward on `runner`;
    `params` maps layer index -> DeviceParams for the layers trained by kernels (filled as needed)."""

    def __init__(self, net, batch, runner, params):
        self.params = params
        self.deltas = []            # each layer's delta buffer, in layer order (a dropout's is its input's)
        self.backward_steps = []    # each layer's backward steps
        super().__init__(net, batch, runner)
        self.gradient = self.xp.empty(max([p.weights.size for p in params.values()] + [1]), F32)

    # -- running a step

    def train_forward(self, x):
        """forward_network with net.train set: deltas zeroed, then every layer (net.truth, net.seen set)."""
        for delta in self.deltas:
            delta.fill(0)
        self.batch_view(self.input)[...] = self.xp.asarray(x, F32)
        self.run()
        self.set_layer_outputs()

    def train_backward(self, on_layer=None):
        """backward_network: the layers from the last one down, stopping at a stopbackward layer;
        on_layer(i) after layer i's steps are launched (Network.backward)."""
        for i in reversed(range(len(self.net.layers))):
            if self.net.layers[i].stopbackward:
                break
            for step in self.backward_steps[i]:
                step()
            if on_layer is not None:
                on_layer(i)

    # -- building: each layer's forward steps (Plan.steps), backward steps and delta buffer

    def _index(self):
        return len(self.buffers)  # the layer being built: Plan appends each output buffer after building

    def _input_delta(self, i):
        """Darknet's net.delta for layer i: the previous layer's delta; None (NULL) for the first layer."""
        return self.deltas[i - 1] if i else None

    def _add(self, delta, backward):
        self.deltas.append(delta)
        self.backward_steps.append(backward)

    def _add_input_backward(self, i, delta, launch):
        """Layer i's backward as launch(input delta), run when the layer has one (Darknet's net.delta)."""
        def backward():
            input_delta = self._input_delta(i)
            if input_delta is not None:
                launch(input_delta)
        self._add(delta, [backward])

    def _params(self, i, layer):
        if i not in self.params:
            self.params[i] = DeviceParams(layer, self.xp)
        return self.params[i]

    def _has_kernels(self, layer):
        """Whether the layer trains by kernels here; the others train on the host (_fallback)."""
        if layer.type in HOST_TRAINED or (layer.type == "convolutional" and layer.groups != 1):
            return False
        return super()._has_kernels(layer)

    def _convolutional(self, layer, x):
        i = self._index()
        p = self._params(i, layer)
        c, h, w = layer.in_shape
        n, oh, ow = layer.out_shape
        k, stride, pad = layer.size, layer.stride, layer.padding
        spatial = self.batch * oh * ow
        out, delta = self._buffer(layer.out_shape), self._buffer(layer.out_shape)
        out2d, delta2d = out.reshape(n, spatial), delta.reshape(n, spatial)
        act = ACTIVATION_CODES.index(layer.activation)
        pointwise = self._is_pointwise(layer)
        bn = BatchnormState(self, p, out2d) if layer.batch_normalize else None

        def columns():  # the forward's im2col, recomputed for the backward (Darknet does too)
            if pointwise:
                return x.reshape(c, spatial)
            cols = self.cols[:c * k * k * spatial].reshape(c * k * k, spatial)
            self.runner.launch("im2col.cu", "im2col_forward", cols.size, x, cols, c, self.batch, h, w, k, stride,
                               pad, oh, ow)
            return cols

        def forward():
            self.runner.matmul(p.weights.reshape(n, -1), columns(), out2d)
            if bn is not None:
                bn.forward(act)
            else:
                self.runner.launch("epilogue.cu", "bias_activate_forward", out.size, out, p.biases, n, spatial, act)

        def backward():
            self.runner.launch("epilogue.cu", "activate_backward", out.size, out, delta, out.size, act)
            if bn is not None:
                bn.backward(delta2d)
            else:
                p.bias_updates += channel_sum(delta2d).astype(F32)
            cols = columns()
            gradient = self.gradient[:p.weights.size].reshape(n, -1)
            self.runner.matmul(delta2d, cols.T, gradient)
            p.weight_updates += gradient.reshape(p.weights.shape)
            input_delta = self._input_delta(i)
            if input_delta is None:
                return
            weights_t = p.weights.reshape(n, -1).T
            if pointwise:  # gemm with beta 0 straight into net.delta: a 1x1 conv overwrites it, as Darknet
                self.runner.matmul(weights_t, delta2d, input_delta.reshape(c, spatial))
                return
            dcols = self.cols[:c * k * k * spatial].reshape(c * k * k, spatial)
            self.runner.matmul(weights_t, delta2d, dcols)
            self.runner.launch("im2col.cu", "col2im_backward", input_delta.size, dcols, input_delta, c, self.batch,
                               h, w, k, stride, pad, oh, ow)

        self.steps.append(forward)
        self._add(delta, [backward])
        return out

    def _maxpool(self, layer, x):
        i = self._index()
        c, h, w = layer.in_shape
        _, oh, ow = layer.out_shape
        out, delta = self._buffer(layer.out_shape), self._buffer(layer.out_shape)
        indexes = self.xp.empty(out.shape, np.int32)
        geometry = (c * self.batch, h, w, layer.size, layer.stride, layer.padding, oh, ow)
        self._launch("maxpool.cu", "maxpool_forward_train", out.size, x, out, indexes, *geometry)
        self._add_input_backward(i, delta, lambda d: self.runner.launch(
            "maxpool.cu", "maxpool_backward", d.size, delta, indexes, d, *geometry))
        return out

    def _avgpool(self, layer, x):
        i = self._index()
        out = super()._avgpool(layer, x)
        delta = self._buffer(layer.out_shape)
        c, h, w = layer.in_shape
        self._add_input_backward(i, delta, lambda d: self.runner.launch(
            "avgpool.cu", "avgpool_backward", d.size, delta, d, c * self.batch, h * w))
        return out

    def _reorg(self, layer, x):
        i = self._index()
        out = super()._reorg(layer, x)
        delta = self._buffer(layer.out_shape)
        c, h, w = layer.in_shape
        _, oh, ow = layer.out_shape
        # backward_reorg_layer: reorg_cpu with the other flag, overwriting net.delta
        self._add_input_backward(i, delta, lambda d: self.runner.launch(
            "reorg.cu", "reorg_forward", d.size, delta, d, w, h, c, self.batch, layer.stride, int(not layer.reverse),
            oh * ow, h * w))
        return out

    def _route(self, layer, x):
        out = super()._route(layer, x)
        delta = self._buffer(layer.out_shape)

        def backward():
            offset = 0
            for j in layer.indices:
                source = self.deltas[j]
                self.runner.launch("route.cu", "route_backward", source.size, delta, source, source.size, offset)
                offset += source.size
        self._add(delta, [backward])
        return out

    def _region(self, layer, x):
        i = self._index()
        out = super()._region(layer, x)
        delta = self._buffer(layer.out_shape)
        c, h, w = layer.in_shape

        self._host_loss(layer, out, delta, lambda output: region_loss(layer, output, self.net.truth, self.net.seen))
        self._add_input_backward(i, delta, lambda d: self.runner.launch(
            "region.cu", "region_backward", d.size, out, delta, d, layer.num, layer.entries, self.batch, h * w,
            layer.coords, int(bool(layer.background))))
        return out

    def _host_loss(self, layer, out, delta, loss):
        """A loss on the host, as forward_region/yolo_layer_gpu pull the output down for it: loss(output) gives
        (delta, cost, stats), and the delta goes back up."""
        def step():
            if self.net.truth is None:
                return
            host_delta, layer.cost, layer.stats = loss(to_numpy(self.batch_view(out)))
            print(layer.stats.line())
            self.batch_view(delta)[...] = self.xp.asarray(host_delta)
        self.steps.append(step)

    def _yolo(self, layer, x):
        i = self._index()
        out = super()._yolo(layer, x)
        delta = self._buffer(layer.out_shape)

        self._host_loss(layer, out, delta, lambda output: yolo_loss(layer, output, self.net.truth, self.net.w,
                                                                    self.net.h))
        self._add_input_backward(i, delta, lambda d: self.runner.launch("yolo.cu", "yolo_backward", d.size, delta, d,
                                                                        d.size))
        return out

    def _upsample(self, layer, x):
        i = self._index()
        out = super()._upsample(layer, x)
        delta = self._buffer(layer.out_shape)
        c, h, w = layer.out_shape if layer.reverse else layer.in_shape
        self._add_input_backward(i, delta, lambda d: self.runner.launch(
            "upsample.cu", "upsample_backward", d.size if layer.reverse else c * self.batch * h * w, delta, d,
            c * self.batch, h, w, layer.stride, float(layer.scale), int(layer.reverse)))
        return out

    def _shortcut(self, layer, x):
        i = self._index()
        out = super()._shortcut(layer, x)
        delta = self._buffer(layer.out_shape)
        c, h, w = layer.out_shape
        fc, fh, fw = layer.from_shape
        act = ACTIVATION_CODES.index(layer.activation)
        pairs = min(c, fc) * self.batch * min(h, fh) * min(w, fw)

        def backward():
            self.runner.launch("epilogue.cu", "activate_backward", out.size, out, delta, out.size, act)
            input_delta = self._input_delta(i)
            if input_delta is not None:
                self.runner.launch("shortcut.cu", "shortcut_backward_input", delta.size, delta, input_delta,
                                   delta.size, float(layer.alpha))
            self.runner.launch("shortcut.cu", "shortcut_backward_from", pairs, delta, self.deltas[layer.index], c,
                               self.batch, h, w, fc, fh, fw, float(layer.beta))
        self._add(delta, [backward])
        return out

    def _softmax(self, layer, x):
        """forward_softmax_layer_gpu: the softmax (or WordTree softmax) kernels, then softmax_x_ent on the
        device (layers/softmax.py's own code on the plan's buffers); backward_softmax_layer: axpy."""
        i = self._index()
        out = super()._softmax(layer, x)
        delta = self._buffer(layer.out_shape)

        def loss():
            if self.net.truth is not None and not layer.noloss:
                layer.output, layer.delta = self.batch_view(out), self.batch_view(delta)
                layer.cross_entropy(self.xp.asarray(self.net.truth, F32).reshape(self.batch, -1))
        self.steps.append(loss)
        self._add_input_backward(i, delta, lambda d: self.xp.add(d, delta, out=d))
        return out

    def _dropout(self, layer, x):
        """forward/backward_dropout_layer: the layer shares its input's output and delta buffers."""
        xp, scale = self.xp, F32(1. / (1. - layer.probability))
        delta = self.deltas[-1] if self.deltas else self._buffer(layer.out_shape)
        mask = xp.empty(x.shape, F32)

        def forward():
            mask[...] = (xp.random.random_sample(x.shape) >= layer.probability) * scale
            x[...] *= mask

        def backward():
            delta[...] *= mask
        self.steps.append(forward)
        self._add(delta, [backward])
        return x

    def _fallback(self, layer, x):
        """The layer's own CPU training forward and backward on host copies of its input and deltas."""
        self.capturable = False
        i = self._index()
        out, delta = self._buffer(layer.out_shape), self._buffer(layer.out_shape)
        host = {}

        def forward():
            host["x"] = np.ascontiguousarray(to_numpy(self.batch_view(x)))
            layer.delta = np.zeros((self.batch,) + layer.out_shape, F32)
            self.batch_view(out)[...] = self.xp.asarray(layer.forward(host["x"], self.net))
            self.batch_view(delta)[...] = self.xp.asarray(layer.delta)  # a loss layer's delta, set in forward

        def backward():
            layer.delta = np.ascontiguousarray(to_numpy(self.batch_view(delta)))
            input_delta = self._input_delta(i)
            host_delta = None if input_delta is None else np.ascontiguousarray(to_numpy(self.batch_view(input_delta)))
            layer.backward(host["x"], host_delta, self.net)
            self.batch_view(delta)[...] = self.xp.asarray(layer.delta)  # as the layer left it (in-place gradients)
            if input_delta is not None:
                self.batch_view(input_delta)[...] = self.xp.asarray(host_delta)
        self.steps.append(forward)
        self._add(delta, [backward])
        return out


def channel_sum(a):
    """Per-channel (row) sums of a (C, N) array, accumulated in float64."""
    return a.sum(axis=1, dtype=np.float64)


class BatchnormState:
    """forward/backward_batchnorm_layer with net.train, inside a convolution: out2d (C, N) in place."""

    def __init__(self, plan, params, out2d):
        self.plan, self.p, self.out2d = plan, params, out2d
        self.x = plan.xp.empty_like(out2d)  # the convolution's output before batch-norm (Darknet's l.x)

    def forward(self, activation):
        xp, p, out = self.plan.xp, self.p, self.out2d
        n = out.shape[1]
        self.x[...] = out
        self.mean = (channel_sum(out) / n).astype(F32)
        centred = out - self.mean[:, None]
        self.variance = (channel_sum(centred * centred) / (n - 1)).astype(F32)
        for rolling, batch_value in ((p.rolling_mean, self.mean), (p.rolling_variance, self.variance)):
            rolling *= F32(BN_ROLLING_MOMENTUM)
            rolling += F32(1 - BN_ROLLING_MOMENTUM) * batch_value
        self.denom = (xp.sqrt(self.variance.astype(np.float64)) + F32(BN_EPSILON)).astype(F32)
        self.plan.runner.launch("epilogue.cu", "batchnorm_activate_forward", out.size, out, self.mean, self.denom,
                                p.scales, p.biases, out.shape[0], n, activation)

    def backward(self, delta):
        """The same formulas as layers/batchnorm.py's batchnorm_backward (Darknet's, not the exact gradient)."""
        xp, p = self.plan.xp, self.p
        channels, n = delta.shape
        centred = self.x - self.mean[:, None]
        x_norm = centred / self.denom[:, None]
        p.bias_updates += channel_sum(delta).astype(F32)
        p.scale_updates += channel_sum(delta * x_norm).astype(F32)
        delta *= p.scales[:, None]
        var = self.variance.astype(np.float64) + BN_DELTA_EPSILON
        mean_delta = (channel_sum(delta) * (-1. / xp.sqrt(var))).astype(F32)
        variance_delta = (channel_sum(delta * centred) * (-.5 * var ** -1.5)).astype(F32)
        inverse_std = (1. / xp.sqrt(var)).astype(F32)
        variance_term = variance_delta * F32(2. / n)
        mean_term = mean_delta / F32(n)
        self.plan.runner.launch("epilogue.cu", "batchnorm_backward", delta.size, delta, self.x, self.mean,
                                inverse_std, variance_term, mean_term, channels, n)


class GpuTrainer:
    """train_network_datum's forward and backward on a runner: device parameters kept across steps, a plan
    per input shape; `parameters` gives the optimiser (train/sgd.py) the arrays to step."""

    def __init__(self, net, runner):
        self.net, self.runner = net, runner
        self.params = {}
        self.plan = self.key = None
        self.dirty = False  # device parameters newer than the layers' (host) arrays

    def forward_backward(self, x, truth, on_layer=None):
        """One minibatch (x (B, C, H, W), truth as the loaders give it) forward and backward, as
        Network.forward_backward; the layers' costs are set as on the CPU."""
        net = self.net
        key = (x.shape[0], net.w, net.h)
        if key != self.key:
            self.plan, self.key = TrainPlan(net, x.shape[0], self.runner, self.params), key
        net.train, net.truth = True, truth
        self.dirty = True
        try:
            self.plan.train_forward(x)
            self.plan.train_backward(on_layer)
        finally:
            net.train = False

    def parameters(self):
        """Network.parameters: a kernel-trained layer's DeviceParams, a host-trained layer itself."""
        self.dirty = True  # the caller steps them
        for i, layer in enumerate(self.net.layers):
            if getattr(layer, "weights", None) is not None:
                yield layer, self.params.get(i, layer)

    def download(self):
        """Copy the device parameters and update buffers into the layers."""
        if self.dirty:
            for i, p in self.params.items():
                p.download(self.net.layers[i])
            self.dirty = False
