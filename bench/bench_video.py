"""Video and many-image benchmark: `detector demo` end to end against the bare forward and a plain OpenCV DNN loop
doing the same job; `detector test` over a folder at batch 1 and 8.

    python bench/bench_video.py [--quick] [--networks yolov2-tiny yolov2] [--frames 300] [--images 100] [--threads N]
                                 [--rounds 2]   (make bench)

A 640x480 MJPG video of Darknet's sample images goes through `darknet-py detector demo <cfg> <weights> video.avi
-dont_show -out_filename out.avi` (read, letterbox, detect, draw, write) in a fresh process, and through a plain
OpenCV loop in another (VideoCapture, blobFromImage, cv2.dnn forward, the boxes above .5, NMSBoxes, rectangles
and labels, VideoWriter MJPG), with yolov2-tiny and yolov2 at 416 and the same random weights. Both are timed
after their first frame, which carries each one's warm-up (the demo's closing line gives that rate; neither
counts loading the network). The bare forward is Network.forward on one letterboxed frame at batch 1 in this
process (median of 15 after warm-up); `-batch 4` is the demo's throughput mode (4 frames per forward). Each is
run `--rounds` times, alternately, and the best round kept (the others on a shared machine only slow it). Peak
resident memory is each process's own (wait4's ru_maxrss). `detector test` is timed after its first forward (its
closing line's rate after the first -batch images), which carries the warm-up: where the tuning cache has no
entry for that batch size and thread count yet, the tuner measures each layer there (about 20 s for
yolov2-tiny at batch 8 on one thread).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import darknet_py  # noqa: E402  (first: selects OpenBLAS's kernels before numpy loads)
from bench_cpu import sized_cfg  # noqa: E402
from darknet_py.cpu import threads as cpu_threads  # noqa: E402
from darknet_py.image import bgr_to_image, letterbox_image  # noqa: E402
from darknet_py.network import Network  # noqa: E402
from darknet_py.weights import write_random_weights  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

NETWORKS = ("yolov2-tiny", "yolov2")
SIDE = 416
FRAME_SIZE = (640, 480)
FPS = 25
SAMPLES = Path("/usr/share/darknet/data")  # Darknet's sample images (apt-get install darknet)
SAMPLE_NAMES = ("dog", "eagle", "giraffe", "horses", "person", "kite")
TEST_BATCHES = (1, 8)
THRESH, NMS = .5, .4  # demo's defaults
SUMMARY = re.compile(r"^(\d+) (?:frames|images) in ([\d.]+) s \([\d.]+ \w+/s(?:, ([\d.]+) \w+/s after the first)?",
                     re.M)


def sample_frames(count, size=FRAME_SIZE):
    images = [cv2.resize(cv2.imread(str(SAMPLES / f"{n}.jpg")), size) for n in SAMPLE_NAMES
              if (SAMPLES / f"{n}.jpg").exists()]
    if not images:  # no Darknet installed: coloured noise
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) for _ in range(6)]
    return [images[i % len(images)] for i in range(count)]


def write_clip(path, count):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, FRAME_SIZE)
    for frame in sample_frames(count):
        writer.write(frame)
    writer.release()


def timed_process(argv, threads):
    """Run argv; returns (items per second from its summary line - after the first item where it says -, peak
    resident MiB)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), DARKNET_PY_THREADS=str(threads))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    found = SUMMARY.findall(err)
    if proc.returncode or not found:
        raise SystemExit(f"{' '.join(map(str, argv[:6]))} failed ({proc.returncode}): {err[-1500:]}")
    count, seconds, steady = found[-1]
    return float(steady) if steady else int(count) / float(seconds), usage.ru_maxrss // 1024


def darknet_py_cli(*args):
    return [sys.executable, "-m", "darknet_py", *map(str, args), "-quiet"]


