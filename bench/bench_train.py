"""CPU training benchmark: darknet-py's `detector train` step against the original Darknet's, in images/s.

    python bench/bench_train.py [--quick] [--iterations N]      (make bench)

For each row, one cfg copy (our cfg/ file with batch=minibatch, subdivisions=1, the row's size, random=0 so
no multi-scale resize) and one random weights file (weights.write_random_weights) serve both engines, on
the coco128 training images. Ours: train_datum (forward + backward + update) on minibatches loaded with
Darknet's augmentation, OpenBLAS at one thread as in train_detector; the first iteration is a warm-up, the
table gives the median of the rest. Data loading (load_detection_batch, one thread) is timed apart and
given per image. Darknet: /usr/bin/darknet `detector train ... -clear` for warm-up + N iterations, its
`<i>: loss, avg, rate, <s> seconds, <n> images` lines parsed, the first left out (its seconds exclude the
loading, which runs in its background threads). Peak resident memory: ours per row (VmHWM, reset through
/proc/self/clear_refs before the row), Darknet's (its VmHWM, sampled while it runs). pjreddie's CPU build
skips the region layer's backward (it does not learn), but its per-iteration cost is still the peer's.

The second peer is PyTorch on the CPU (bench/torch_peer.py) training the same layers from the same weights
and images at the same thread count: batch norm in training mode, torch.optim.SGD with the cfg's momentum
and decay, an MSE loss on the region output (simpler than the region loss, which costs little beside the
convolutions: the comparison slightly favours the peer). The benchmark installs torch when it is absent
(`pip install torch==2.13.0`, a CPU build pip takes from a file on this disk); the tests never do.
"""
import argparse
import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import darknet_py  # noqa: E402  (first: selects OpenBLAS's kernels before numpy loads)
from darknet_py.cpu.blas import single_threaded  # noqa: E402
from darknet_py.cpu.threads import thread_count  # noqa: E402
from darknet_py.data.augment import Augment, DarknetRandom
from darknet_py.data.detection import load_detection_batch
from darknet_py.network import Network  # noqa: E402
from darknet_py.train.sgd import train_datum  # noqa: E402
from darknet_py.weights import write_random_weights  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_peer import TorchTrainingPeer  # noqa: E402  (bench/torch_peer.py)

COCO128 = Path(os.environ.get("DARKNET_PY_SHARED", ROOT.parent / "shared")) / "datasets" / "coco128"
IMAGES = COCO128 / "images" / "train2017"  # labels/train2017 beside it (Darknet's label path rule)
DARKNET = "/usr/bin/darknet"
# (cfg, input side, minibatch): yolov2 at 4 images so one Darknet iteration stays near half a minute
ROWS = [("yolov2-tiny", 416, 16), ("yolov2", 416, 4)]
QUICK_ROWS = ROWS[:1]
ITERATIONS = 3        # timed iterations per engine (after one warm-up)
QUICK_ITERATIONS = 2
SEED = 0
DARKNET_TIMEOUT_S = 600
PEAK_SAMPLE_S = .1    # how often Darknet's peak resident memory is read
TORCH = "torch==2.13.0"  # the CPU build pip installs from this disk
ITERATION_LINE = re.compile(r"^(\d+): \S+, \S+ avg, \S+ rate, (\S+) seconds, \d+ images", re.M)


def training_cfg(cfg, side, minibatch, max_batches, folder):
    """A copy of cfg for the benchmark: one minibatch per batch, side x side, no multi-scale."""
    text = Path(cfg).read_text()
    for key, value in (("batch", minibatch), ("subdivisions", 1), ("width", side), ("height", side),
                       ("max_batches", max_batches), ("random", 0)):
        text, n = re.subn(rf"(?m)^\s*{key}\s*=.*$", f"{key}={value}", text)
        if n == 0 and key != "random":
            raise ValueError(f"{cfg}: no `{key}=` line to set")
    path = Path(folder) / f"{Path(cfg).stem}-{side}-b{minibatch}.cfg"
    path.write_text(text)
    return path


