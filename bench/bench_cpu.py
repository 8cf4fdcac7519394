"""CPU inference benchmark: darknet-py's fast path against OpenCV DNN, ONNX Runtime and OpenVINO.

    python bench/bench_cpu.py [--quick] [--threads N] [--runs R] [--busy P]      (make bench)

Batch 1, random weights (weights.write_random_weights) and a random input, the same network for every
engine: OpenCV's DNN module reads the cfg and weights (readNetFromDarknet, OpenCV 4.x: it is gone in 5),
ONNX Runtime and OpenVINO (float32) run the graph `darknet-py export onnx` writes of them. For each row
the engines are warmed up, then timed in turns, a block of back-to-back runs each, the order flipped
every round (so a busy machine slows all alike), each block after untimed runs of its own engine (ONNX
Runtime's threads spin on after a run and would slow the engine timed next); the table gives medians and
ours / the fastest peer. All get the same thread count. Also batch 8 in images/s, and the peak resident
memory of a yolov2-416 inference process (VmHWM of a fresh subprocess - ru_maxrss would carry the parent's
over exec - fast path and reference). The CPU (model, AVX-512 or AVX2) and the load average are printed
with the table. Then the tuner's check (cpu/tune.py): for each conv of yolov2-tiny and yolov2 at 416, every
candidate method timed beside the one the tuner chose, and the whole network tuned against the shape rules
(DARKNET_PY_TUNE=0).
--busy P runs P busy-looping processes beside the engines (cores shared with other work).
--avx2 runs the AVX2 kernels where the CPU has AVX-512: OPENBLAS_CORETYPE=Haswell for us,
OPENCV_CPU_DISABLE for OpenCV; ONNX Runtime and OpenVINO choose their kernels themselves (no switch).
"""
import argparse
import contextlib
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
AVX2_ENV = {"OPENBLAS_CORETYPE": "Haswell", "OPENCV_CPU_DISABLE": "AVX512F,AVX512-SKX"}
if "--avx2" in sys.argv and any(os.environ.get(k) != v for k, v in AVX2_ENV.items()):
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **AVX2_ENV})  # before numpy loads

import darknet_py  # noqa: E402  (first: selects OpenBLAS's kernels before numpy loads)
from darknet_py.cpu import blas, blas_env, engine, tune  # noqa: E402
from darknet_py.cpu import threads as cpu_threads  # noqa: E402
from darknet_py.cpu.conv import candidates, make_conv  # noqa: E402
from darknet_py.export.onnx import export_onnx  # noqa: E402
from darknet_py.network import Network  # noqa: E402
from darknet_py.weights import write_random_weights  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
import openvino  # noqa: E402

# (cfg, input side, target: at most this times the fastest peer's time; issue 14)
ROWS = [("yolov2-tiny", 416, .9), ("yolov2", 416, .9)] + [("yolov2", s, 1.0) for s in (288, 352, 480, 544, 608)]
ROWS += [("yolov3-tiny", 416, 1.0), ("yolov3", 416, 1.0)]  # issue 13: YOLOv3 at the fastest peer's speed or better
QUICK_ROWS = ROWS[:2]
BATCH = 8            # images per pass in the batch rows (target: at least the fastest peer's images/s)
BATCH_ROWS = ["yolov2-tiny", "yolov2"]
MEMORY_LIMIT_MB = 1024  # yolov2-416 inference under 1 GiB
PEERS = ["OpenCV", "ORT", "OpenVINO"]
# ONNX Runtime's pool spins on a core for about 40 ms after each run (38.9-42.7 ms of CPU in the 50-400 ms after a
# yolov2-tiny forward, 2 threads, AMD EPYC): an engine timed right after it shares a core with it (our yolov2-tiny
# forward took 55-59 ms there against 34 alone). Hence blocks of runs, each engine's own untimed runs first for
# this long. Not idle time: after 100 ms of sleep our 2-thread forward takes several runs to come back to speed
# (46, 37, 37, 35, 33 ms against 29-30 back to back), where the peers' spinning pools do not slow down.
SETTLE_S = .06
ROUNDS = 3

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


def interleaved(fns, warmup, runs, rounds=ROUNDS):
    """Median seconds of each fn: `runs` timed runs each, in `rounds` blocks of back-to-back runs, the engines
    taking turns block by block (the order flipped every round). Each block starts with untimed runs for at
    least SETTLE_S (`warmup` of them at least in the first round), so every engine is timed in its steady state,
    as a video loop or a busy server runs it, and none in the wake of the engine before it."""
    times = [[] for _ in fns]
    for r in range(rounds):
        share = runs // rounds + (r < runs % rounds)
        for i in range(len(fns)) if r % 2 == 0 else reversed(range(len(fns))):
            settled = time.perf_counter() + SETTLE_S
            for _ in range(warmup if r == 0 else 1):
                fns[i]()
            while time.perf_counter() < settled:
                fns[i]()
            times[i] += [timed(fns[i]) for _ in range(share)]
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


