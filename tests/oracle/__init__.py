"""The oracle: pjreddie's Darknet (libdarknet.so from Debian's `darknet` package) driven by a small C
program of ours, tests/oracle/darknet_dump.c, compiled on first use into tests/.cache/.

Every numeric test of the project compares against these functions. They run darknet in a subprocess
in a temporary directory and read its raw float32 dumps back; darknet's loading chatter is captured
and only shown (in OracleError) when the program fails.
"""
import ctypes
import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

LIB_DIR = Path("/usr/lib/darknet")
HEADER_DIR = LIB_DIR / "include"
DARKNET_DIR = Path("/usr/share/darknet")  # the original cfg/ and data/ (dog.jpg, 9k.tree, ...)
SOURCE = Path(__file__).parent / "darknet_dump.c"
BINARY = Path(__file__).parents[1] / ".cache" / "darknet_dump"


class LibcRandom:
    """glibc's rand() after srand(seed): the stream libdarknet draws from in the oracle process."""

    def __init__(self, seed):
        self.libc = ctypes.CDLL("libc.so.6")
        self.libc.srand(seed)

    def rand(self):
        return self.libc.rand()


class OracleError(RuntimeError):
    """darknet_dump failed; the message carries the end of its output."""


def _build():
    """Compile darknet_dump unless the cached binary is newer than its source; returns its path."""
    if BINARY.exists() and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return BINARY
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    # Compile to a private name then rename, so concurrent test processes never run a half-written file.
    tmp = BINARY.with_name(f"{BINARY.name}.{os.getpid()}")
    cmd = ["gcc", "-O2", "-std=gnu99", "-o", str(tmp), str(SOURCE), f"-I{HEADER_DIR}",
           f"-L{LIB_DIR}", f"-Wl,-rpath,{LIB_DIR}", "-ldarknet", "-lm", "-ldl"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise OracleError(f"compiling {SOURCE.name} failed:\n{res.stderr[-4000:]}")
    os.replace(tmp, BINARY)
    return BINARY


@functools.cache
def available():
    """True when libdarknet, its header and gcc are present and the harness compiles."""
    if not (LIB_DIR / "libdarknet.so").exists() or not (HEADER_DIR / "darknet.h").exists():
        return False
    if shutil.which("gcc") is None:
        return False
    try:
        _build()
    except OracleError:
        return False
    return True


def _run(*args):
    """Run darknet_dump with string arguments; raise OracleError with its output on failure."""
    res = subprocess.run([str(_build()), *map(str, args)], capture_output=True, text=True,
                         errors="replace")
    if res.returncode != 0:
        tail = (res.stdout + res.stderr)[-4000:]
        raise OracleError(f"darknet_dump {' '.join(map(str, args[:2]))} failed "
                          f"(exit {res.returncode}):\n{tail}")


def _weights_arg(weights):
    return str(Path(weights).resolve()) if weights else "-"


def _cfg_with_batch(cfg, batch, tmp):
    """Copy cfg into tmp with the [net] section's batch=`batch`, subdivisions=1.

    Darknet allocates every layer's buffers for the cfg's batch/subdivisions and set_batch_network
    does not reallocate, so a batch larger than the cfg's would overflow them; training cfgs
    (batch=64) would also allocate far more than needed.
    """
    lines = Path(cfg).read_text().splitlines()
    out, in_net, seen_net = [], False, False
    for line in lines:
        s = line.strip()
        if s.startswith("["):
            in_net = not seen_net and s in ("[net]", "[network]")
            seen_net = seen_net or in_net
            out.append(line)
            if in_net:
                out += [f"batch={batch}", "subdivisions=1"]
            continue
        if in_net and re.match(r"(batch|subdivisions)\s*=", s):
            continue
        out.append(line)
    path = Path(tmp) / Path(cfg).name
    path.write_text("\n".join(out) + "\n")
    return path


def cfg_with_size(cfg, w, h, folder):
    """A copy of cfg in folder whose [net] is w x h, for networks Darknet cannot resize_network (a
    [connected], [local] or [dropout] before the first [avgpool]). A [crop] window is scaled as
    resize_crop_layer scales it: both sides times crop_height / the old height, truncated."""
    sections = [(s.strip(), re.match(r"(\w+)\s*=\s*(\S+)", s.strip())) for s in Path(cfg).read_text().splitlines()]
    crop = [float(m.group(2)) for s, m in sections if m and m.group(1) == "crop_height"]
    scale = np.float32(crop[0]) / np.float32(net_size(cfg)[1]) if crop else None
    out, section = [], None
    for line, match in sections:
        section = line if line.startswith("[") else section
        key = match.group(1) if match else None
        if section in ("[net]", "[network]") and key in ("width", "height"):
            line = f"{key}={w if key == 'width' else h}"
        elif section == "[crop]" and key in ("crop_width", "crop_height"):
            line = f"{key}={int(scale * np.float32(w if key == 'crop_width' else h))}"
        out.append(line)
    path = Path(folder) / f"{Path(cfg).stem}-{w}x{h}.cfg"
    path.write_text("\n".join(out) + "\n")
    return path


def _write_chw(path, im):
    im = np.ascontiguousarray(im, dtype=np.float32)
    with open(path, "wb") as f:
        np.array(im.shape, dtype=np.int32).tofile(f)
        im.tofile(f)


def _read_chw(path):
    with open(path, "rb") as f:
        c, h, w = np.fromfile(f, dtype=np.int32, count=3)
        return np.fromfile(f, dtype=np.float32).reshape(c, h, w)


def _source(src, tmp):
    """An image path (decoded by darknet) or a CHW float32 array (fed to darknet as is)."""
    if isinstance(src, np.ndarray):
        path = Path(tmp) / "src.chw"
        _write_chw(path, src)
        return f"raw:{path}"
    return f"img:{Path(src).resolve()}"


def net_size(cfg):
    """(channels, height, width) from the cfg's [net] section, with darknet's defaults of 0."""
    vals, in_net = {}, False
    for line in Path(cfg).read_text().splitlines():
        s = line.split("#", 1)[0].strip()
        if s.startswith("["):
            if in_net:
                break
            in_net = s in ("[net]", "[network]")
        elif in_net and "=" in s:
            k, v = (t.strip() for t in s.split("=", 1))
            vals[k] = v
    return tuple(int(vals.get(k, 0)) for k in ("channels", "height", "width"))


def random_input(cfg, batch=1, seed=0, size=None):
    """Seeded uniform [0, 1) float32 input of shape (batch, C, H, W) for cfg (size=(w, h) overrides)."""
    c, h, w = net_size(cfg)
    if size is not None:
        w, h = size
    return np.random.default_rng(seed).random((batch, c, h, w), dtype=np.float32)


def layer_outputs(cfg, weights, x, size=None):
    """Run darknet's network_predict on x (B, C, H, W) and return every layer's output.

    weights: path or None (darknet's random init). size=(w, h) calls resize_network first.
    Returns [(type_name, array (B, out_c, out_h, out_w)), ...] in layer order; type names are
    darknet's get_layer_string ("convolutional", "maxpool", "route", "reorg", "region", ...).
    Layers whose out_c/out_h/out_w darknet leaves unset (softmax, cost) come as (B, outputs, 1, 1).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    batch = x.shape[0]
    w, h = size or (0, 0)
    with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
        x.tofile(Path(tmp) / "x.bin")
        _run("layers", _cfg_with_batch(cfg, batch, tmp), _weights_arg(weights), batch, w, h,
             Path(tmp) / "x.bin", tmp)
        out = []
        meta = (Path(tmp) / "layers.txt").read_text().splitlines()
        for i, line in enumerate(meta):
            name, n, *chw = line.split()
            shape = [int(v) for v in chw]
            if np.prod(shape) != int(n):
                # darknet never sets out_c/out_h/out_w of softmax and cost layers (they stay 0).
                shape = [int(n), 1, 1]
            a = np.fromfile(Path(tmp) / f"{i:03d}.bin", dtype=np.float32)
            out.append((name, a.reshape(batch, *shape)))
        return out


def detections(cfg, weights, x, im_w=0, im_h=0, thresh=.5, hier=.5, nms=.45, nms_kind="sort",
               size=None):
    """Darknet's detections: network_predict, get_network_boxes(relative=1, map=0), then NMS.

    x: a network input (C, H, W) or (1, C, H, W) array, with the original image size im_w, im_h for
    the letterbox correction (0: the network size, i.e. no correction); or an image path, which darknet loads and letterboxes itself as
    `detector test` does (im_w, im_h are then the image's). nms_kind: "sort" (do_nms_sort),
    "obj" (do_nms_obj) or "none". Returns every detection in darknet's final array order as dicts:
    bbox (x, y, w, h), objectness, sort_class, prob (np.ndarray), classes ({index: prob} nonzero).
    thresh may be a tuple: one list per threshold, from one forward.
    """
    thresholds = tuple(thresh) if isinstance(thresh, (tuple, list)) else (thresh,)
    with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
        if isinstance(x, np.ndarray):
            src = Path(tmp) / "x.bin"
            np.ascontiguousarray(x, dtype=np.float32).tofile(src)
            src = f"tensor:{src}"
        else:
            src = _source(x, tmp)
        w, h = size or (0, 0)
        out = Path(tmp) / "dets.bin"
        _run("detect", _cfg_with_batch(cfg, 1, tmp), _weights_arg(weights), w, h, src,
             im_w, im_h, ",".join(repr(float(t)) for t in thresholds), hier, nms, nms_kind, out)
        lists = [_read_detections(Path(f"{out}.{k}")) for k in range(len(thresholds))]
    return lists if isinstance(thresh, (tuple, list)) else lists[0]


def _read_detections(path):
    with open(path, "rb") as f:
        n, classes = np.fromfile(f, dtype=np.int32, count=2)
        rows = np.fromfile(f, dtype=np.float32).reshape(n, 6 + classes)
    return [{"bbox": tuple(float(v) for v in r[:4]), "objectness": float(r[4]),
             "sort_class": int(r[5]), "prob": r[6:].copy(),
             "classes": {int(k): float(r[6 + k]) for k in np.flatnonzero(r[6:])}}
            for r in rows]


def _image(op, src, *args):
    with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
        out = Path(tmp) / "out.chw"
        # load_image_stb takes a bare path; the other ops take an img:/raw: source.
        arg = Path(src).resolve() if op == "stb" else _source(src, tmp)
        _run("image", op, arg, *args, out)
        return _read_chw(out)


def load_image(path):
    """load_image_color(path, 0, 0) as (3, H, W) float32. This build decodes with OpenCV (libopencv)."""
    return _image("load", path)


def load_image_stb(path):
    """load_image_stb(path, 3): darknet's decoder in builds without OpenCV, as (3, H, W) float32."""
    return _image("stb", path)


def resize(src, w, h):
    """Darknet's resize_image of an image path or a (C, H, W) float32 array."""
    return _image("resize", src, w, h)


def letterbox(src, w, h):
    """Darknet's letterbox_image of an image path or a (C, H, W) float32 array."""
    return _image("letterbox", src, w, h)


def save_weights(cfg, weights, out):
    """Load cfg + weights (None: random init) in darknet and save_weights them to out."""
    with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
        _run("save", _cfg_with_batch(cfg, 1, tmp), _weights_arg(weights), Path(out).resolve())


def classify(cfg, weights, image):
    """`classifier predict`'s probability vector: letterbox to the net size, predict, and apply
    hierarchy_predictions for tree nets. image: a path or a (C, H, W) array. Top-k is the caller's."""
    with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
        out = Path(tmp) / "p.bin"
        _run("classify", _cfg_with_batch(cfg, 1, tmp), _weights_arg(weights),
             _source(image, tmp), out)
        return np.fromfile(out, dtype=np.float32)


def place_image(src, w, h, dx, dy, canvas_w, canvas_h):
    """Darknet's place_image(im, w, h, dx, dy, canvas) onto a canvas filled with 0.5, as (3, H, W)."""
    return _image_op("augment", "place", src, w, h, dx, dy, canvas_w, canvas_h)


def distort_image(src, hue, sat, val):
    """Darknet's distort_image (HSV shift/scale, then clamp) of an image path or (3, H, W) array."""
    return _image_op("augment", "distort", src, repr(float(hue)), repr(float(sat)), repr(float(val)))


def _image_op(cmd, op, src, *args):
    with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
        out = Path(tmp) / "out.chw"
        _run(cmd, op, _source(src, tmp), *args, out)
        return _read_chw(out)


def detection_data(seed, paths, n, w, h, boxes=30, classes=80, jitter=.2, hue=.1, sat=1.5, exposure=1.5):
    """srand(seed) then data.c's load_data_detection over `paths` (single-threaded, so rand() order is
    darknet's). Returns X (n, 3, h, w) float32 and y (n, 5*boxes) float32 (x, y, w, h, class rows)."""
    return _augmented("detection", seed, paths, n, w, h, boxes, classes, jitter, hue, sat, exposure)


def region_data(seed, paths, n, w, h, side, classes=20, jitter=.2, hue=.1, sat=1.5, exposure=1.5):
    """srand(seed) then data.c's load_data_region (YOLOv1's) over `paths`. Returns X (n, 3, h, w) float32 and
    y (n, side*side*(5 + classes)) float32, the grid truth."""
    return _augmented("region", seed, paths, n, w, h, side, classes, jitter, hue, sat, exposure)


def _augmented(op, seed, paths, n, w, h, size, classes, jitter, hue, sat, exposure):
    """darknet_dump augment detection|region: (X, y) of n images, y one row per image."""
    with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
        listfile = Path(tmp) / "train.txt"
        listfile.write_text("".join(f"{Path(p).resolve()}\n" for p in paths))
        out = Path(tmp) / "data.bin"
        _run("augment", op, seed, listfile, n, w, h, size, classes, *(repr(float(v)) for v in
             (jitter, hue, sat, exposure)), out)
        a = np.fromfile(out, dtype=np.float32)
        split = n * 3 * h * w
        return a[:split].reshape(n, 3, h, w), a[split:].reshape(n, -1)


def classification_data(seed, paths, labels, n, classes, lo, hi, size, angle=0., aspect=1., hue=0., sat=1.,
                        exposure=1., center=0, tree=None):
    """srand(seed) then data.c's load_data_augment over `paths` with the label strings `labels` (and a
    .tree file). Returns X (n, 3, size, size) float32 and y (n, classes) float32."""
    with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
        listfile, labelfile = Path(tmp) / "train.txt", Path(tmp) / "labels.txt"
        listfile.write_text("".join(f"{p}\n" for p in paths))
        labelfile.write_text("".join(f"{label}\n" for label in labels))
        out = Path(tmp) / "data.bin"
        _run("augment", "classification", seed, listfile, labelfile, n, classes, lo, hi, size,
             *(repr(float(v)) for v in (angle, aspect, hue, sat, exposure)), center, tree or "-", out)
        a = np.fromfile(out, dtype=np.float32)
        split = n * 3 * size * size
        return a[:split].reshape(n, 3, size, size), a[split:].reshape(n, classes)


def validation_crop(src, size):
    """validate_classifier_single's input: resize_min(im, size) then the centre size x size crop_image."""
    return _image_op("augment", "validcrop", src, size)


def tree(path, rows=None, stride=1, thresh=.5):
    """tree.c over a .tree file: read_tree's arrays, and per row of `rows` ((R, n*stride) float32)
    hierarchy_top_prediction(thresh, stride), get_hierarchy_probability of every node and
    hierarchy_predictions with only_leaves 0 and 1. Returns a dict of numpy arrays."""
    with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
        src, out = Path(tmp) / "rows.bin", Path(tmp) / "tree.bin"
        x = np.zeros((0,), np.float32) if rows is None else np.ascontiguousarray(rows, np.float32)
        x.tofile(src)
        _run("tree", Path(path).resolve(), src, stride, repr(float(thresh)), out)
        with open(out, "rb") as f:
            n, groups = np.fromfile(f, dtype=np.int32, count=2)
            res = {k: np.fromfile(f, dtype=np.int32, count=n) for k in ("parent", "child", "group", "leaf")}
            res.update((k, np.fromfile(f, dtype=np.int32, count=groups)) for k in ("group_offset", "group_size"))
            r = x.size // (n * stride)
            res["top"] = np.fromfile(f, dtype=np.int32, count=r)
            res["probability"] = np.fromfile(f, dtype=np.float32, count=r * n).reshape(r, n)
            rest = np.fromfile(f, dtype=np.float32).reshape(2, r, n * stride)
        res["hier"], res["leaves"] = rest
        res["n"], res["groups"] = int(n), int(groups)
        return res


def train(cfg, weights, x, truth, seen, steps, weights_out):
    """Darknet's training step: load cfg (its own batch/subdivisions) + weights, set seen, input and truth,
    run train_network_datum `steps` times (0: one forward_network with net->train=1 only) and save the
    weights to weights_out. Returns (costs per step, [each layer's output], [each layer's delta or None]),
    flat float32 arrays of batch*outputs as left after the last step."""
    with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
        np.ascontiguousarray(x, dtype=np.float32).tofile(Path(tmp) / "x.bin")
        np.ascontiguousarray(truth, dtype=np.float32).tofile(Path(tmp) / "truth.bin")
        _run("train", Path(cfg).resolve(), _weights_arg(weights), Path(tmp) / "x.bin", Path(tmp) / "truth.bin",
             seen, steps, tmp)
        shutil.copy(Path(tmp) / "final.weights", weights_out)
        costs = np.fromfile(Path(tmp) / "cost.bin", dtype=np.float32)
        outputs, deltas = [], []
        for i in range(len(list(Path(tmp).glob("*.out.bin")))):
            outputs.append(np.fromfile(Path(tmp) / f"{i:03d}.out.bin", dtype=np.float32))
            delta = Path(tmp) / f"{i:03d}.delta.bin"
            deltas.append(np.fromfile(delta, dtype=np.float32) if delta.exists() else None)
        return costs, outputs, deltas


def trace(cfg, weights, x, truth, seen, steps, tmp):
    """oracle.train whose last step is dumped stage by stage (steps = 0: only the forward, with net->train = 1),
    for the per-layer training checks. Files stay in tmp.

    Returns a dict: "before.weights" and "final.weights" (paths: the weights that step starts from and those
    saved after it), "cost", and per layer i, as flat float32 arrays: "out"[i] and "fwd"[i] (output and delta
    after forward_network), "before"[i] and "after"[i] ({layer j: its delta} just before and after layer i's
    backward, for layer i itself (before only) and the layers it adds into), "delta"[i] (after the backward),
    "updates"[i] ({weight_updates|bias_updates|scale_updates: (before, after)} around the backward).
    """
    tmp = Path(tmp)
    np.ascontiguousarray(x, dtype=np.float32).tofile(tmp / "x.bin")
    np.ascontiguousarray(truth, dtype=np.float32).tofile(tmp / "truth.bin")
    _run("trace", Path(cfg).resolve(), _weights_arg(weights), tmp / "x.bin", tmp / "truth.bin", seen, steps, tmp)

    def read(name):
        return np.fromfile(tmp / name, dtype=np.float32) if (tmp / name).exists() else None

    def deltas(i, when):
        found = (re.fullmatch(rf"{i:03d}\.(\d{{3}})\.{when}\.bin", p.name) for p in tmp.glob(f"{i:03d}.*.{when}.bin"))
        return {int(m[1]): read(m[0]) for m in found if m}

    n = len(list(tmp.glob("*.out.bin")))
    return {"before.weights": tmp / "before.weights", "final.weights": tmp / "final.weights",
            "cost": read("cost.bin"),
            "out": [read(f"{i:03d}.out.bin") for i in range(n)],
            "fwd": [read(f"{i:03d}.fwd.bin") for i in range(n)],
            "before": [deltas(i, "before") for i in range(n)],
            "after": [deltas(i, "after") for i in range(n)],
            "delta": [read(f"{i:03d}.delta.bin") for i in range(n)],
            "updates": [{name: (read(f"{i:03d}.{name}.before.bin"), read(f"{i:03d}.{name}.after.bin"))
                         for name in ("weight_updates", "bias_updates", "scale_updates")
                         if (tmp / f"{i:03d}.{name}.before.bin").exists()} for i in range(n)]}
