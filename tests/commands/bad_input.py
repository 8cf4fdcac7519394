"""The bad-input corpus: hundreds of broken cfgs, weights, images, .data/names/labels/lists, videos and command
lines, generated from one small valid world (a tiny detector and classifier with their files), each with what its one
error line must say. test_bad_input.py runs them through darknet_py.cli.main; also the valid-but-odd inputs
(1x1, grayscale, 16-bit, RGBA and extreme-aspect images, CRLF cfgs, ...) that must work.

A case is built in its own folder by `make(world, folder)`, which writes the files it needs and returns the
command line; `expect` are regexes the error line must match ({folder} and the world's paths are filled in).
"""
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from darknet_py.network import Network
from darknet_py.weights import write_random_weights

DETECTOR = """[net]
batch=2
subdivisions=1
width=32
height=32
channels=3
learning_rate=0.001
momentum=0.9
decay=0.0005
max_batches=2
policy=constant

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=14
size=1
stride=1
activation=linear

[region]
anchors=1,1, 2,2
classes=2
coords=4
num=2
softmax=1
jitter=.2
"""

# YOLOv3's layers in small: a [yolo] head at two scales joined through [upsample] and [route]
YOLO = DETECTOR.split("[maxpool]")[0] + """[convolutional]
filters=21
size=1
stride=1
activation=linear

[yolo]
mask=3,4,5
anchors=1,1, 2,2, 3,3, 4,4, 5,5, 6,6
classes=2
num=6
jitter=.2

[route]
layers=-3

[upsample]
stride=2

[convolutional]
filters=21
size=1
stride=1
activation=linear

[yolo]
mask=0,1,2
anchors=1,1, 2,2, 3,3, 4,4, 5,5, 6,6
classes=2
num=6
"""

CLASSIFIER = """[net]
batch=2
subdivisions=1
width=16
height=16
channels=3
learning_rate=0.01
max_batches=1

[convolutional]
filters=3
size=3
stride=1
pad=1
activation=leaky

[avgpool]

[softmax]
"""

VIDEO_FRAMES = 6  # the world's MJPG clip, 64x48
SPACED = DETECTOR.replace("=", " \t= ")  # Darknet's strip() takes every blank out of a line
CLASSES = ["cat", "dog", "bird"]  # the classifier's labels, found in its image paths


@dataclass
class Case:
    kind: str          # cfg, weights, image, data, cli: the class of input that is broken
    name: str
    make: object       # make(world, folder) -> argv
    expect: tuple = ()  # regexes for the error line (ok cases: for stdout)
    ok: bool = False   # a valid-but-odd input: must succeed
    warns: int = 0     # warning lines allowed on stderr besides the error (an Unused field, a clipped box)
    status: int = 1

    @property
    def id(self):
        return f"{self.kind}-{self.name}"


@dataclass
class World:
    """The valid files every case starts from."""
    root: Path
    paths: dict = field(default_factory=dict)

    def __getattr__(self, name):
        try:
            return self.paths[name]
        except KeyError:
            raise AttributeError(name) from None


def image(path, w=64, h=48, seed=0, channels=3, depth=np.uint8):
    pixels = np.random.default_rng(seed).integers(0, np.iinfo(depth).max, (h, w, channels), dtype=depth)
    assert cv2.imwrite(str(path), pixels if channels > 1 else pixels[:, :, 0])
    return path


def encoded(path, ext, w, h):
    """An image encoded as `ext` whatever path's suffix, written with Python (any bytes in the name)."""
    path.write_bytes(cv2.imencode(ext, np.random.default_rng(1).integers(0, 255, (h, w, 3), dtype=np.uint8))[1])
    return path