def bare_forward(cfg, weights, runs=15):
    """Images per second of Network.forward on one letterboxed frame (the fast CPU path, batch 1)."""
    net = Network.from_cfg(cfg).load_weights(weights)
    x = letterbox_image(bgr_to_image(sample_frames(1)[0]), net.w, net.h)[None]
    for _ in range(3):
        net.forward(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        net.forward(x)
        times.append(time.perf_counter() - start)
    return 1 / float(np.median(times))


def opencv_loop(cfg, weights, video, out, threads):
    """The peer: a plain OpenCV DNN loop reading, detecting, drawing and writing each frame."""
    cv2.setNumThreads(threads)
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    names = (ROOT / "data" / "coco.names").read_text().splitlines()
    cap = cv2.VideoCapture(str(video))
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), cap.get(cv2.CAP_PROP_FPS), (w, h))
    start, frames, second = time.perf_counter(), 0, None
    while True:
        if frames == 1:
            second = time.perf_counter()  # the first frame carries OpenCV's warm-up, as ours carries darknet-py's
        ok, frame = cap.read()
        if not ok:
            break
        net.setInput(cv2.dnn.blobFromImage(frame, 1 / 255., (SIDE, SIDE), swapRB=True, crop=False))
        rows = net.forward()  # per box: x, y, w, h (relative), objectness, class probabilities
        classes = rows[:, 5:].argmax(1)
        scores = rows[np.arange(len(rows)), 5 + classes]
        keep = np.flatnonzero(scores > THRESH)
        corners = np.clip((rows[keep, :2] - rows[keep, 2:4] / 2) * (w, h), 0, (w - 1, h - 1)).astype(int)
        sizes = np.clip(rows[keep, 2:4] * (w, h), 0, (w, h)).astype(int)  # random weights make huge boxes
        boxes = np.hstack([corners, sizes]).tolist()
        for j in np.array(cv2.dnn.NMSBoxes(boxes, scores[keep].tolist(), THRESH, NMS)).reshape(-1):
            x, y, bw, bh = boxes[j]
            cv2.rectangle(frame, (x, y), (x + bw, y + bh), (255, 0, 255), 2)
            cv2.putText(frame, names[classes[keep[j]]], (x, max(y - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, .5, (0, 0, 0))
        writer.write(frame)
        frames += 1
    writer.release()
    end = time.perf_counter()
    print(f"{frames} frames in {end - start:.3f} s ({frames / (end - start):.1f} frames/s, "
          f"{(frames - 1) / (end - second):.1f} frames/s after the first)", file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="yolov2-tiny only, 100 frames, 40 images, one round")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None, help="threads for every engine (default: all cores)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, default=NETWORKS)
    parser.add_argument("--opencv-loop", nargs=4, metavar=("CFG", "WEIGHTS", "VIDEO", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # rows as they are measured, also into a file
    threads = args.threads or cpu_threads.thread_count()
    if args.opencv_loop:
        return opencv_loop(*args.opencv_loop, threads)
    networks, frames, images, rounds = args.networks, args.frames, args.images, args.rounds
    if args.quick:
        networks, frames, images, rounds = NETWORKS[:1], 100, 40, 1
    cpu_threads.set_threads(threads)
    print(f"darknet-py {darknet_py.__version__} vs OpenCV {cv2.__version__} DNN_BACKEND_OPENCV; {threads} threads; "
          f"best of {rounds} alternating rounds; load average {os.getloadavg()[0]:.2f} at the start\n")
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        tmp = Path(tmp)
        write_clip(tmp / "clip.avi", frames)
        folder = tmp / "images"
        folder.mkdir()
        for i, frame in enumerate(sample_frames(images)):
            cv2.imwrite(str(folder / f"{i:04d}.jpg"), frame)
        print(f"demo: {frames} frames {FRAME_SIZE[0]}x{FRAME_SIZE[1]} MJPG -> -dont_show -out_filename out.avi")
        print(f"{'network':12s} {'size':>5s} {'bare forward':>13s} {'demo':>7s} {'-batch 4':>9s} {'OpenCV loop':>12s} "
              f"{'demo/forward':>13s} {'demo/OpenCV':>12s} {'peak MiB demo/OpenCV':>21s}")
        rows = []
        for name in networks:
            cfg = sized_cfg(ROOT / "cfg" / f"{name}.cfg", SIDE, tmp)  # our yolov2.cfg is 608
            weights = tmp / f"{name}.weights"
            write_random_weights(Network.from_cfg(cfg), weights, seed=0)
            demo = darknet_py_cli("detector", "demo", ROOT / "cfg" / "coco.data", cfg, weights, tmp / "clip.avi",
                                  "-dont_show", "-out_filename", tmp / "out.avi")
            peer = [sys.executable, __file__, "--opencv-loop", cfg, weights, tmp / "clip.avi", tmp / "cv.avi",
                    "--threads", str(threads)]
            best = {"bare": 0, "demo": (0, 0), "batch": (0, 0), "peer": (0, 0)}
            for _ in range(rounds):
                best["demo"] = max(best["demo"], timed_process(demo, threads))
                best["peer"] = max(best["peer"], timed_process(peer, threads))
                best["bare"] = max(best["bare"], bare_forward(cfg, weights))
                best["batch"] = max(best["batch"], timed_process(demo + ["-batch", "4"], threads))
            (ours, ours_mb), (theirs, theirs_mb), bare = best["demo"], best["peer"], best["bare"]
            print(f"{name:12s} {SIDE:5d} {bare:9.1f} i/s {ours:7.1f} {best['batch'][0]:9.1f} {theirs:12.1f} "
                  f"{ours / bare:13.2f} {ours / theirs:12.2f} {ours_mb:>10d} / {theirs_mb}")
            rows.append((name, cfg, weights))
        print(f"\ndetector test over {images} {FRAME_SIZE[0]}x{FRAME_SIZE[1]} JPEGs, -dont_show -out DIR: images/s")
        print(f"{'network':12s} {'size':>5s} " + " ".join(f"{f'batch {b}':>9s}" for b in TEST_BATCHES))
        for name, cfg, weights in rows:
            speeds = []
            for batch in TEST_BATCHES:
                test = darknet_py_cli("detector", "test", ROOT / "cfg" / "coco.data", cfg, weights, folder,
                                      "-dont_show", "-out", tmp / "out", "-batch", batch)
                speeds.append(max(timed_process(test, threads)[0] for _ in range(rounds)))
            print(f"{name:12s} {SIDE:5d} " + " ".join(f"{s:9.1f}" for s in speeds))
    print(f"\nload average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
