"""Data-parallel CPU training benchmark: 1 process x 2 threads against 2 ranks x 1 thread (mpirun), the same images.

    python bench/bench_distributed.py [--quick] [--iterations N]      (make bench)

For each row (our cfg at 416, random weights, random images with two boxes each, no loading), both sides train
the same 2 x m images per iteration as minibatches of m: one process as a batch of 2m in 2 subdivisions on 2
threads (train_batch, then the SGD step), two ranks with m images each on 1 thread (data_parallel.Allreduce:
gradients summed in buckets started during the backward, then the step). The table gives images/s (median
iteration after a warm-up), the bytes each rank's allreduce sums per iteration, the milliseconds a rank still
waited for it after its backward (what the overlap did not hide), and the milliseconds of the same allreduce
alone (no compute beside it). Then a projection (not a measurement) of the allreduce per iteration on 8 GPUs and
2 hosts x 8 GPUs from NCCL's ring cost 2(n-1)/n x bytes / bus bandwidth, with the bandwidths given below, against
the compute time measured here (a GPU's step is much shorter; the last column says how short it may get).
"""
import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import darknet_py  # noqa: E402,F401,I001  (first: selects OpenBLAS's kernels before numpy loads)
from darknet_py.cpu.blas import single_threaded  # noqa: E402
from darknet_py.cpu.threads import set_threads  # noqa: E402
from darknet_py.network import Network  # noqa: E402
from darknet_py.train import data_parallel, distributed  # noqa: E402
from darknet_py.train.train_detector import train_batch  # noqa: E402
from darknet_py.weights import write_random_weights  # noqa: E402

import numpy as np  # noqa: E402

ROWS = [("yolov2-tiny", 416, 8), ("yolov2", 416, 2)]  # (cfg, side, images per rank and iteration)
QUICK_ROWS = ROWS[:1]
ITERATIONS = 3
QUICK_ITERATIONS = 2
SEED = 0
RANKS = 2
MPI_TIMEOUT_S = 1200
# Projection inputs: NCCL bus bandwidths (nccl-tests' busbw, for which a ring allreduce of S bytes takes
# 2(n-1)/n x S / busbw). One host: 8 GPUs on NVSwitch, NVLink 4 at 450 GB/s per GPU and direction (H100 SXM).
# Two hosts: the ring crosses InfiniBand NDR, one 400 Gb/s (50 GB/s) NIC per GPU.
PROJECTIONS = (("8 GPUs, one host (NVLink 4, 450 GB/s)", 8, 450e9), ("2 hosts x 8 GPUs (NDR IB, 50 GB/s per GPU)",
                                                                      16, 50e9))
SHARE = .1  # the projection's last column: the step time below which the allreduce takes more than this share


def row_cfg(name, side, images, folder, subdivisions=1):
    """Our cfg at side x side, batch images as `subdivisions` minibatches, no multi-scale."""
    text = (ROOT / "cfg" / f"{name}.cfg").read_text()
    lines = []
    for line in text.splitlines():
        key = line.split("=")[0].strip()
        values = {"batch": images, "subdivisions": subdivisions, "width": side, "height": side, "random": 0}
        lines.append(f"{key}={values[key]}" if key in values else line)
    path = Path(folder) / f"{name}-{side}-{images}x{subdivisions}.cfg"
    path.write_text("\n".join(lines) + "\n")
    return path


def batch(net, images, rng):
    """Random images and two boxes per image (the region loss does its usual work)."""
    x = rng.random((images, 3, net.h, net.w), dtype=np.float32)
    truth = np.zeros((images, 30 * 5), np.float32)
    truth[:, :10] = [.3, .3, .2, .3, 1, .7, .6, .3, .2, 2]
    return x, truth


def network(cfg, weights):
    net = Network.from_cfg(cfg)
    net.load_weights(weights)
    return net


def time_iterations(step, iterations):
    times = []
    for _ in range(iterations + 1):  # the first is a warm-up
        began = time.perf_counter()
        step()
        times.append(time.perf_counter() - began)
    return statistics.median(times[1:])


def one_process(name, side, images, iterations, folder):
    """images/s of 1 process x 2 threads on 2 x images per iteration (2 subdivisions)."""
    set_threads(2)
    cfg = row_cfg(name, side, RANKS * images, folder, RANKS)
    weights = Path(folder) / f"{name}.weights"
    write_random_weights(Network.from_cfg(cfg), weights, SEED)
    net = network(cfg, weights)
    x, truth = batch(net, RANKS * images, np.random.default_rng(SEED))
    with single_threaded(), np.errstate(all="ignore"), contextlib.redirect_stdout(io.StringIO()):
        seconds = time_iterations(lambda: train_batch(net, x, truth), iterations)
    return RANKS * images / seconds


