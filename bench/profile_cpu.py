"""Where the time goes: darknet-py's fast path layer by layer beside ONNX Runtime's profiler and OpenCV's
getPerfProfile, on the same network (random weights, batch 1).

    python bench/profile_cpu.py [--network yolov2-tiny] [--size 416] [--threads 1] [--runs 9]

Ours: each layer's thread CPU time (time.thread_time; one thread) or wall time (more threads), the fastest
of --runs forwards. ONNX Runtime: the kernel times of its profile (session option enable_profiling) of the
exported graph, the fastest of the runs; OpenCV: getPerfProfile's per-layer ticks of readNetFromDarknet.
One thread by default, so that a neighbour on the other core (this is a shared machine) moves the
figures least; the fused layers of each engine are shown on the conv they belong to.
"""
import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import darknet_py  # noqa: E402,F401  (first: selects OpenBLAS's kernels before numpy loads)
from darknet_py.cpu import blas, engine  # noqa: E402
from darknet_py.cpu.threads import set_threads  # noqa: E402
from darknet_py.export.onnx import export_onnx  # noqa: E402
from darknet_py.network import Network  # noqa: E402
from darknet_py.weights import write_random_weights  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402


def ours_per_layer(net, x, threads, runs):
    """{layer index: fastest seconds} of the fast path's forward, layer by layer."""
    clock = time.thread_time if threads == 1 else time.perf_counter
    net.forward(x)
    eng = engine._engines[net]
    best = {}
    for _ in range(runs):
        with blas.single_threaded():
            value, skip = x, None
            for i, layer in enumerate(net.layers):
                if layer is skip:  # computed by the conv before it
                    value = layer.output
                    continue
                began = clock()
                op = eng.op(net, i, value, threads)
                value = layer.forward(value, net) if op is None else op(value, eng.scratch, threads)
                skip = op.pool if op is not None else None
                best[i] = min(best.get(i, np.inf), clock() - began)
    return best


def onnxruntime_per_node(path, x, threads, runs):
    """{node name: fastest seconds} from ONNX Runtime's profile."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(path).with_suffix(""))
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(runs + 1):
        session.run(None, {"images": x})
    profile = Path(session.end_profiling())
    events = json.loads(profile.read_text())
    profile.unlink()
    best = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            name = e["name"][:-len("_kernel_time")]
            best[name] = min(best.get(name, np.inf), e["dur"] / 1e6)
    return best


def opencv_per_layer(cfg, weights, x, threads, runs):
    """{layer name: fastest seconds} from OpenCV's getPerfProfile."""
    cv2.setNumThreads(threads)
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    ticks = []
    for _ in range(runs + 1):
        net.setInput(x)
        net.forward()
        ticks.append(net.getPerfProfile()[1].ravel())
    return dict(zip(net.getLayerNames(), np.min(ticks[1:], axis=0) / cv2.getTickFrequency()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="yolov2-tiny")
    parser.add_argument("--size", type=int, default=416)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    cfg = ROOT / "cfg" / f"{args.network}.cfg"
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        net = Network.from_cfg(cfg)
        weights = Path(tmp) / "random.weights"
        write_random_weights(net, weights, seed=0)
        net.resize(args.size, args.size)
        sized = Path(tmp) / "sized.cfg"
        text = re.sub(r"(?m)^\s*width\s*=.*$", f"width={args.size}", cfg.read_text())
        sized.write_text(re.sub(r"(?m)^\s*height\s*=.*$", f"height={args.size}", text))
        onnx_path = Path(tmp) / "model.onnx"
        export_onnx(net, onnx_path)
        x = np.random.default_rng(0).random((1, 3, args.size, args.size), dtype=np.float32)
        ours = ours_per_layer(net, x, args.threads, args.runs)
        theirs = onnxruntime_per_node(onnx_path, x, args.threads, args.runs)
        cv = opencv_per_layer(sized, weights, x, args.threads, args.runs)
    print(f"{args.network} {args.size}, batch 1, {args.threads} thread(s), fastest of {args.runs} runs, ms; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'layer':>5s} {'type':14s} {'output':>16s} {'ours':>7s} {'method':>10s} {'ORT':>7s} {'OpenCV':>7s}")
    for i, layer in enumerate(net.layers):
        if i not in ours:
            continue
        op = engine._engines[net].ops.get(i, (None, None, None))[-1]
        fused = [i] + ([i + 1] if op is not None and op.pool is not None else [])  # our fused maxpool
        ort = sum(t for name, t in theirs.items() if layer_of(name, "l") in fused)
        opencv = sum(t for name, t in cv.items() if layer_of(name, "_") in fused)
        print(f"{i:5d} {layer.type:14s} {'x'.join(map(str, layer.out_shape)):>16s} {ours[i] * 1e3:7.2f} "
              f"{getattr(op, 'name', ''):>10s} {ort * 1e3:7.2f} {opencv * 1e3:7.2f}")
    print(f"{'total':>5s} {'':14s} {'':>16s} {sum(ours.values()) * 1e3:7.2f} {'':>10s} "
          f"{sum(theirs.values()) * 1e3:7.2f} {sum(cv.values()) * 1e3:7.2f}")


def layer_of(name, marker):
    """The layer index in a node's name: ONNX Runtime's (fused) nodes keep our 'l<i>_' prefix, OpenCV's
    layers are named '<type>_<i>'. None for other names."""
    found = re.match(r"^l(\d+)_", name) if marker == "l" else re.search(r"_(\d+)$", name)
    return int(found.group(1)) if found else None


if __name__ == "__main__":
    main()
