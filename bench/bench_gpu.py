"""GPU inference benchmark: darknet-py's GPU plan (kernels/*.cu + cuBLAS, one CUDA graph) against a
PyTorch/cuDNN peer that this script builds from the same cfg and weights, eager and CUDA-graphed.

    python bench/bench_gpu.py [--quick] [--runs R] [--weights-dir weights]      (make bench-gpu)

Rows: yolov2 batch 1 at 288..608 (frames/s), then yolov2 and yolov2-tiny at 416 with batch 1, 8 and 64
(images/s). Every engine gets its input already on the GPU and is timed run by run to completion
(each run ends with a synchronize); the table gives medians after warm-up. Memory: the bytes CuPy's pool
holds after the run (ours preallocates every buffer, so that is its peak) and torch.cuda's
max_memory_allocated. The peer folds batch norm into the convolutions (the usual deployment) with
TF32 off, as ours runs float32 GEMMs. Weights: weights/<cfg>.weights when present, else random ones
(speed does not depend on the values). Needs CuPy and a CUDA GPU; without PyTorch the peer columns
are left out. The first line checks that both engines compute the same network.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import darknet_py  # noqa: E402,F401  (first: sets up the CPU BLAS before numpy loads)
from darknet_py.backend import gpu_count  # noqa: E402
from darknet_py.gpu import bn_denominator  # noqa: E402
from darknet_py.network import Network  # noqa: E402
from darknet_py.weights import write_random_weights  # noqa: E402

import numpy as np  # noqa: E402

SIDES = list(range(288, 609, 32))        # yolov2's multi-scale sizes, batch 1
BATCH_ROWS = [(name, 416, b) for name in ("yolov2", "yolov2-tiny") for b in (1, 8, 64)]
QUICK_SIDES, QUICK_BATCH_ROWS = [416], [("yolov2-tiny", 416, 1), ("yolov2", 416, 8)]
WARMUP = 5                               # untimed runs before timing each row
LEAKY_SLOPE = .1                         # Darknet's leaky activation


def load_network(name, weights_dir, folder):
    net = Network.from_cfg(ROOT / "cfg" / f"{name}.cfg")
    path = Path(weights_dir) / f"{name}.weights"
    if not path.exists():
        path = Path(folder) / f"{name}.weights"
        write_random_weights(net, path, seed=0)
    return net.load_weights(path)


def median_ms(run, runs):
    for _ in range(WARMUP):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def time_ours(net, side, batch, runs):
    import cupy
    pool = cupy.get_default_memory_pool()
    net.gpu.release()  # the last row's plan, so that the pool holds only this one's
    pool.free_all_blocks()
    net.resize(side, side)
    x = cupy.random.random((batch, 3, side, side), dtype=np.float32)
    net.gpu.prepare(batch)
    ms = median_ms(lambda: net.gpu.forward(x), runs)
    return ms, pool.total_bytes(), net.gpu.graph is not None, net.gpu.plan.result


class TorchPeer:
    """yolov2 / yolov2-tiny in PyTorch: cuDNN convolutions with batch norm folded in, Darknet's maxpool
    padding, reorg order, route and region activations."""

    def __init__(self, net, torch):
        self.torch, self.net = torch, net
        self.convs = {}
        for i, layer in enumerate(net.layers):
            if layer.type == "convolutional":
                w, b = layer.weights, layer.biases
                if layer.batch_normalize:
                    f = layer.scales / bn_denominator(layer.rolling_variance)
                    w, b = w * f[:, None, None, None], b - layer.rolling_mean * f
                self.convs[i] = (torch.tensor(w, device="cuda"), torch.tensor(b, device="cuda"))
            elif layer.type not in ("maxpool", "route", "reorg", "region"):
                raise ValueError(f"the peer has no {layer.type} layer")

    def __call__(self, x):
        F = self.torch.nn.functional
        outs = []
        for i, layer in enumerate(self.net.layers):
            if layer.type == "convolutional":
                w, b = self.convs[i]
                x = F.conv2d(x, w, b, layer.stride, layer.padding, 1, layer.groups)
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


def time_peer(torch, net, side, batch, runs):
    """(eager ms, graph ms, peak bytes, output) of the peer, or None where PyTorch is absent."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    peer = TorchPeer(net, torch)
    x = torch.rand((batch, 3, side, side), device="cuda")
    with torch.no_grad():
        def eager():
            peer(x)
            torch.cuda.synchronize()
        eager_ms = median_ms(eager, runs)
        side_stream = torch.cuda.Stream()
        side_stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side_stream):
            for _ in range(WARMUP):
                peer(x)
        torch.cuda.current_stream().wait_stream(side_stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = peer(x)

        def replay():
            graph.replay()
            torch.cuda.synchronize()
        graph_ms = median_ms(replay, runs)
    return eager_ms, graph_ms, torch.cuda.max_memory_allocated(), out


def agreement(torch, net):
    """max |ours - peer| / max |peer| for one random image at the cfg's size."""
    import cupy
    x = np.random.default_rng(0).random((1, 3, net.h, net.w), dtype=np.float32)
    ours = net.forward(x)
    with torch.no_grad():
        peer = TorchPeer(net, torch)(torch.tensor(x, device="cuda")).cpu().numpy()
    cupy.cuda.Device().synchronize()
    return float(np.abs(ours - peer).max() / np.abs(peer).max())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few rows only")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per row (median reported)")
    parser.add_argument("--weights-dir", default=str(ROOT / "weights"))
    args = parser.parse_args()
    if gpu_count() == 0:
        sys.exit("bench_gpu: needs CuPy and a CUDA GPU")
    import cupy
    try:
        import torch
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    except ImportError:
        torch = None
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    print(f"GPU: {name}, CuPy {cupy.__version__}, PyTorch {torch.__version__ if torch else 'absent'}")
    sides, batch_rows = (QUICK_SIDES, QUICK_BATCH_ROWS) if args.quick else (SIDES, BATCH_ROWS)
    rows = [("yolov2", s, 1) for s in sides] + batch_rows
    header = (f"{'model':12s} {'size':>4s} {'batch':>5s} {'ours ms':>8s} {'img/s':>8s} {'graph':>5s} {'MiB':>7s}"
              f" {'torch ms':>8s} {'+graph':>8s} {'MiB':>7s} {'ours/graph':>10s}")
    with tempfile.TemporaryDirectory() as folder:
        nets = {}
        for model in dict.fromkeys(r[0] for r in rows):
            nets[model] = load_network(model, args.weights_dir, folder).to(0)
            if torch is not None:
                print(f"{model}: ours vs peer, max relative difference {agreement(torch, nets[model]):.2e}")
        print(header)
        for model, side, batch in rows:
            net = nets[model]
            ms, pool_bytes, graphed, _ = time_ours(net, side, batch, args.runs)
            line = (f"{model:12s} {side:4d} {batch:5d} {ms:8.2f} {1e3 * batch / ms:8.1f}"
                    f" {'yes' if graphed else 'no':>5s} {pool_bytes / 2**20:7.0f}")
            if torch is not None:
                eager_ms, graph_ms, peak, _ = time_peer(torch, net, side, batch, args.runs)
                line += f" {eager_ms:8.2f} {graph_ms:8.2f} {peak / 2**20:7.0f} {ms / graph_ms:10.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