def rank_main(args):
    """One of the ranks: each row's images/s, allreduce bytes, exposed and standalone allreduce ms (rank 0 prints)."""
    set_threads(1)
    world = distributed.world()
    team = data_parallel.team()
    rows = []
    for name, side, images in (QUICK_ROWS if args.quick else ROWS):
        folder = Path(args.folder)
        cfg = row_cfg(name, side, images, folder)
        net = network(cfg, folder / f"{name}.weights")
        team.prepare(net)
        team.buckets = None
        x, truth = batch(net, images, np.random.default_rng(SEED + world.rank))
        waits = []

        def step():
            team.train_batch(net, x, truth)
            waits.append(team.buckets.wait_s)

        with single_threaded(), np.errstate(all="ignore"), contextlib.redirect_stdout(io.StringIO()):
            seconds = time_iterations(step, args.iterations)
        flat = data_parallel.pack(data_parallel.parameter_arrays(net, [p for p, _ in data_parallel.UPDATES]))
        alone = []
        for _ in range(args.iterations + 1):
            began = time.perf_counter()
            world.allreduce(flat, "the benchmark's allreduce")
            alone.append(time.perf_counter() - began)
        rows.append({"name": name, "side": side, "images": images, "images_s": RANKS * images / seconds,
                     "bytes": team.buckets.sent_bytes, "buckets": len(team.buckets.buckets),
                     "exposed_ms": 1e3 * statistics.median(waits[1:]), "alone_ms": 1e3 * statistics.median(alone[1:]),
                     "step_s": seconds})
    if world.main:
        print(json.dumps(rows))


def ranks(args, folder):
    env = {**os.environ, **distributed.LAUNCH_ENVIRONMENT, "DARKNET_PY_THREADS": "1",
           "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = ["mpirun", "-np", str(RANKS), sys.executable, __file__, "--rank", "--folder", folder,
           "--iterations", str(args.iterations)] + (["--quick"] if args.quick else [])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=MPI_TIMEOUT_S)
    if done.returncode:
        sys.exit(f"the ranks failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def projection_ms(nbytes, gpus, busbw):
    return 1e3 * 2 * (gpus - 1) / gpus * nbytes / busbw


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--rank", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.iterations = args.iterations or (QUICK_ITERATIONS if args.quick else ITERATIONS)
    if args.rank:
        return rank_main(args)
    if shutil.which("mpirun") is None:
        sys.exit("bench_distributed: needs mpirun (make mpi) and mpi4py")
    rows = QUICK_ROWS if args.quick else ROWS
    with tempfile.TemporaryDirectory() as folder:  # one process before and after the ranks: a busy VM drifts
        before = {name: one_process(name, side, images, args.iterations, folder) for name, side, images in rows}
        load = os.getloadavg()[0]
        parallel = ranks(args, folder)
        after = {name: one_process(name, side, images, args.iterations, folder) for name, side, images in rows}
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"CPU: {cpu}, {os.cpu_count()} cores; {args.iterations} timed iterations after a warm-up")
    print(f"load average before the ranks: {load:.2f}")
    print("| network | size | images/iteration | 1 process x 2 threads images/s (before / after) | 2 ranks x 1 "
          "thread images/s | ratio to their mean | rank's step s | allreduce MiB per rank | buckets | "
          "allreduce ms alone | ms not hidden by the backward |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in parallel:
        one = (before[row["name"]] + after[row["name"]]) / 2
        print(f"| {row['name']} | {row['side']} | {RANKS * row['images']} | {before[row['name']]:.2f} / "
              f"{after[row['name']]:.2f} | {row['images_s']:.2f} | "
              f"{row['images_s'] / one:.2f} | {row['step_s']:.2f} | {row['bytes'] / 2**20:.1f} | {row['buckets']} | "
              f"{row['alone_ms']:.1f} | {row['exposed_ms']:.1f} |")
    print("\nProjection (not measured): NCCL ring allreduce per iteration, 2(n-1)/n x bytes / bus bandwidth; its")
    print("share of an iteration if none of it hid behind the backward, at the rank's step time measured above; and")
    print(f"the shortest step for which that share stays under {SHARE:.0%}")
    print("| network | MiB | " + " | ".join(f"{label}: ms | share | step for {SHARE:.0%}, ms"
                                           for label, _, _ in PROJECTIONS) + " |")
    print("|---|---|" + "---|---|---|" * len(PROJECTIONS))
    for row in parallel:
        cells = []
        for _, gpus, bw in PROJECTIONS:
            ms = projection_ms(row["bytes"], gpus, bw)
            cells.append(f"{ms:.2f} | {ms / (ms + 1e3 * row['step_s']):.2%} | {ms * (1 - SHARE) / SHARE:.0f}")
        print(f"| {row['name']} | {row['bytes'] / 2**20:.1f} | {' | '.join(cells)} |")

if __name__ == "__main__":
    main()
