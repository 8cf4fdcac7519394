"""GPU benchmark: darknet-py's GPU plan (kernels/*.cu + cuBLAS, one CUDA graph) against a PyTorch/cuDNN
peer that this script builds from the same cfg and weights, eager and CUDA-graphed; then training.

    python bench/bench_gpu.py [--quick] [--runs R] [--weights-dir weights] [--no-train]      (make bench-gpu)

Rows: yolov2 batch 1 at 288..608 (frames/s), then yolov2 and yolov2-tiny at 416 with batch 1, 8 and 64
(images/s). Every engine gets its input already on the GPU and is timed run by run to completion
(each run ends with a synchronize); the table gives medians after warm-up. Memory: the bytes CuPy's pool
holds after the run (ours preallocates every buffer, so that is its peak) and torch.cuda's
max_memory_allocated. The peer folds batch norm into the convolutions (the usual deployment) with
TF32 off, as ours runs float32 GEMMs. Weights: weights/<cfg>.weights when present, else random ones
(speed does not depend on the values). Needs CuPy and a CUDA GPU; without PyTorch the peer columns
are left out. The first line checks that both engines compute the same network.

Fast-mode rows (-half: TF32 GEMMs): the same timing, and the output's largest difference from the
float32 run on the same random input, relative to its largest value.

Training rows (yolov2-tiny and yolov2 at 416): images/s of train/sgd.py train_datum on the GPU
(gpu_train.py: forward, region loss on the host, backward, SGD update; subdivisions 1, random images and
boxes already in host memory as the loaders give them) against the peer training the same layers with
batch norm in training mode, an MSE loss on the region output and torch.optim.SGD with momentum and
decay. The peer's loss is simpler than the region loss, so the comparison slightly favours it.
"""
import contextlib
import io
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import darknet_py  # noqa: E402,F401  (first: sets up the CPU BLAS before numpy loads)
from darknet_py.gpu.device import gpu_count  # noqa: E402
from darknet_py.network import Network  # noqa: E402
from darknet_py.weights import write_random_weights  # noqa: E402

import numpy as np  # noqa: E402
from torch_peer import TorchPeer, TorchTrainingPeer  # noqa: E402  (bench/torch_peer.py)

SIDES = list(range(288, 609, 32))        # yolov2's multi-scale sizes, batch 1
BATCH_ROWS = [(name, 416, b) for name in ("yolov2", "yolov2-tiny") for b in (1, 8, 64)]
QUICK_SIDES, QUICK_BATCH_ROWS = [416], [("yolov2-tiny", 416, 1), ("yolov2", 416, 8)]
FAST_ROWS = [("yolov2", 416, 1), ("yolov2-tiny", 416, 1), ("yolov2", 416, 64)]  # -half rows
TRAIN_ROWS = [("yolov2-tiny", 416, 16), ("yolov2", 416, 16)]  # (cfg, side, minibatch)
TRAIN_RUNS = 10                          # timed training steps per row (median reported)
WARMUP = 5                               # untimed runs before timing each row


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


def random_truth(batch, classes, rng, boxes=3):
    """Darknet truth rows (x, y, w, h, class) * 30 with a few boxes per image."""
    truth = np.zeros((batch, 30 * 5), np.float32)
    for i in range(batch):
        for j in range(boxes):
            truth[i, 5 * j:5 * j + 5] = [*rng.uniform(.2, .8, 2), *rng.uniform(.05, .4, 2), rng.integers(classes)]
    return truth


def time_ours_training(net, side, batch, runs):
    """(ms per minibatch, CuPy pool bytes) of train_datum on the GPU."""
    import cupy
    from darknet_py.train.sgd import train_datum
    net.resize(side, side)
    net.minibatch, net.subdivisions = batch, 1
    rng = np.random.default_rng(0)
    x = rng.random((batch, 3, side, side), dtype=np.float32)
    truth = random_truth(batch, net.output_layer.classes, rng)

    def step():
        train_datum(net, x, truth)
        cupy.cuda.Device().synchronize()
    with contextlib.redirect_stdout(io.StringIO()):  # the region layer's line per step
        ms = median_ms(step, runs)
    return ms, cupy.get_default_memory_pool().total_bytes()


