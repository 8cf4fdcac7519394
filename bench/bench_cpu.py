"""CPU inference benchmark: darknet-py's fast path against OpenCV's DNN module on the same cfg and weights.

    python bench/bench_cpu.py [--quick] [--threads N] [--runs R] [--busy P]      (make bench)

Batch 1, random weights (weights.write_random_weights) and a random input; for each row both engines
are warmed up, then timed alternately run after run (so a busy machine slows both alike); the table
gives medians and ours/OpenCV. Also: batch-N images/s against N single passes, and the peak resident
memory of a yolov2-416 inference process (VmHWM of a fresh subprocess - ru_maxrss would
carry the parent's over exec - fast path and reference).
OpenCV must be 4.x: readNetFromDarknet is gone in OpenCV 5.
--busy P runs P busy-looping processes beside both engines (cores shared with other work).
"""
import argparse
import contextlib
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import darknet_py  # noqa: E402  (first: selects OpenBLAS's kernels before numpy loads)
from darknet_py.cpu import threads as cpu_threads  # noqa: E402
from darknet_py.network import Network  # noqa: E402
from darknet_py.weights import write_random_weights  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

# (cfg, input side, target ratio ours/OpenCV from issue 6)
ROWS = [("yolov2-tiny", 416, .9), ("yolov2", 416, .8)] + [("yolov2", s, 1.0) for s in (288, 352, 480, 544, 608)]
QUICK_ROWS = ROWS[:2]
BATCH = 4            # images per pass in the batch row
MEMORY_LIMIT_MB = 1024  # issue 6: yolov2-416 inference under 1 GiB

MEMORY_PROBE = """
import os, sys
sys.path.insert(0, {root!r})
if {reference}:
    os.environ["DARKNET_PY_REFERENCE"] = "1"
import darknet_py, numpy as np
net = darknet_py.load({cfg!r}, {weights!r})
net.resize(416, 416)
net.forward(np.random.default_rng(0).random((1, 3, 416, 416), dtype=np.float32))
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) // 1024)
"""


def sized_cfg(cfg, side, folder):
    """A copy of cfg with width=height=side (OpenCV builds its net at the cfg's size)."""
    text = Path(cfg).read_text()
    text = re.sub(r"(?m)^\s*width\s*=.*$", f"width={side}", text)
    text = re.sub(r"(?m)^\s*height\s*=.*$", f"height={side}", text)
    path = Path(folder) / f"{Path(cfg).stem}-{side}.cfg"
    path.write_text(text)
    return path


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(fns, warmup, runs):
    """Median seconds of each fn, timed alternately (order flipped every run) after warm-up."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for r in range(runs):
        order = range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            times[i].append(timed(fns[i]))
    return [float(np.median(t)) for t in times]


def opencv_net(cfg, weights, threads):
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    cv2.setNumThreads(threads)
    return net


def opencv_forward(net, x):
    def run():
        net.setInput(x)
        net.forward()
    return run


def peak_memory_mb(cfg, weights, reference):
    code = MEMORY_PROBE.format(root=str(ROOT), cfg=str(cfg), weights=str(weights), reference=reference)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@contextlib.contextmanager
def busy_processes(count):
    """count processes that spin on a core each until the block ends."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="yolov2-tiny and yolov2 at 416 only, fewer runs")
    parser.add_argument("--threads", type=int, default=None, help="threads for both engines (default: all cores)")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per row (default 11, quick 5)")
    parser.add_argument("--busy", type=int, default=0, help="busy-looping processes running beside the engines")
    args = parser.parse_args(argv)
    with busy_processes(args.busy):
        run(args)


def run(args):
    threads = args.threads or cpu_threads.thread_count()
    cpu_threads.set_threads(threads)
    runs = args.runs or (5 if args.quick else 11)
    warmup = 2
    rows = QUICK_ROWS if args.quick else ROWS
    print(f"darknet-py {darknet_py.__version__} (numpy {np.__version__}, OPENBLAS_CORETYPE="
          f"{__import__('os').environ.get('OPENBLAS_CORETYPE', 'default')}) vs OpenCV {cv2.__version__} "
          f"DNN_BACKEND_OPENCV; {threads} threads; {args.busy} busy processes beside them; batch 1; "
          f"median of {runs} runs after {warmup} warm-ups\n")
    print(f"{'network':12s} {'size':>5s} {'ours ms':>9s} {'OpenCV ms':>10s} {'ratio':>7s} {'target':>7s}")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        nets, weights = {}, {}
        for name, side, target in rows:
            cfg = ROOT / "cfg" / f"{name}.cfg"
            if name not in nets:
                nets[name] = Network.from_cfg(cfg)
                weights[name] = Path(tmp) / f"{name}.weights"
                write_random_weights(nets[name], weights[name], seed=0)
            net = nets[name]
            net.resize(side, side)
            x = rng.random((1, 3, side, side), dtype=np.float32)
            cv_net = opencv_net(sized_cfg(cfg, side, tmp), weights[name], threads)
            ours, theirs = interleaved([lambda: net.forward(x), opencv_forward(cv_net, x)], warmup, runs)
            ok = "ok" if ours / theirs <= target else "MISSED"
            print(f"{name:12s} {side:5d} {ours * 1e3:9.1f} {theirs * 1e3:10.1f} {ours / theirs:7.2f} "
                  f"{target:5.1f} {ok}")

        net = nets["yolov2"]
        net.resize(416, 416)
        xs = rng.random((BATCH, 3, 416, 416), dtype=np.float32)
        batched, singles = interleaved([lambda: net.forward(xs),
                                        lambda: [net.forward(xs[i:i + 1]) for i in range(BATCH)]],
                                       1, max(3, runs // 2))
        print(f"\nyolov2 416, {BATCH} images: one batch-{BATCH} pass {BATCH / batched:.1f} images/s, "
              f"{BATCH} single passes {BATCH / singles:.1f} images/s")

        cfg = ROOT / "cfg" / "yolov2.cfg"
        fast = peak_memory_mb(cfg, weights["yolov2"], False)
        reference = peak_memory_mb(cfg, weights["yolov2"], True)
        ok = "ok" if fast < MEMORY_LIMIT_MB else "MISSED"
        print(f"peak resident memory, yolov2 416 inference process: fast path {fast} MiB "
              f"(target < {MEMORY_LIMIT_MB}) {ok}; reference layers {reference} MiB")


if __name__ == "__main__":
    main()
