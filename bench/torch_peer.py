"""A PyTorch network built from a darknet-py Network's layers: the peer of bench_gpu.py (cuDNN) and
bench_train.py (CPU training). yolov2 and yolov2-tiny's layer types only."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from darknet_py.gpu.plan import bn_denominator  # noqa: E402

LEAKY_SLOPE = .1  # Darknet's leaky activation


class TorchPeer:
    """yolov2 / yolov2-tiny in PyTorch on `device`: convolutions with batch norm folded in, Darknet's
    maxpool padding, reorg order, route and region activations."""

    def __init__(self, net, torch, device="cuda"):
        self.torch, self.net, self.device = torch, net, device
        self.convs = {}
        for i, layer in enumerate(net.layers):
            if layer.type == "convolutional":
                self.convs[i] = self.parameters_of(layer)
            elif layer.type not in ("maxpool", "route", "reorg", "region"):
                raise ValueError(f"the peer has no {layer.type} layer")

    def parameters_of(self, layer):
        w, b = layer.weights, layer.biases
        if layer.batch_normalize:
            f = layer.scales / bn_denominator(layer.rolling_variance)
            w, b = w * f[:, None, None, None], b - layer.rolling_mean * f
        return self.torch.tensor(w, device=self.device), self.torch.tensor(b, device=self.device)

    def convolve(self, layer, x, parameters):
        w, b = parameters
        return self.torch.nn.functional.conv2d(x, w, b, layer.stride, layer.padding, 1, layer.groups)

    def __call__(self, x):
        F = self.torch.nn.functional
        outs = []
        for i, layer in enumerate(self.net.layers):
            if layer.type == "convolutional":
                x = self.convolve(layer, x, self.convs[i])
                if layer.activation == "leaky":
                    x = F.leaky_relu(x, LEAKY_SLOPE)
                elif layer.activation != "linear":
                    raise ValueError(f"the peer has no {layer.activation} activation")
            elif layer.type == "maxpool":
                _, h, w = layer.in_shape
                _, oh, ow = layer.out_shape
                s, k, before = layer.stride, layer.size, layer.padding // 2
                after_h, after_w = max(0, (oh - 1) * s + k - h - before), max(0, (ow - 1) * s + k - w - before)
                x = F.max_pool2d(F.pad(x, (before, after_w, before, after_h), value=float("-inf")), k, s)
            elif layer.type == "route":
                x = self.torch.cat([outs[j] for j in layer.indices], 1)
            elif layer.type == "reorg":  # darknet-facts 3.4: not the standard space_to_depth
                b, c, h, w = x.shape
                s = layer.stride
                x = x.reshape(b, c // (s * s), h, s, w, s).permute(0, 3, 5, 1, 2, 4)
                x = x.reshape(b, c * s * s, h // s, w // s)
            else:
                b, _, h, w = x.shape
                y = x.reshape(b, layer.num, layer.entries, h, w)
                x = self.torch.cat([self.torch.sigmoid(y[:, :, :2]), y[:, :, 2:4], self.torch.sigmoid(y[:, :, 4:5]),
                                    self.torch.softmax(y[:, :, 5:], 2)], 2).reshape(b, -1, h, w)
            outs.append(x)
        return x


class TorchTrainingPeer(TorchPeer):
    """The peer with trainable parameters: batch norm on the batch's statistics, as Darknet trains."""

    def parameters_of(self, layer):
        torch = self.torch

        def tensor(a):
            return torch.tensor(a, device=self.device, requires_grad=True)
        if not layer.batch_normalize:
            return tensor(layer.weights), tensor(layer.biases)
        stats = (torch.tensor(layer.rolling_mean, device=self.device),
                 torch.tensor(layer.rolling_variance, device=self.device))
        return tensor(layer.weights), tensor(layer.scales), tensor(layer.biases), *stats

    def convolve(self, layer, x, parameters):
        F = self.torch.nn.functional
        if not layer.batch_normalize:
            return super().convolve(layer, x, parameters)
        w, scales, biases, mean, variance = parameters
        x = F.conv2d(x, w, None, layer.stride, layer.padding, 1, layer.groups)
        return F.batch_norm(x, mean, variance, scales, biases, training=True, momentum=.01, eps=1e-5)

    def trainable(self):
        return [t for parameters in self.convs.values() for t in parameters if t.requires_grad]