def time_peer_training(torch, net, side, batch, runs):
    """(ms per minibatch, peak bytes) of the PyTorch peer's SGD step."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    peer = TorchTrainingPeer(net, torch)
    optimizer = torch.optim.SGD(peer.trainable(), lr=net.learning_rate, momentum=net.momentum,
                                weight_decay=net.decay)
    x = torch.rand((batch, 3, side, side))  # on the host, as ours
    target = torch.rand((batch,) + net.output_layer.out_shape, device="cuda")

    def step():
        loss = ((peer(x.cuda(non_blocking=True)) - target) ** 2).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize()
    return median_ms(step, runs), torch.cuda.max_memory_allocated()


def fast_rows(nets, runs):
    import cupy
    print("\nfast mode (-half: TF32 GEMMs, float32 elsewhere)")
    print(f"{'model':12s} {'size':>4s} {'batch':>5s} {'ms':>8s} {'img/s':>8s} {'float32 ms':>10s} {'speed-up':>8s}"
          f" {'max rel diff':>12s}")
    for model, side, batch in FAST_ROWS:
        net = nets[model]
        exact_ms, _, _, _ = time_ours(net, side, batch, runs)
        x = cupy.random.random((batch, 3, side, side), dtype=np.float32)
        reference = cupy.array(net.gpu.forward(x))
        net.to(0, half=True)
        ms, _, _, _ = time_ours(net, side, batch, runs)
        diff = float(cupy.abs(net.gpu.forward(x) - reference).max() / cupy.abs(reference).max())
        net.to(0)
        print(f"{model:12s} {side:4d} {batch:5d} {ms:8.2f} {1e3 * batch / ms:8.1f} {exact_ms:10.2f}"
              f" {exact_ms / ms:8.2f} {diff:12.2e}", flush=True)


def train_rows(nets, torch, runs):
    print("\ntraining (forward, loss, backward, update; minibatch images/s)")
    print(f"{'model':12s} {'size':>4s} {'batch':>5s} {'ours ms':>8s} {'img/s':>8s} {'MiB':>7s}"
          f" {'torch ms':>8s} {'img/s':>8s} {'MiB':>7s} {'ours/torch':>10s}")
    for model, side, batch in TRAIN_ROWS:
        net = nets[model]
        net.gpu.release()
        ms, pool_bytes = time_ours_training(net, side, batch, runs)
        line = f"{model:12s} {side:4d} {batch:5d} {ms:8.1f} {1e3 * batch / ms:8.1f} {pool_bytes / 2**20:7.0f}"
        if torch is not None:
            peer_ms, peak = time_peer_training(torch, net, side, batch, runs)
            line += f" {peer_ms:8.1f} {1e3 * batch / peer_ms:8.1f} {peak / 2**20:7.0f} {peer_ms / ms:10.2f}"
        print(line, flush=True)


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
    parser.add_argument("--no-train", action="store_true", help="inference rows only")
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
    train_models = [] if args.no_train else [r[0] for r in TRAIN_ROWS]
    header = (f"{'model':12s} {'size':>4s} {'batch':>5s} {'ours ms':>8s} {'img/s':>8s} {'graph':>5s} {'MiB':>7s}"
              f" {'torch ms':>8s} {'+graph':>8s} {'MiB':>7s} {'ours/graph':>10s}")
    with tempfile.TemporaryDirectory() as folder:
        nets = {}
        for model in dict.fromkeys([r[0] for r in rows] + train_models):
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
        if not args.quick:
            fast_rows(nets, args.runs)
        if train_models:  # last: training changes the weights the inference rows use
            train_rows(nets, torch, TRAIN_RUNS)


if __name__ == "__main__":
    main()