def write_train_data(folder):
    """The coco128 training images, and a Darknet .data file listing them: (paths, .data path)."""
    paths = sorted(str(p) for p in IMAGES.glob("*.jpg"))
    listing, backup, data = Path(folder) / "train.txt", Path(folder) / "backup", Path(folder) / "train.data"
    listing.write_text("\n".join(paths) + "\n")
    backup.mkdir(exist_ok=True)  # Darknet saves <cfg>_final.weights there at the end
    data.write_text(f"classes=80\ntrain={listing}\nbackup={backup}\n")
    return paths, data


def ours(cfg, weights, paths, iterations):
    """darknet-py: (median seconds per train_datum minibatch, seconds of loading per image).

    The network loads `weights` with seen reset (as -clear); the first minibatch is a warm-up.
    """
    net = Network.from_cfg(cfg)
    net.load_weights(weights)
    net.seen = 0
    aug = Augment.from_network(net)
    classes = net.output_layer.classes
    steps, loads = [], []
    with single_threaded():
        for i in range(iterations + 1):
            began = time.perf_counter()
            x, truth = load_detection_batch(paths, net.minibatch, net.w, net.h, aug, DarknetRandom((SEED, i)),
                                            classes=classes)
            loads.append((time.perf_counter() - began) / net.minibatch)
            began = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # the region layer's "Region Avg IOU" lines
                loss = train_datum(net, x, truth)
            steps.append(time.perf_counter() - began)
            if not np.isfinite(loss):
                raise RuntimeError(f"{cfg}: loss {loss} at iteration {i}")
    return float(np.median(steps[1:])), float(np.median(loads))