def onnxruntime_forward(path, x, threads):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"images": x})


def openvino_forward(path, x, threads):
    # f32: on CPUs with AVX512_BF16 OpenVINO's default is bfloat16, which gives other numbers
    compiled = openvino.Core().compile_model(str(path), "CPU", {
        "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    return lambda: request.infer({"images": x})


def peer_forwards(net, cfg, weights, x, threads, folder):
    """OpenCV DNN on the cfg, ONNX Runtime and OpenVINO on the exported graph, for input x."""
    side = net.w
    onnx_path = Path(folder) / f"{Path(cfg).stem}-{side}-b{x.shape[0]}.onnx"
    export_onnx(net, onnx_path, batch=x.shape[0])
    return [opencv_forward(opencv_net(sized_cfg(cfg, side, folder), weights, threads), x),
            onnxruntime_forward(onnx_path, x, threads), openvino_forward(onnx_path, x, threads)]


def cpu_name():
    """The CPU's model name and its widest vector instructions (AVX-512 or AVX2), from /proc/cpuinfo."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = re.search(r"^model name\s*:\s*(.*)$", info, re.M)
    flags = re.search(r"^flags\s*:\s*(.*)$", info, re.M)
    flags = set(flags.group(1).split()) if flags else set()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model.group(1).strip() if model else 'unknown CPU'}, {os.cpu_count()} cores, {isa}"


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
    parser.add_argument("--avx2", action="store_true", help="AVX2 kernels for us and OpenCV on an AVX-512 CPU")
    args = parser.parse_args(argv)
    if blas_env.tuning_enabled() and "openblas_core" not in tune.Tuner().machine:
        engine.tuner()  # measures this CPU's OpenBLAS kernels, which load at a process's start: start again
        if blas_env.chosen_here:
            del os.environ[blas_env.CORETYPE_VAR]
        os.execv(sys.executable, [sys.executable, *sys.argv])
    with busy_processes(args.busy):
        run(args)


def run(args):
    threads = args.threads or cpu_threads.thread_count()
    cpu_threads.set_threads(threads)
    runs = args.runs or (5 if args.quick else 11)
    warmup = 2
    rows = QUICK_ROWS if args.quick else ROWS
    print(f"{cpu_name()}; load average {os.getloadavg()[0]:.2f}")
    print(f"darknet-py {darknet_py.__version__} (numpy {np.__version__}, OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', 'default')}) vs OpenCV {cv2.__version__} DNN_BACKEND_OPENCV, "
          f"ONNX Runtime {onnxruntime.__version__}, OpenVINO {openvino.__version__.split('-')[0]} f32; "
          f"{threads} threads; {args.busy} busy processes beside them; median of {runs} runs after {warmup} "
          f"warm-ups\n")
    print(f"{'network':12s} {'size':>5s} {'ours ms':>9s} " + " ".join(f"{p + ' ms':>11s}" for p in PEERS)
          + f" {'ratio':>6s} {'target':>7s}")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        nets, weights = {}, {}
        for name in {row[0] for row in rows}:
            cfg = ROOT / "cfg" / f"{name}.cfg"
            nets[name] = Network.from_cfg(cfg)
            weights[name] = Path(tmp) / f"{name}.weights"
            write_random_weights(nets[name], weights[name], seed=0)
        for name, side, target in rows:
            net = nets[name]
            net.resize(side, side)
            x = rng.random((1, 3, side, side), dtype=np.float32)
            peers = peer_forwards(net, ROOT / "cfg" / f"{name}.cfg", weights[name], x, threads, tmp)
            ours, *theirs = interleaved([lambda: net.forward(x)] + peers, warmup, runs)
            ratio = ours / min(theirs)
            print(f"{name:12s} {side:5d} {ours * 1e3:9.1f} " + " ".join(f"{t * 1e3:11.1f}" for t in theirs)
                  + f" {ratio:6.2f} {target:5.1f} {'ok' if ratio <= target else 'MISSED'}", flush=True)

        print(f"\nbatch {BATCH}, images/s (target: ours at least the fastest peer's)")
        for name in BATCH_ROWS if not args.quick else BATCH_ROWS[:1]:
            net = nets[name]
            net.resize(416, 416)
            xs = rng.random((BATCH, 3, 416, 416), dtype=np.float32)
            peers = peer_forwards(net, ROOT / "cfg" / f"{name}.cfg", weights[name], xs, threads, tmp)
            ours, *theirs = (BATCH / t for t in interleaved([lambda: net.forward(xs)] + peers, 1, max(3, runs // 2)))
            print(f"{name:12s} {416:5d} {ours:9.1f} " + " ".join(f"{t:11.1f}" for t in theirs)
                  + f" {ours / max(theirs):6.2f} {'ok' if ours >= max(theirs) else 'MISSED'}", flush=True)

        cfg = ROOT / "cfg" / "yolov2.cfg"
        fast = peak_memory_mb(cfg, weights["yolov2"], False)
        reference = peak_memory_mb(cfg, weights["yolov2"], True)
        ok = "ok" if fast < MEMORY_LIMIT_MB else "MISSED"
        print(f"\npeak resident memory, yolov2 416 inference process: fast path {fast} MiB "
              f"(target < {MEMORY_LIMIT_MB}) {ok}; reference layers {reference} MiB")
        tuning_check(nets, weights, rng, max(5, runs))
    print(f"load average now {os.getloadavg()[0]:.2f}")


def fastest(fns, warmup, runs):
    """The fastest of `runs` timed runs of each fn, interleaved (the tuner's measure)."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for r in range(runs):
        for i in (range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))):
            times[i].append(timed(fns[i]))
    return [min(t) for t in times]


def tuning_check(nets, weights, rng, runs):
    """Per conv layer, every candidate method against the tuner's choice; then tuned vs shape rules."""
    threads = cpu_threads.thread_count()
    print(f"\ntuner's choices (cpu/tune.py, cache {blas_env.cache_file()}), fastest of {runs} runs, ms:")
    print(f"{'network':12s} {'layer':>5s} {'conv':34s} {'chosen':>10s} {'ms':>6s} {'fastest':>10s} {'ms':>6s} "
          f"{'rule':>10s} {'ms':>6s}")
    right = total = 0
    for name in ("yolov2-tiny", "yolov2"):
        net = nets[name]
        net.resize(416, 416)
        x = rng.random((1, 3, 416, 416), dtype=np.float32)
        net.forward(x)  # measures what is not in the cache yet, and leaves every layer's output
        for i, layer in enumerate(net.layers):
            names = candidates(layer) if layer.type == "convolutional" else []
            if len(names) < 2:
                continue
            pool = net.layers[i + 1] if i + 1 < len(net.layers) else None
            xin = net.layers[i - 1].output if i else x
            chosen = engine.tuner().machine["layers"][tune.layer_key(layer, pool, 1, threads)][0]
            rule = make_conv(layer, pool).name
            ops = {name: make_conv(layer, pool, name) for name in names}
            scratch = engine._engines[net].scratch
            with blas.single_threaded():
                times = dict(zip(names, fastest([lambda op=op: op(xin, scratch, threads) for op in ops.values()],
                                                1, runs)))
            best = min(times, key=times.get)
            right += times[chosen] <= 1.05 * times[best]
            total += 1
            shape = f"{'x'.join(map(str, layer.in_shape))} -> {layer.filters} {layer.size}x{layer.size}/{layer.stride}"
            print(f"{name:12s} {i:5d} {shape:34s} {chosen:>10s} {times[chosen] * 1e3:6.2f} {best:>10s} "
                  f"{times[best] * 1e3:6.2f} {rule:>10s} {times[rule] * 1e3:6.2f}", flush=True)
    print(f"the tuner's choice within 5% of the fastest candidate on {right} of {total} layers")
    for name in ("yolov2-tiny", "yolov2"):
        tuned = nets[name]
        rules = Network.from_cfg(ROOT / "cfg" / f"{name}.cfg").load_weights(weights[name])
        tuned.resize(416, 416)
        rules.resize(416, 416)
        x = rng.random((1, 3, 416, 416), dtype=np.float32)

        def with_rules():
            previous = os.environ.get(blas_env.TUNE_VAR, "1")
            os.environ[blas_env.TUNE_VAR] = "0"
            try:
                rules.forward(x)
            finally:
                os.environ[blas_env.TUNE_VAR] = previous
        a, b = interleaved([lambda: tuned.forward(x), with_rules], 2, runs)
        print(f"{name} 416: tuned {a * 1e3:.1f} ms, shape rules {b * 1e3:.1f} ms (medians)")


if __name__ == "__main__":
    main()