def build_world(root):
    """The tiny detector (32x32, 2 classes) and classifier (16x16, 3 classes), their weights, .data files,
    names, labelled images and lists, in root."""
    root = Path(root)
    w = World(root)
    (root / "images").mkdir()
    (root / "labels").mkdir()
    (root / "backup").mkdir()
    (root / "results").mkdir()
    for key, text in (("cfg", DETECTOR), ("ccfg", CLASSIFIER)):
        path = root / f"{key}.cfg"
        path.write_text(text)
        net = Network.from_cfg(path)
        write_random_weights(net, root / f"{key}.weights", seed=1)
        net.seen = 0
        net.save_weights(root / f"{key}.weights")
        w.paths[key], w.paths[f"{key}_weights"] = path, root / f"{key}.weights"
    imgs = [image(root / "images" / f"img{i}.jpg", seed=i) for i in range(2)]
    (root / "labels" / "img0.txt").write_text("0 0.5 0.5 0.3 0.4\n1 0.2 0.3 0.1 0.2\n")
    (root / "labels" / "img1.txt").write_text("1 0.6 0.4 0.2 0.2\n")
    (root / "train.txt").write_text("".join(f"{p}\n" for p in imgs))
    (root / "names.txt").write_text("alpha\nbeta\n")
    (root / "det.data").write_text(f"classes=2\ntrain={root}/train.txt\nvalid={root}/train.txt\n"
                                   f"names={root}/names.txt\nbackup={root}/backup\nresults={root}/results\n")
    crops = [image(root / "images" / f"{c}_{i}.png", 20, 20, seed=10 + i) for c in CLASSES for i in range(2)]
    (root / "ctrain.txt").write_text("".join(f"{p}\n" for p in crops))
    (root / "classes.txt").write_text("".join(f"{c}\n" for c in CLASSES))
    (root / "cls.data").write_text(f"classes=3\ntrain={root}/ctrain.txt\nvalid={root}/ctrain.txt\n"
                                   f"labels={root}/classes.txt\nbackup={root}/backup\n")
    video = cv2.VideoWriter(str(root / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(VIDEO_FRAMES):
        video.write(cv2.imread(str(imgs[i % 2])))
    video.release()
    net = Network.from_cfg(w.cfg).load_weights(w.cfg_weights)
    net.seen = 100  # 50 batches of 2
    net.save_weights(root / "trained.weights")
    w.paths.update(image=imgs[0], image1=imgs[1], data=root / "det.data", cdata=root / "cls.data",
                   names=root / "names.txt", train=root / "train.txt", crop=crops[0], trained=root / "trained.weights",
                   video=root / "clip.avi")
    return w


# ----------------------------------------------------------------------------------------------------
# Building blocks.

def _or(value, default):
    return default if value is None else value


def detect(w, cfg=None, weights=None, image=None, data=None, extra=()):
    return ["detector", "test", str(_or(data, w.data)), str(_or(cfg, w.cfg)), str(_or(weights, w.cfg_weights)),
            str(_or(image, w.image)), "-nogpu", *map(str, extra)]


def demo(w, source=None, extra=()):
    """detector demo of the world's detector on its clip (or `source`; None with -c N in extra: a camera)."""
    return ["detector", "demo", str(w.data), str(w.cfg), str(w.cfg_weights), *([] if source is False else
            [str(_or(source, w.video))]), "-nogpu", "-dont_show", *map(str, extra)]


def tests(w, inputs, extra=()):
    """detector test of the world's detector over many inputs (paths, folders, globs; -list F in extra)."""
    return ["detector", "test", str(w.data), str(w.cfg), str(w.cfg_weights), *map(str, inputs), "-nogpu",
            *map(str, extra)]


def train(w, cfg=None, data=None, weights=None, extra=()):
    argv = ["detector", "train", str(_or(data, w.data)), str(_or(cfg, w.cfg))] + (
        [str(weights)] if weights is not None else [])
    return argv + ["-nogpu", "-max_batches", "1", *map(str, extra)]


def predict(w, cfg=None, weights=None, image=None, data=None, extra=()):
    return ["classifier", "predict", str(_or(data, w.cdata)), str(_or(cfg, w.ccfg)),
            str(_or(weights, w.ccfg_weights)), str(_or(image, w.crop)), "-nogpu", *map(str, extra)]


def valid(w, command="valid", data=None, weights=None):
    """detector valid (or map) of the world's detector."""
    return ["detector", command, str(_or(data, w.data)), str(w.cfg), str(_or(weights, w.cfg_weights)), "-nogpu"]


def partial(w, folder, count, weights=None, out=None):
    return ["partial", str(w.cfg), str(_or(weights, w.cfg_weights)), str(_or(out, folder / "o.weights")), count]


def ctrain(w, data, *extra):
    return ["classifier", "train", str(data), str(w.ccfg), "-nogpu", *extra]


def with_option(text, section, key, value):
    """The cfg text with `key=value` set in its `section`-th section (0: [net]); returns (text, its line number)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("[")]
    begin = starts[section]
    end = starts[section + 1] if section + 1 < len(starts) else len(lines)
    for i in range(begin + 1, end):
        if lines[i].split("=")[0] == key:
            lines[i] = f"{key}={value}"
            return "\n".join(lines) + "\n", i + 1
    lines.insert(begin + 1, f"{key}={value}")
    return "\n".join(lines) + "\n", begin + 2


def cfg_case(kind, name, section, key, value, expect, run=detect, base=DETECTOR, **options):
    """A cfg with one option changed; the error names the cfg and a line."""
    def make(w, folder):
        text, line = with_option(base, section, key, value)
        path = folder / "bad.cfg"
        path.write_text(text)
        return run(w, cfg=path)
    return Case(kind, name, make, (r"bad\.cfg:\d+: ",) + tuple(expect), **options)


def gray_net(folder, base):
    """A cfg of `base` with channels=1 and weights that fit it: (cfg, weights). Images are read as RGB."""
    cfg = folder / "gray.cfg"
    cfg.write_text(base.replace("channels=3", "channels=1"))
    write_random_weights(Network.from_cfg(cfg), folder / "gray.weights")
    return cfg, folder / "gray.weights"


def _written(path, text):
    path.write_text(text)
    return path


def _random_net(folder, text):
    """A cfg of `text` and random weights that fit it, as a command's cfg= and weights=."""
    cfg = _written(folder / "net.cfg", text)
    write_random_weights(Network.from_cfg(cfg), folder / "net.weights")
    return {"cfg": cfg, "weights": folder / "net.weights"}


def cfg_text_case(name, text, expect, run=detect, **options):
    def make(w, folder):
        path = folder / "bad.cfg"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return run(w, cfg=path)
    return Case("cfg", name, make, tuple(expect), **options)


def file_case(kind, name, writer, run, slot, expect, **options):
    """A broken file of the world: writer(w, folder) -> path, passed to run(w, **{slot: path})."""
    def make(w, folder):
        return run(w, **{slot: writer(w, folder)})
    return Case(kind, name, make, tuple(expect), **options)


def write(name, content):
    def writer(w, folder):
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path
    return writer


def fifo(name):
    def writer(w, folder):
        path = folder / name
        os.mkfifo(path)
        return path
    return writer


def folder_named(name):
    def writer(w, folder):
        (folder / name).mkdir()
        return folder / name
    return writer


def symlink_loop(w, folder):
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    return folder / "loop.jpg"


def dangling(w, folder):
    (folder / "gone.jpg").symlink_to(folder / "nothing-here.jpg")
    return folder / "gone.jpg"


def missing(name):
    return lambda w, folder: folder / name


# ----------------------------------------------------------------------------------------------------
# cfg

INT_BAD = [("abc", "must be an integer"), ("", "must be an integer"), ("1.5", "must be an integer"),
           ("inf", "must be an integer"), ("nan", "must be an integer"), ("0x10", "must be an integer"),
           ("99999999999999999999999", "must fit a C int"), ("-3000000000", "must fit a C int")]
FLOAT_BAD = [("abc", "must be a finite number"), ("nan", "must be a finite number"),
             ("inf", "must be a finite number"), ("-inf", "must be a finite number"), ("1e999", "must be a finite")]


def cfg_cases():
    cases = []
    int_keys = [(0, "width"), (0, "height"), (0, "channels"), (1, "filters"), (1, "size"), (1, "stride"),
                (1, "batch_normalize"), (2, "size"), (2, "stride"), (4, "classes"), (4, "num")]
    for section, key in int_keys:
        for value, message in INT_BAD:
            cases.append(cfg_case("cfg", f"{key}{section}={value or 'empty'}", section, key, value, [message]))
    for section, key in [(0, "learning_rate"), (0, "momentum"), (4, "jitter"), (4, "thresh"), (4, "object_scale")]:
        for value, message in FLOAT_BAD:
            cases.append(cfg_case("cfg", f"{key}={value}", section, key, value, [message]))
    for section, key, value, message in [
            (0, "width", "0", "positive width"), (0, "height", "-2", "positive width"),
            (0, "channels", "0", "positive"),
            (1, "filters", "0", "must be positive"), (1, "size", "-1", "must be positive"),
            (1, "stride", "0", "must be positive"), (1, "groups", "3", "groups=3 must divide"),
            (1, "filters", "2000000000", r"GiB .*more than this machine"),
            (0, "width", "2000000000", r"GiB, more than this machine"), (0, "height", "1000000000", r"GiB, more than"),
            (1, "activation", "wiggle", "activation"),
            (3, "filters", "15", r"\[region\] needs 2 anchors"), (4, "anchors", "1,2,3", "anchor values"),
            (4, "num", "0", "needs num >= 1"), (4, "classes", "-1", "needs num >= 1"),
            (4, "coords", "2", "coords >= 4"),
            (4, "jitter", "1.5", r"jitter must be in \[0, 1\)"), (4, "jitter", "-1", "jitter must be in"),
            (2, "size", "0", "maxpool"),
            (4, "tree", "nowhere.tree", "tree file 'nowhere.tree' not found")]:
        cases.append(cfg_case("cfg", f"{key}{section}={value}", section, key, value, [message]))
    for section, key, value, message in [
            (3, "mask", "3,4,9", r"mask \[3, 4, 9\] names anchors outside the num=6"),
            (3, "mask", "a,b", "must be a list of integers"), (3, "anchors", "1,1, 2,2", r"4 anchor values for num=6"),
            (3, "classes", "3", r"\[yolo\] needs 3 anchors x \(coords\+1\+classes\) = 24 input channels"),
            (3, "max", "0", r"max must be in \[1, 90\]"), (4, "layers", "-9", "out of range"),
            (5, "stride", "0", "upsample stride must not be 0"),
            (5, "stride", "-3", "downsample needs a map divisible")]:
        cases.append(cfg_case("cfg", f"yolo-{key}{section}={value}", section, key, value, [message], base=YOLO))
    cases += [Case("cfg", "ok-yolo-detect", lambda w, f: detect(w, **_random_net(f, YOLO)), (r"Predicted in",),
                   ok=True),
              Case("cfg", "ok-yolo-train", lambda w, f: train(w, **_random_net(f, YOLO), extra=["-clear"]),
                   (r"1: \d+\.\d+, ",), ok=True)]
    for key in ("xnor", "binary"):  # XNOR-net's convolutions run (layers/convolutional.py)
        cases.append(Case("cfg", f"ok-{key}=1", lambda w, f, k=key: detect(
            w, cfg=_written(f / "odd.cfg", with_option(DETECTOR, 1, k, "1")[0])), (r"Predicted in",), ok=True))
    long_value = "7" * 2_000_000
    cases += [
        cfg_case("cfg", "2MB-value", 1, "filters", long_value,
                 [r"must fit a C int .*, got '7{100}\.\.\. \(2000000 characters\)'$"]),
        cfg_text_case("2MB-line", DETECTOR + "x" * 2_000_000 + "\n",
                      [r"bad\.cfg:\d+: expected 'key=value'.*\(2000000 characters\)'$"]),
        cfg_text_case("empty", "", [r"bad\.cfg: no sections"]),
        cfg_text_case("comments-only", "# nothing\n; here\n", [r"bad\.cfg: no sections"]),
        cfg_text_case("no-net", DETECTOR.replace("[net]", "[convolutional]", 1),
                      [r"bad\.cfg:1: first section must be"]),
        cfg_text_case("option-first", "width=3\n" + DETECTOR, [r"bad\.cfg:1: option before the first"]),
        cfg_text_case("header-unclosed", DETECTOR.replace("[maxpool]", "[maxpool"),
                      [r"bad\.cfg:\d+: malformed section"]),
        cfg_text_case("unknown-section", DETECTOR.replace("[maxpool]", "[maxpoool]"),
                      [r"bad\.cfg:\d+: unknown section \[maxpoool\]"]),
        cfg_text_case("lstm", DETECTOR.replace("[maxpool]", "[lstm]"),
                      [r"bad\.cfg:\d+: layer type \[lstm\] is not supported"]),
        cfg_text_case("gru", DETECTOR.replace("[maxpool]", "[gru]"), [r"layer type \[gru\] is not supported"]),
        cfg_text_case("no-equals", DETECTOR.replace("stride=2\npad=1", "stride2\npad=1"),
                      [r"bad\.cfg:\d+: expected 'key=value'"]),
        cfg_text_case("empty-key", DETECTOR.replace("pad=1", "=1"), [r"bad\.cfg:\d+: expected 'key=value'"]),
        cfg_text_case("only-net", "[net]\nwidth=32\nheight=32\nchannels=3\n",
                      [r"bad\.cfg:1: the network has no layers"]),
        cfg_text_case("route-out-of-range", DETECTOR.replace("[maxpool]", "[route]\nlayers=-5\n\n[maxpool]"),
                      [r"bad\.cfg:\d+: route layer -5 is out of range"]),
        cfg_text_case("route-no-layers", DETECTOR.replace("[maxpool]", "[route]\n\n[maxpool]"),
                      [r"\[route\] needs layers="]),
        cfg_text_case("route-sizes", DETECTOR.replace("[convolutional]\nfilters=14", "[route]\nlayers=-1,-2\n\n"
                                                      "[convolutional]\nfilters=14"), [r"route cannot join"]),
        cfg_text_case("shortcut-no-from", DETECTOR.replace("[maxpool]", "[shortcut]\n\n[maxpool]"),
                      [r"\[shortcut\] needs from="]),
        cfg_text_case("shortcut-range", DETECTOR.replace("[maxpool]", "[shortcut]\nfrom=-9\n\n[maxpool]"),
                      [r"out of range"]),
        cfg_text_case("reorg-stride", DETECTOR.replace("[maxpool]\nsize=2\nstride=2", "[reorg]\nstride=3"), [r"reorg"]),
        cfg_text_case("binary-garbage", bytes(np.random.default_rng(5).integers(0, 256, 4000, dtype=np.uint8)),
                      [r"bad\.cfg:\d+: "]),
        cfg_text_case("not-utf8", DETECTOR.replace("leaky", "le\udcffky").encode("utf-8", "surrogateescape"),
                      [r"bad\.cfg:\d+: .*activation"]),
        cfg_text_case("typo-filtres", DETECTOR.replace("filters=14", "filtres=14"),
                      [r"\[region\] needs 2 anchors x \(coords\+1\+classes\) = 14 input channels, "
                       r"the layer before gives 1"],
                      warns=1),
        Case("cfg", "fifo", lambda w, f: detect(w, cfg=fifo("x.cfg")(w, f)),
             (r"x\.cfg: cannot read: is not a regular",)),
        Case("cfg", "folder", lambda w, f: detect(w, cfg=folder_named("c.cfg")(w, f)),
             (r"c\.cfg: cannot read: is a folder",)),
        Case("cfg", "missing", lambda w, f: detect(w, cfg=f / "none.cfg"), (r"none\.cfg: cannot read: No such file",)),
    ]
    for key, value, message in [
            ("batch", "0", "batch must be at least 1 to train"), ("batch", "-2", "batch must be at least 1"),
            ("subdivisions", "0", "subdivisions must be between 1 and batch=2"),
            ("subdivisions", "4", "subdivisions must be between 1 and batch=2"),
            ("learning_rate", "nan", "must be a finite number"), ("momentum", "inf", "must be a finite number"),
            ("decay", "-inf", "must be a finite number"), ("policy", "steps", "policy=steps needs steps="),
            ("burn_in", "abc", "must be an integer")]:
        cases.append(cfg_case("cfg", f"train-{key}={value}", 0, key, value, [message], run=train))
    for run, base in ((detect, DETECTOR), (predict, CLASSIFIER)):
        cases.append(Case("cfg", f"channels=1-rgb-{run.__name__}", lambda w, f, r=run, b=base: r(w, *gray_net(f, b)),
                          (r"gray\.cfg:6: the network takes 1x\d+x\d+ inputs \(channels x height x width\), got 3x",)))
    cases.append(cfg_case("cfg", "train-step0", 0, "policy", "step\nstep=0", ["policy=step needs step="], run=train))
    cases.append(cfg_case("cfg", "train-max_batches0", 0, "max_batches", "0", ["max_batches must be at least 1"],
                          run=lambda w, cfg: train(w, cfg=cfg)[:-2]))  # no -max_batches on this command line
    cases.append(cfg_case("cfg", "classifier-batch0", 0, "batch", "0", ["batch must be at least 1"], base=CLASSIFIER,
                          run=lambda w, cfg: ["classifier", "train", str(w.cdata), str(cfg), "-nogpu"]))
    return cases


# ----------------------------------------------------------------------------------------------------
# weights

def weights_of(w, folder, edit, name="bad.weights"):
    """The world's detector weights as bytes, edited by edit(bytes) -> bytes."""
    path = folder / name
    path.write_bytes(edit(w.cfg_weights.read_bytes()))
    return path


def poisoned(layer, name, value, index=0):
    """The world's detector weights with one value of one array set to value (NaN, inf)."""
    def writer(w, folder):
        net = Network.from_cfg(w.cfg).load_weights(w.cfg_weights)
        getattr(net.layers[layer], name).reshape(-1)[index] = value
        net.save_weights(folder / "bad.weights")
        return folder / "bad.weights"
    return writer


def weights_cases():
    size = 20 + 4 * (8 + 8 * 3 + 8 * 3 * 9 + 14 + 14 * 8)  # header + conv (biases, bn, weights) + conv
    expected = rf"expected {size} bytes"
    edits = {
        "truncated-1-float": (lambda b: b[:-4], [expected, f"got {size - 4}"]),
        "truncated-half": (lambda b: b[:len(b) // 2], [expected, f"got {size // 2}"]),
        "one-float-more": (lambda b: b + b"\0\0\0\0", [expected, f"got {size + 4}", "4 bytes off"]),
        "much-longer": (lambda b: b + b"\0" * 1000, [expected, f"got {size + 1000}"]),
        "empty": (lambda b: b"", ["0 bytes is too short for a Darknet weights header"]),
        "5-bytes": (lambda b: b[:5], ["5 bytes is too short"]),
        "header-only": (lambda b: b[:20], [expected, "got 20: the header alone"]),
        "short-seen": (lambda b: b[:14], ["truncated header"]),
        "old-header-4-byte-seen": (lambda b: np.array([0, 1, 0], "<i4").tobytes() + b[12:],
                                   [rf"expected {size - 4} bytes", f"got {size}", "4 bytes off"]),
        "negative-seen": (lambda b: np.array([0, 1, 0, -5], "<i4").tobytes() + b[20:],
                          [r"image count \(seen\) is -5"]),
        "random-bytes": (lambda b: bytes(np.random.default_rng(3).integers(0, 256, len(b), dtype=np.uint8)),
                         ["bytes|seen"]),
    }
    cases = [Case("weights", name, lambda w, f, e=edit: detect(w, weights=weights_of(w, f, e)),
                  (r"bad\.weights: ",) + tuple(msg)) for name, (edit, msg) in edits.items()]
    cases += [
        Case("weights", "missing", lambda w, f: detect(w, weights=f / "none.weights"),
             (r"none\.weights: cannot read weights: No such",)),
        Case("weights", "empty-path", lambda w, f: detect(w, weights=""), (r"the weights path is empty",)),
        Case("weights", "folder", lambda w, f: detect(w, weights=folder_named("w")(w, f)),
             (r"w: cannot read weights: is a folder",)),
        Case("weights", "fifo", lambda w, f: detect(w, weights=fifo("f.weights")(w, f)),
             (r"f\.weights: cannot read weights: is not a regular",)),
        Case("weights", "dev-null", lambda w, f: detect(w, weights="/dev/null"),
             (r"/dev/null: cannot read weights: is not a regular",)),
        Case("weights", "other-cfg", lambda w, f: detect(w, weights=w.ccfg_weights),
             (r"ccfg\.weights: expected \d+ bytes",)),
        Case("weights", "header-only-train", lambda w, f: train(w, weights=weights_of(w, f, lambda b: b[:20])),
             (r"bad\.weights: expected .* got 20: the header alone",)),
    ]
    for where, layer, name, index in [("first", 0, "weights", 0), ("bn", 0, "rolling_variance", 3),
                                      ("last", 2, "biases", 13)]:
        for value in (np.nan, np.inf, -np.inf):
            writer = poisoned(layer, name, value, index)
            msg = (r"bad\.weights: 1 NaN or infinite values, the first 1 in layer %d" % layer,)
            cases.append(Case("weights", f"{where}-{value}", lambda w, f, wr=writer: detect(w, weights=wr(w, f)), msg))
    nan = poisoned(0, "weights", np.nan)
    cases += [
        Case("weights", "nan-train", lambda w, f: train(w, weights=nan(w, f)), (r"bad\.weights: 1 NaN or infinite",)),
        Case("weights", "nan-valid", lambda w, f: valid(w, weights=nan(w, f)), (r"bad\.weights: 1 NaN or infinite",)),
        Case("weights", "nan-classifier", lambda w, f: predict(w, weights=_poisoned_classifier(w, f)),
             (r"bad\.weights: 1 NaN or infinite values, the first 1 in layer 0",)),
        Case("weights", "partial-minus-1", lambda w, f: partial(w, f, "-1"),
             (r"partial: layer count must be at least 1, got -1",)),
        Case("weights", "partial-0", lambda w, f: partial(w, f, "0"), (r"at least 1, got 0",)),
        Case("weights", "partial-abc", lambda w, f: partial(w, f, "x"), (r"layer count must be an integer, got 'x'",)),
        Case("weights", "partial-out-missing-folder", lambda w, f: partial(w, f, "1", out=f / "no" / "o.weights"),
             (r"o\.weights: the folder .*no does not exist",)),
        Case("weights", "partial-truncated", lambda w, f: partial(w, f, "2", weights_of(w, f, lambda b: b[:30])),
             (r"bad\.weights: expected",)),
    ]
    return cases


def _poisoned_classifier(w, folder):
    net = Network.from_cfg(w.ccfg).load_weights(w.ccfg_weights)
    net.layers[0].weights.reshape(-1)[5] = np.nan
    net.save_weights(folder / "bad.weights")
    return folder / "bad.weights"


# ----------------------------------------------------------------------------------------------------
# images

def png_claiming(width, height):
    """A PNG whose header claims width x height (and whose data is far too short)."""
    def chunk(kind, data):
        return (len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big"))
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
            + chunk(b"IEND", b""))


def image_cases():
    jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 100, np.uint8))[1].tobytes()
    png = cv2.imencode(".png", np.full((48, 64, 3), 100, np.uint8))[1].tobytes()
    bad = {
        "missing": (missing("none.jpg"), [r"cannot read image .*none\.jpg: No such file"]),
        "folder": (folder_named("d.jpg"), [r"cannot read image .*d\.jpg: is a folder"]),
        "fifo": (fifo("p.jpg"), [r"cannot read image .*p\.jpg: is not a regular file"]),
        "empty": (write("e.jpg", b""), [r"cannot read image .*e\.jpg: not an image"]),
        "text": (write("t.png", "hello\n"), [r"t\.png: not an image"]),
        "random": (write("r.jpg", bytes(range(256)) * 10), [r"r\.jpg: not an image"]),
        "jpeg-header-only": (write("h.jpg", jpeg[:100]), [r"h\.jpg"]),
        "png-header-only": (write("h.png", png[:30]), [r"h\.png: not an image"]),
        "png-claims-100000x100000": (write("huge.png", png_claiming(100000, 100000)), [r"huge\.png"]),
        "png-claims-1x100000000": (write("tall.png", png_claiming(1, 100000000)), [r"tall\.png"]),
        "png-bad-crc": (write("crc.png", png[:-5] + b"xxxxx"), [r"crc\.png"]),
        "png-claims-0x0": (write("zero.png", png_claiming(0, 0)), [r"zero\.png: not an image"]),
        "symlink-loop": (symlink_loop, [r"loop\.jpg: Too many levels of symbolic links"]),
        "dangling-symlink": (dangling, [r"gone\.jpg: No such file"]),
        "empty-path": (lambda w, f: "", [r"cannot read image : No such file"]),
        "tiff-garbage": (write("t.tif", b"II*\0" + bytes(100)), [r"t\.tif: not an image"]),
    }
    cases = []
    for name, (writer, expect) in bad.items():
        if name == "folder":  # a folder is detector test's input (its images): this one holds none
            cases.append(file_case("image", "detect-folder", writer, detect, "image", [r"d\.jpg: no images in this"]))
        else:
            cases.append(file_case("image", f"detect-{name}", writer, detect, "image", expect))
        cases.append(file_case("image", f"predict-{name}", writer, predict, "image", expect))
    cases.append(Case("image", "later-image-fails",
                      lambda w, f: detect(w, extra=[f / "none.jpg", "-json", f / "r.json"]),
                      (r"1 of 2 images could not be read \(the first: .*none\.jpg: No such file",),
                      warns=2))  # its '(skipped)' line as it happens, the 'N images in S s' line
    cases.append(Case("image", "train-list-names-missing-image",
                      lambda w, f: train(w, data=_data(w, f, train=_list(f, [f / "none.jpg"]))),
                                         (r"none\.jpg: No such",)))
    return cases


def odd_image_cases():
    """Images that must work: tiny, gray, 16-bit, with alpha, extreme shapes, a JPEG cut short (a warning)."""
    odd = {
        "1x1-png": lambda p: image(p.with_suffix(".png"), 1, 1),
        "1x1-jpg": lambda p: image(p.with_suffix(".jpg"), 1, 1),
        "gray-png": lambda p: image(p.with_suffix(".png"), 40, 30, channels=1),
        "gray-jpg": lambda p: image(p.with_suffix(".jpg"), 40, 30, channels=1),
        "16bit-png": lambda p: image(p.with_suffix(".png"), 40, 30, depth=np.uint16),
        "16bit-gray-png": lambda p: image(p.with_suffix(".png"), 40, 30, channels=1, depth=np.uint16),
        "rgba-png": lambda p: image(p.with_suffix(".png"), 40, 30, channels=4),
        "4000x10": lambda p: image(p.with_suffix(".png"), 4000, 10),
        "10x4000": lambda p: image(p.with_suffix(".png"), 10, 4000),
        "1000x3": lambda p: image(p.with_suffix(".png"), 1000, 3),
        "3x1000": lambda p: image(p.with_suffix(".png"), 3, 1000),
        "4000x3": lambda p: image(p.with_suffix(".png"), 4000, 3),
        "bmp": lambda p: image(p.with_suffix(".bmp"), 30, 20),
        "jpg-named-png": lambda p: encoded(p.with_suffix(".png"), ".jpg", 30, 20),
    }
    cases = []
    for name, writer in odd.items():
        for run in (detect, predict):
            def make(w, folder, writer=writer, run=run):
                return run(w, image=writer(folder / "odd"))
            cases.append(Case("image", f"ok-{run.__name__}-{name}", make, (r"Predicted in|%",), ok=True))

    def truncated(w, folder):
        data = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))[1]
        path = folder / "cut.jpg"
        path.write_bytes(data.tobytes()[:len(data) * 2 // 3])
        return path
    cases.append(Case("image", "ok-truncated-jpeg", lambda w, f: detect(w, image=truncated(w, f)), (r"Predicted in",),
                      ok=True, warns=1))  # ours, naming the file, with libjpeg's words in it
    return cases


# ----------------------------------------------------------------------------------------------------
# .data, names, labels, lists

def _data(w, folder, **options):
    """The world's detector .data with options replaced (None: removed)."""
    base = {"classes": "2", "train": w.train, "valid": w.train, "names": w.names, "backup": w.root / "backup",
            "results": w.root / "results"}
    base.update(options)
    path = folder / "bad.data"
    path.write_text("".join(f"{k}={v}\n" for k, v in base.items() if v is not None))
    return path


def _list(folder, paths, name="list.txt"):
    path = folder / name
    path.write_bytes(b"".join(os.fsencode(p) + b"\n" for p in paths))
    return path


def _labelled(folder, label_text, name="img"):
    """An image in folder/images with its label file folder/labels/<name>.txt holding label_text (bytes or str)."""
    (folder / "images").mkdir(exist_ok=True)
    (folder / "labels").mkdir(exist_ok=True)
    img = image(folder / "images" / f"{name}.jpg", seed=3)
    label = label_text if isinstance(label_text, bytes) else label_text.encode()
    (folder / "labels" / f"{name}.txt").write_bytes(label)
    return img


def labelled(folder, label_text):
    """A list of one image whose label file holds label_text."""
    return _list(folder, [_labelled(folder, label_text)])


def data_cases():
    cases = []
    for key, value, message in [("classes", "abc", r"bad\.data:1: classes must be an integer, got 'abc'"),
                                ("classes", "0", r"bad\.data:1: classes must be at least 1, got 0"),
                                ("classes", "-1",
                                 r"classes must be at least 1"), ("classes", "2.5", "must be an integer"),
                                ("classes", "nan", "must be an integer"), ("top", "x", r"bad\.data:\d+: top must be")]:
        for run in (detect, train):
            cases.append(Case("data", f"{run.__name__}-{key}={value}", lambda w, f, k=key, v=value, r=run:
                              r(w, data=_data(w, f, **{k: v})), (message,)))
    cases.append(Case("data", "predict-top=0", lambda w, f: predict(w, data=_cdata(w, f, top="0")),
                      (r"top must be at least 1",)))
    cases += [
        Case("data", "missing", lambda w, f: detect(w, data=f / "none.data"), (r"none\.data: cannot read: No such",)),
        Case("data", "folder", lambda w, f: detect(w, data=folder_named("d.data")(w, f)),
             (r"d\.data: cannot read: is a folder",)),
        Case("data", "fifo", lambda w, f: detect(w, data=fifo("p.data")(w, f)),
             (r"p\.data: cannot read: is not a regular",)),
        Case("data", "no-equals", lambda w, f: detect(w, data=write("x.data", "classes=2\nnames\n")(w, f)),
             (r"x\.data:2: expected 'key=value'",)),
        Case("data", "names-missing", lambda w, f: detect(w, data=_data(w, f, names=f / "none.names")),
             (r"none\.names: cannot open names: No such",)),
        Case("data", "names-fifo", lambda w, f: detect(w, data=_data(w, f, names=fifo("n.names")(w, f))),
             (r"is not a regular",)),
        Case("data", "names-too-few", lambda w, f: detect(w, data=_data(w, f, names=write("one", "alpha\n")(w, f))),
             (r"one: 1 names, but the network has 2 classes",)),
        Case("data", "names-empty", lambda w, f: detect(w, data=_data(w, f, names=write("e.names", "")(w, f))),
             (r"e\.names: 0 names, but the network has 2 classes",)),
        Case("data", "train-list-missing", lambda w, f: train(w, data=_data(w, f, train=f / "none.txt")),
             (r"none\.txt: cannot open image list: No such",)),
        Case("data", "train-list-empty", lambda w, f: train(w, data=_data(w, f, train=write("e.txt", "\n\n")(w, f))),
             (r"e\.txt: image list is empty",)),
        Case("data", "train-list-fifo", lambda w, f: train(w, data=_data(w, f, train=fifo("l.txt")(w, f))),
             (r"not a regular",)),
        Case("data", "valid-list-missing", lambda w, f: valid(w, data=_data(w, f, valid=f / "v.txt")),
             (r"v\.txt: cannot open",)),
        Case("data", "backup-is-a-file", lambda w, f: train(w, data=_data(w, f, backup=write("b", "x")(w, f))),
             (r"bad\.data:5: backup=.*b is a file, not a folder",)),
        Case("data", "backup-under-a-file", lambda w, f: train(w, data=_data(w, f, backup=write("b", "x")(w, f) / "s")),
             (r"bad\.data:5: backup=.*cannot be created",)),
        Case("data", "results-is-a-file", lambda w, f: valid(w, data=_data(w, f, results=write("r", "x")(w, f))),
             (r"bad\.data:6: results=.*r is a file, not a folder",)),
        Case("data", "classifier-labels-missing", lambda w, f: ctrain(w, _cdata(w, f, labels=f / "no.txt")),
             (r"no\.txt: cannot open names",)),
        Case("data", "classifier-classes=abc", lambda w, f: ctrain(w, _cdata(w, f, classes="abc")),
             (r"classes must be an integer",)),
    ]
    labels = {
        "4-fields": ("0 0.5 0.5 0.2\n", r"img\.txt:1: expected 'class x y w h', got '0 0\.5 0\.5 0\.2'"),
        "6-fields": ("0 0.5 0.5 0.2 0.2 9\n", r"img\.txt:1: expected 'class x y w h'"),
        "word": ("0 0.5 oops 0.2 0.1\n", r"img\.txt:1: expected"),
        "class-float": ("1.5 0.5 0.5 0.2 0.1\n", r"img\.txt:1: expected"),
        "class-range": ("0 .5 .5 .2 .1\n7 0.5 0.5 0.2 0.1\n", r"img\.txt:2: class 7 outside \[0, 2\)"),
        "class-negative": ("-1 0.5 0.5 0.2 0.1\n", r"img\.txt:1: class -1 outside"),
        "w-inf": ("0 0.5 0.5 inf 0.1\n", r"img\.txt:1: box coordinates must be finite numbers"),
        "h-nan": ("0 0.5 0.5 0.2 nan\n", r"img\.txt:1: box coordinates must be finite"),
        "x-nan": ("0 nan 0.5 0.2 0.1\n", r"img\.txt:1: box coordinates must be finite"),
        "not-utf8": (b"0 0.5 0.5 0.2 0.1\n\xff\xfe 1 2 3\n",
                     r"img\.txt:2: expected 'class x y w h', got '\ufffd\ufffd 1 2 3'"),
        "binary": (bytes(range(256)), r"img\.txt:\d+: expected"),
    }
    for name, (text, message) in labels.items():
        cases.append(Case("data", f"label-{name}",
                          lambda w, f, t=text: train(w, data=_data(w, f, train=labelled(f, t))), (message,)))
        if name in ("4-fields", "class-range", "w-inf"):
            cases.append(Case("data", f"map-label-{name}", lambda w, f, t=text: valid(
                w, "map", data=_data(w, f, valid=labelled(f, t))), (message,)))
    cases.append(Case("data", "label-missing",
                      lambda w, f: train(w, data=_data(w, f, train=_list(f, [_unlabelled(f)]))),
                      (r"labels/u\.txt: cannot open label file: No such",)))
    cases.append(Case("data", "anchors-label-w-inf", lambda w, f: [
        "detector", "calc_anchors", str(_data(w, f, train=labelled(f, "0 0.5 0.5 inf 0.1\n"))),
        "-num_of_clusters", "1"],
        (r"img\.txt:1: box coordinates must be finite",)))
    return cases


def _unlabelled(folder):
    (folder / "images").mkdir(exist_ok=True)
    return image(folder / "images" / "u.jpg", seed=4)


def _cdata(w, folder, **options):
    base = {"classes": "3", "train": w.root / "ctrain.txt", "valid": w.root / "ctrain.txt",
            "labels": w.root / "classes.txt", "backup": w.root / "backup"}
    base.update(options)
    path = folder / "bad.data"
    path.write_text("".join(f"{k}={v}\n" for k, v in base.items() if v is not None))
    return path


def odd_data_cases():
    """Valid but unusual: boxes outside the image (a warning naming the file, then training as Darknet), names,
    labels and lists that are not UTF-8, a list of paths with non-UTF-8 bytes, CRLF files."""
    def outside(w, folder):
        return train(w, data=_data(w, folder, train=labelled(folder, "0 1.4 0.5 0.3 -0.2\n1 .5 .5 .2 .2\n")))

    def latin1_path(w, folder):
        (folder / "images").mkdir()
        (folder / "labels").mkdir()
        name = os.fsdecode(b"caf\xe9")
        img = encoded(folder / "images" / f"{name}.jpg", ".jpg", 40, 30)
        (folder / "labels" / f"{name}.txt").write_text("0 .5 .5 .2 .2\n")
        return train(w, data=_data(w, folder, train=_list(folder, [img])))

    def crlf(w, folder):
        cfg = folder / "crlf.cfg"
        cfg.write_bytes(DETECTOR.replace("\n", "\r\n").encode())
        data = folder / "crlf.data"
        data.write_bytes(w.data.read_bytes().replace(b"\n", b"\r\n"))
        names = folder / "crlf.names"
        names.write_bytes(b"alpha\r\nbeta\r\n")
        data.write_bytes(data.read_bytes().replace(bytes(str(w.names), "utf8"), bytes(str(names), "utf8")))
        return detect(w, cfg=cfg, data=data)

    def crlf_labels(w, folder):
        return train(w, data=_data(w, folder, train=labelled(folder, "0 .5 .5 .2 .2\r\n1 .3 .3 .1 .1\r\n")))

    def latin1_names(w, folder):
        return detect(w, data=_data(w, folder, names=write("n.names", b"caf\xe9\nb\xeata\n")(w, folder)))

    return [Case("data", "ok-box-outside", outside, (r"Saved .*_final\.weights",), ok=True, warns=1),
            Case("data", "ok-latin1-path", latin1_path, (r"Saved",), ok=True),
            Case("data", "ok-crlf", crlf, (r"Predicted in",), ok=True),
            Case("data", "ok-crlf-labels", crlf_labels, (r"Saved",), ok=True),
            Case("data", "ok-latin1-names", latin1_names, (r"Predicted in",), ok=True),
            Case("data", "ok-tabs-and-spaces-cfg", lambda w, f: detect(w, cfg=write("t.cfg", SPACED)(w, f)),
                 (r"Predicted in",), ok=True)]


# ----------------------------------------------------------------------------------------------------
# command line

def cli_cases():
    cases = []
    for flag in ("-thresh", "-hier", "-nms"):
        for value in ("2", "-1", "nan", "inf", "1.0001"):
            cases.append(Case("cli", f"detect{flag}={value}", lambda w, f, fl=flag, v=value: detect(w, extra=[fl, v]),
                              (rf"flag {flag} must be between 0 and 1, got {re.escape(value)}",)))
        cases.append(Case("cli", f"detect{flag}=abc", lambda w, f, fl=flag: detect(w, extra=[fl, "abc"]),
                          (rf"flag {flag} expects a number, got 'abc'",)))
        cases.append(Case("cli", f"detect{flag}-no-value", lambda w, f, fl=flag: detect(w)[:-1] + [fl],
                          (rf"flag {flag} needs a value",)))
    valid = lambda w, extra: ["detector", "valid", str(w.data), str(w.cfg), str(w.cfg_weights), "-nogpu", *extra]
    mean_ap = lambda w, extra: ["detector", "map", str(w.data), str(w.cfg), str(w.cfg_weights), "-nogpu", *extra]
    anchors = lambda w, extra: ["detector", "calc_anchors", str(w.data), *extra]

    table = [
        ("map-iou=2", mean_ap, ["-iou", "2"], r"flag -iou must be between 0 and 1, got 2"),
        ("map-iou=-0.5", mean_ap, ["-iou", "-0.5"], r"flag -iou must be between 0 and 1"),
        ("map-batch=0", mean_ap, ["-batch", "0"], r"flag -batch must be at least 1, got 0"),
        ("valid-batch=-3", valid, ["-batch", "-3"], r"flag -batch must be at least 1"),
        ("valid-batch=x", valid, ["-batch", "x"], r"flag -batch expects an integer, got 'x'"),
        ("predict-t=-5", lambda w, e: predict(w, extra=e), ["-t", "-5"], r"flag -t must be at least 1, got -5"),
        ("predict-t=0", lambda w, e: predict(w, extra=e), ["-t", "0"], r"flag -t must be at least 1, got 0"),
        ("predict-t=1.5", lambda w, e: predict(w, extra=e), ["-t", "1.5"], r"flag -t expects an integer"),
        ("predict-hier=3", lambda w, e: predict(w, extra=e), ["-hier", "3"], r"flag -hier must be between 0 and 1"),
        ("anchors-width=0", anchors, ["-width", "0"], r"flag -width must be at least 1, got 0"),
        ("anchors-height=-3", anchors, ["-height", "-3"], r"flag -height must be at least 1, got -3"),
        ("anchors-width=abc", anchors, ["-width", "abc"], r"flag -width expects an integer"),
        ("anchors-clusters=0", anchors, ["-num_of_clusters", "0"], r"flag -num_of_clusters must be at least 1"),
        ("anchors-clusters=1000", anchors, ["-num_of_clusters", "1000"], r"-num_of_clusters must be in \[1, 3\]"),
        ("anchors-plot-missing-folder", anchors, ["-show", "-plot", "/nonexistent/dir/a.png"],
         r"-plot /nonexistent/dir/a\.png: the folder /nonexistent/dir does not exist"),
        ("train-max_batches=0", lambda w, e: train(w)[:-2] + e, ["-max_batches", "0"],
         r"flag -max_batches must be at least 1, got 0"),
        ("train-max_batches=-1", lambda w, e: train(w)[:-2] + e, ["-max_batches", "-1"],
         r"flag -max_batches must be at least 1"),
        ("train-max_batches=x", lambda w, e: train(w)[:-2] + e, ["-max_batches", "x"],
         r"flag -max_batches expects an integer"),
        ("ctrain-max_batches=0", lambda w, e: ctrain(w, w.cdata, *e), ["-max_batches", "0"],
         r"flag -max_batches must be at least 1"),
        ("train-resumed-done", lambda w, e: train(w, weights=w.trained)[:-2] + e, ["-max_batches", "1"],
         r"trained\.weights: already trained 50 batches \(100 images\), max_batches is 1"),
        ("gpus=abc", lambda w, e: detect(w, extra=e), ["-gpus", "abc"],
         r"flag -gpus expects GPU numbers separated by commas"),
        ("gpus=0,x", lambda w, e: detect(w, extra=e), ["-gpus", "0,x"], r"flag -gpus expects GPU numbers"),
        ("gpus=-1", lambda w, e: detect(w, extra=e), ["-gpus", "-1"], r"flag -gpus expects GPU numbers"),
        ("train-gpus=abc", lambda w, e: train(w, extra=e), ["-gpus", "abc"], r"flag -gpus expects"),
        ("i=-2", lambda w, e: detect(w, extra=e), ["-i", "-2"], r"flag -i must be at least -1, got -2"),
        ("i=x", lambda w, e: detect(w, extra=e), ["-i", "x"], r"flag -i expects an integer"),
        ("threads=0", lambda w, e: detect(w, extra=e), ["-threads", "0"], r"flag -threads must be at least 1, got 0"),
        ("threads=-4", lambda w, e: detect(w, extra=e), ["-threads", "-4"], r"flag -threads must be at least 1"),
        ("threads=many", lambda w, e: detect(w, extra=e), ["-threads", "many"], r"flag -threads expects an integer"),
        ("unknown-flag", lambda w, e: detect(w, extra=e), ["-bogus"], r"unknown flag -bogus"),
        ("json-missing-folder", lambda w, e: detect(w, extra=e), ["-json", "/nonexistent/x.json"],
         r"-json /nonexistent/x\.json: the folder /nonexistent does not exist"),
        ("out-missing-folder", lambda w, e: detect(w, extra=e), ["-out", "/nonexistent/pred"],
         r"-out /nonexistent/pred\.jpg: the folder /nonexistent does not exist"),
    ]
    for name, run, extra, message in table:
        cases.append(Case("cli", name, lambda w, f, r=run, e=extra: r(w, e), (message,)))
    cases += [
        Case("cli", "json-is-a-folder", lambda w, f: detect(w, extra=["-json", folder_named("j")(w, f)]),
             (r"-json .*j is a folder",)),
        Case("cli", "unknown-command", lambda w, f: ["detector", "fly"], (r"unknown command 'detector fly'",)),
        Case("cli", "unknown-command-long", lambda w, f: ["x" * 5000],
             (r"unknown command 'x{100}\.\.\. \(5000 characters\)'",)),
        Case("cli", "detect-usage", lambda w, f: ["detector", "test", str(w.data)],
             (r"usage: darknet-py detector test",)),
        Case("cli", "train-usage", lambda w, f: ["detector", "train"], (r"usage: darknet-py detector train",)),
        Case("cli", "predict-usage", lambda w, f: ["classifier", "predict", str(w.cdata)],
             (r"usage: darknet-py classifier",)),
        Case("cli", "valid-usage", lambda w, f: ["detector", "valid"], (r"usage: darknet-py detector valid",)),
        Case("cli", "partial-usage", lambda w, f: ["partial", str(w.cfg)], (r"usage: darknet-py partial",)),
        Case("cli", "anchors-usage", lambda w, f: ["detector", "calc_anchors"],
             (r"usage: darknet-py detector calc_anchors",)),
        Case("cli", "wordtree-usage", lambda w, f: ["wordtree", "build"], (r"usage: darknet-py wordtree build",)),
        Case("cli", "wordtree-missing-graph", lambda w, f: ["wordtree", "build", str(f / "g.txt"), str(f / "l.txt"),
                                                            str(f / "o.tree")],
                                                                (r"g\.txt: cannot read concept graph",)),
        Case("cli", "weights-get-unknown", lambda w, f: ["weights", "get", "nosuchnet", "-dest", str(f)],
             (r"nosuchnet",)),
    ]
    return cases


# ----------------------------------------------------------------------------------------------------
# detector test over many images (folders, lists, globs), detector demo (videos, cameras, its outputs)

def images_in(*names, broken=()):
    """A folder of world images (and broken ones) in the case's folder."""
    def writer(w, folder):
        (folder / "in").mkdir()
        for i, name in enumerate(names):
            image(folder / "in" / name, seed=i)
        for name in broken:
            (folder / "in" / name).write_text("not an image\n")
        return folder / "in"
    return writer


def locked(w, folder):
    """A folder no one may list (root still may: then it is only empty)."""
    (folder / "locked").mkdir()
    (folder / "locked").chmod(0)
    return folder / "locked"


def cut_video(w, folder):
    """The clip cut short after 3 of its 6 frames (its header still says 6)."""
    data = w.video.read_bytes()
    starts = [m.start() for m in re.finditer(b"\xff\xd8\xff", data)]
    (folder / "cut.avi").write_bytes(data[:starts[3]])
    return folder / "cut.avi"


def many_image_cases():
    """detector test over folders, -list files and globs: a missing or unreadable image is reported and skipped
    (a warning line each), the run ends with one error line counting them and exit 1; a list, folder or -out
    that cannot be used at all is the one error line."""
    return [
        Case("image", "test-list-names-missing-images",
             lambda w, f: tests(w, [], ["-list", _list(f, [f / "none1.jpg", f / "none2.jpg"])]),
             (r"2 of 2 images could not be read \(the first: cannot read image .*none1\.jpg: No such file",),
             warns=2),
        Case("image", "test-list-one-missing-of-three",
             lambda w, f: tests(w, [], ["-list", _list(f, [w.image, f / "none.jpg", w.image1]), "-json", f / "r.json",
                                        "-batch", "2", "-out", f / "drawn"]),
             (r"1 of 3 images could not be read \(the first: cannot read image .*none\.jpg: No such",), warns=2),
        Case("image", "test-list-missing", lambda w, f: tests(w, [], ["-list", f / "none.txt"]),
             (r"none\.txt: cannot open image list: No such file",)),
        Case("image", "test-list-empty", lambda w, f: tests(w, [], ["-list", write("e.txt", "\n \n")(w, f)]),
             (r"e\.txt: image list is empty",)),
        Case("image", "test-list-fifo", lambda w, f: tests(w, [], ["-list", fifo("l.txt")(w, f)]),
             (r"l\.txt: cannot open image list: is not a regular file",)),
        Case("image", "test-list-folder", lambda w, f: tests(w, [], ["-list", folder_named("l")(w, f)]),
             (r"l: cannot open image list: is a folder",)),
        Case("image", "test-folder-no-images", lambda w, f: tests(w, [images_in(broken=["notes.txt"])(w, f)]),
             (r"in: no images in this folder \(\.jpg, ",)),
        Case("image", "test-folder-unreadable", lambda w, f: tests(w, [locked(w, f)]),
             (r"(cannot read the folder .*locked: Permission denied|locked: no images in this folder)",)),
        Case("image", "test-folder-only-broken-images",
             lambda w, f: tests(w, [images_in(broken=["a.jpg", "b.png"])(w, f)], ["-batch", "4"]),
             (r"2 of 2 images could not be read \(the first: cannot read image .*a\.jpg: not an image",), warns=2),
        Case("image", "test-folder-one-broken", lambda w, f: tests(w, [images_in("a.jpg", "c.png",
                                                                                 broken=["b.jpg"])(w, f)]),
             (r"1 of 3 images could not be read \(the first: .*b\.jpg: not an image",), warns=2),
        Case("image", "test-glob-no-match", lambda w, f: tests(w, [f / "nothing*.jpg"]),
             (r"nothing\*\.jpg: no file matches",)),
        Case("image", "test-two-missing-paths", lambda w, f: tests(w, [f / "a.jpg", f / "b.jpg"]),
             (r"2 of 2 images could not be read \(the first: cannot read image .*a\.jpg",), warns=2),
        Case("image", "test-out-folder-is-a-file",
             lambda w, f: tests(w, [w.image, w.image1], ["-out", write("o", "x")(w, f)]),
             (r"-out .*o: cannot make the folder: File exists",)),
        Case("image", "test-out-folder-under-a-file",
             lambda w, f: tests(w, [w.image, w.image1], ["-out", write("o", "x")(w, f) / "sub"]),
             (r"-out .*o/sub: cannot make the folder: Not a directory",)),
        Case("image", "test-json-missing-folder-many", lambda w, f: tests(w, [w.image, w.image1],
                                                                          ["-json", f / "no" / "r.json"]),
             (r"-json .*no/r\.json: the folder .*no does not exist",)),
        Case("image", "test-save-labels-bmp", lambda w, f: tests(w, [image(f / "x.bmp")], ["-save_labels"]),
             (r"x\.bmp: cannot derive a label file name",)),
        Case("image", "ok-test-folder-list-batch", lambda w, f: tests(
            w, [images_in("a.jpg", "b.png", "c.jpg")(w, f)], ["-batch", "2", "-out", f / "drawn", "-json",
                                                               f / "r.json", "-save_labels", "-ext_output"]),
             (r"(?m)^3 images in [\d.]+ s \([\d.]+ images/s, [\d.]+ images/s after the first 2\)$",), ok=True),
        Case("image", "ok-test-list",
             lambda w, f: tests(w, [], ["-list", _list(f, [w.image, w.image1]), "-batch", "3"]),
             (r"Predicted in",), ok=True),
    ]


def video_cases():
    """detector demo: sources that do not exist or cannot be opened (never a hang on a FIFO), outputs that
    cannot be written (refused before any work), and a video cut short (its frames written, then the error)."""
    return [
        Case("video", "demo-missing", lambda w, f: demo(w, f / "none.avi"),
             (r"cannot read video .*none\.avi: No such file or directory",)),
        Case("video", "demo-empty-path", lambda w, f: demo(w, ""), (r"cannot read video : No such file",)),
        Case("video", "demo-folder", lambda w, f: demo(w, folder_named("v.avi")(w, f)),
             (r"cannot read video .*v\.avi: is a folder, not a file",)),
        Case("video", "demo-fifo", lambda w, f: demo(w, fifo("v.avi")(w, f)),
             (r"cannot read video .*v\.avi: is not a regular file",)),
        Case("video", "demo-not-a-video", lambda w, f: demo(w, write("v.avi", "hello\n")(w, f)),
             (r"cannot open video .*v\.avi \(OpenCV's VideoCapture cannot read it\)",)),
        Case("video", "demo-missing-camera", lambda w, f: demo(w, False, ["-c", "7"]), (r"cannot open camera 7",)),
        Case("video", "demo-sequence-missing", lambda w, f: demo(w, f / "none" / "%06d.jpg"),
             (r"cannot open image sequence .*none/%06d\.jpg",)),
        Case("video", "demo-cut-short", lambda w, f: demo(w, cut_video(w, f), ["-out_filename", f / "o.avi",
                                                                                "-json_file_output", f / "o.jsonl"]),
             (r"cut\.avi: 3 of 6 frames could not be decoded \(frames 3-5\): the file is corrupt or ends early",),
             warns=1),  # the 'N frames in S s' line
        Case("video", "demo-out-missing-folder", lambda w, f: demo(w, extra=["-out_filename", f / "no" / "o.avi"]),
             (r"-out_filename .*no/o\.avi: the folder .*no does not exist",)),
        Case("video", "demo-out-is-a-folder",
             lambda w, f: demo(w, extra=["-out_filename", folder_named("o.avi")(w, f)]),
             (r"-out_filename .*o\.avi is a folder, not a file",)),
        Case("video", "demo-out-unknown-type", lambda w, f: demo(w, extra=["-out_filename", f / "o.xyz"]),
             (r"cannot write video .*o\.xyz: OpenCV cannot write MJPG",)),
        Case("video", "demo-json-missing-folder", lambda w, f: demo(w, extra=["-json_file_output", f / "no" / "j"]),
             (r"-json_file_output .*no/j: the folder .*no does not exist",)),
        Case("video", "demo-prefix-missing-folder", lambda w, f: demo(w, extra=["-prefix", f / "no" / "frame"]),
             (r"-prefix .*no/frame_00000000\.jpg: the folder .*no does not exist",)),
        Case("video", "demo-names-too-few", lambda w, f: ["detector", "demo", str(_data(w, f, names=write(
            "one", "alpha\n")(w, f))), str(w.cfg), str(w.cfg_weights), str(w.video), "-nogpu"],
             (r"one: 1 names, but the network has 2 classes",)),
        Case("video", "ok-demo", lambda w, f: demo(w, extra=["-out_filename", f / "o.avi", "-json_file_output",
                                                             f / "o.jsonl", "-prefix", f / "p", "-ext_output"]),
             (r"Objects:",), ok=True),
        Case("video", "ok-demo-batch-skip-avg1", lambda w, f: demo(w, extra=["-batch", "4", "-s", "1", "-avgframes",
                                                                              "1", "-benchmark"]),
             (r"AVG_FPS",), ok=True),
    ]


def demo_flag_cases():
    """detector demo's and detector test's numeric flags, range-checked before any work."""
    table = [(demo, flag, value, message) for flag, value, message in [
        ("-batch", "0", r"flag -batch must be at least 1, got 0"), ("-batch", "x", r"flag -batch expects an integer"),
        ("-s", "-1", r"flag -s must be at least 0, got -1"), ("-s", "1.5", r"flag -s expects an integer"),
        ("-avgframes", "0", r"flag -avgframes must be between 1 and 1000, got 0"),
        ("-avgframes", "100000", r"flag -avgframes must be between 1 and 1000, got 100000"),
        ("-avg", "-3", r"flag -avg must be between 1 and 1000"), ("-avgframes", "two", r"expects an integer"),
        ("-c", "-1", r"flag -c must be at least 0, got -1"), ("-thresh", "2", r"flag -thresh must be between 0 and 1"),
        ("-hier", "nan", r"flag -hier must be between 0 and 1"), ("-nms", "-0.1", r"flag -nms must be between 0 and 1"),
        ("-time_limit_sec", "-1", r"flag -time_limit_sec must be at least 0"),
        ("-time_limit_sec", "nan", r"flag -time_limit_sec must be at least 0, got nan")]]
    table += [(tests, flag, value, message) for flag, value, message in [
        ("-batch", "0", r"flag -batch must be at least 1, got 0"), ("-batch", "-4", r"flag -batch must be at least 1"),
        ("-batch", "many", r"flag -batch expects an integer, got 'many'")]]
    cases = []
    for run, flag, value, message in table:
        cases.append(Case("cli", f"{run.__name__}{flag}={value}", lambda w, f, r=run, fl=flag, v=value: (
            r(w, extra=[fl, v]) if r is demo else r(w, [w.image, w.image1], [fl, v])), (message,)))
    cases += [
        Case("cli", "demo-no-value", lambda w, f: demo(w) + ["-s"], (r"flag -s needs a value",)),
        Case("cli", "demo-unknown-flag", lambda w, f: demo(w, extra=["-bogus"]), (r"unknown flag -bogus",)),
        Case("cli", "demo-usage", lambda w, f: ["detector", "demo", str(w.data)],
             (r"usage: darknet-py detector demo",)),
        Case("cli", "test-list-no-value", lambda w, f: tests(w, [w.image], ["-list"]), (r"flag -list needs a value",)),
    ]
    return cases


def corpus():
    """Every case, bad and odd."""
    return (cfg_cases() + weights_cases() + image_cases() + odd_image_cases() + data_cases() + odd_data_cases()
            + cli_cases() + many_image_cases() + video_cases() + demo_flag_cases())