def ensure_torch():
    """PyTorch for the peer, installed when absent (by the benchmark only: the tests never install it)."""
    if importlib.util.find_spec("torch") is None:
        print(f"installing {TORCH} for the PyTorch peer", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", TORCH], check=True)
    import torch
    return torch


def pytorch(torch, cfg, weights, paths, iterations):
    """PyTorch on the CPU training the same layers: median seconds per minibatch after the first."""
    net = Network.from_cfg(cfg)
    net.load_weights(weights)
    torch.set_num_threads(thread_count())
    peer = TorchTrainingPeer(net, torch, device="cpu")
    optimizer = torch.optim.SGD(peer.trainable(), lr=net.learning_rate, momentum=net.momentum,
                                weight_decay=net.decay)
    steps = []
    for i in range(iterations + 1):
        x, _ = load_detection_batch(paths, net.minibatch, net.w, net.h, Augment.from_network(net),
                                    DarknetRandom((SEED, i)), classes=net.output_layer.classes)
        target = torch.rand((net.minibatch,) + net.output_layer.out_shape)
        began = time.perf_counter()
        loss = ((peer(torch.from_numpy(x)) - target) ** 2).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps.append(time.perf_counter() - began)
    return float(np.median(steps[1:]))


def darknet(cfg, weights, data, iterations):
    """The original Darknet: (median seconds per iteration after the first, its peak resident MiB)."""
    command = [DARKNET, "detector", "train", str(data), str(cfg), str(weights), "-clear"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    watchdog = threading.Timer(DARKNET_TIMEOUT_S, proc.kill)
    watchdog.start()
    peaks = []
    sampler = threading.Thread(target=sample_peak_memory, args=(proc, peaks))
    sampler.start()
    try:
        out = proc.stdout.read()
    finally:
        watchdog.cancel()
        proc.wait()
        sampler.join()
    seconds = [float(s) for _, s in ITERATION_LINE.findall(out)]
    if len(seconds) != iterations + 1:
        raise RuntimeError(f"darknet (exit {proc.returncode}) printed {len(seconds)} iteration lines, expected "
                           f"{iterations + 1}:\n{out[-2000:]}")
    return float(np.median(seconds[1:])), max(peaks, default=0)


def sample_peak_memory(proc, peaks):
    """Append proc's VmHWM every PEAK_SAMPLE_S until it exits (its stdout is block-buffered, so reading
    at its lines could miss the end; ru_maxrss from wait4 would carry ours over the spawn's exec)."""
    while proc.poll() is None:
        peaks.append(peak_memory_mb(proc.pid))
        time.sleep(PEAK_SAMPLE_S)


def reset_peak_memory():
    """Linux: writing 5 to clear_refs resets VmHWM to the current resident size (where it cannot, the
    next row's peak is the process's so far)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_memory_mb(pid="self"):
    """VmHWM of a process in MiB (0 once it has exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) // 1024 for line in status.splitlines() if line.startswith("VmHWM")), 0)


def bench_row(name, side, minibatch, iterations, folder, paths, data, torch=None):
    """One table row as a dict: ours and Darknet's images/s and peak MiB, our loading ms per image; with
    torch, the PyTorch peer's images/s too."""
    cfg = training_cfg(ROOT / "cfg" / f"{name}.cfg", side, minibatch, iterations + 1, folder)
    weights = Path(folder) / f"{cfg.stem}.weights"
    write_random_weights(Network.from_cfg(cfg), weights, seed=SEED)
    reset_peak_memory()
    step, load = ours(cfg, weights, paths, iterations)
    row = dict(name=name, side=side, minibatch=minibatch, ours=minibatch / step, load_ms=load * 1e3,
               peak_mb=peak_memory_mb())
    step, row["darknet_peak_mb"] = darknet(cfg, weights, data, iterations)
    row["darknet"] = minibatch / step
    if torch is not None:  # (no peak memory: this process keeps the heap our rows freed)
        row["torch"] = minibatch / pytorch(torch, cfg, weights, paths, iterations)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="yolov2-tiny only, 2 iterations")
    parser.add_argument("--iterations", type=int, default=None,
                        help=f"timed iterations per engine after one warm-up (default {ITERATIONS}, "
                             f"quick {QUICK_ITERATIONS})")
    args = parser.parse_args(argv)
    iterations = args.iterations or (QUICK_ITERATIONS if args.quick else ITERATIONS)
    rows = QUICK_ROWS if args.quick else ROWS
    if not os.access(DARKNET, os.X_OK):
        sys.exit(f"{DARKNET} not found: `make oracle` installs the original Darknet")
    torch = ensure_torch()
    print(f"darknet-py {darknet_py.__version__} (numpy {np.__version__}) vs {DARKNET} and PyTorch "
          f"{torch.__version__} (CPU, {thread_count()} threads, as ours), CPU training on coco128; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; median of {iterations} iterations "
          f"after 1 warm-up\n")
    print(f"{'network':12s} {'size':>5s} {'minibatch':>9s} {'ours img/s':>11s} {'darknet img/s':>14s} "
          f"{'torch img/s':>12s} {'vs darknet':>10s} {'vs torch':>8s} {'our load ms/img':>16s} "
          f"{'peak MiB ours':>14s} {'darknet':>8s}")
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        paths, data = write_train_data(tmp)
        for name, side, minibatch in rows:
            r = bench_row(name, side, minibatch, iterations, tmp, paths, data, torch)
            print(f"{name:12s} {side:5d} {minibatch:9d} {r['ours']:11.2f} {r['darknet']:14.2f} {r['torch']:12.2f} "
                  f"{r['ours'] / r['darknet']:10.2f} {r['ours'] / r['torch']:8.2f} {r['load_ms']:16.1f} "
                  f"{r['peak_mb']:14d} {r['darknet_peak_mb']:8d}", flush=True)
    print(f"\nvs = ours / the peer's images per second (higher is better; target vs torch >= 1 for yolov2-tiny); "
          f"load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
