"""`detector train` (darknet_py/train/train_detector.py) on a small synthetic set: the loss falls and the mAP on the
training images rises; checkpoints are written atomically under Darknet's names; a resumed file continues
`seen` and the schedule; -clear restarts it; a NaN loss stops the run and keeps the last checkpoint; multi-scale
resizes network and loader. Then the shipped coco128 model (cfg/tiny-yolo-coco128.cfg): it finds objects in
data/dog.jpg, and the original Darknet, loading the same weights, lists the same detections."""
import contextlib
import io
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

import oracle
from conftest import ROOT, SHARED, conv, maxpool, needs_oracle, section
from test_detector import assert_same_set
from darknet_py import cli, weights as weights_module
from darknet_py.data.lists import read_names
from darknet_py.detector import detect_images, labels
from darknet_py.errors import DarknetError
from darknet_py.image import load_image
from darknet_py.network import Network
from darknet_py.train import train_detector as td
from darknet_py.train.schedule import Schedule
from darknet_py.eval.validate import map_of_valid

MODEL_CFG = ROOT / "cfg" / "tiny-yolo-coco128.cfg"  # our coco128 detector, trained by detector train
MODEL_WEIGHTS = ROOT / "weights" / "tiny-yolo-coco128.weights"
DOG = ROOT / "data" / "dog.jpg"  # fetched by `make data`
ORACLE_THRESH = .05              # low enough for a non-empty list on dog.jpg, an image the model has not seen
COCO128_IMAGE = SHARED / "datasets" / "coco128" / "images" / "train2017" / "000000000049.jpg"  # in the train split
needs_model = pytest.mark.skipif(not (MODEL_WEIGHTS.exists() and DOG.exists()), reason=f"no {MODEL_WEIGHTS} or {DOG}")
SIZE = 64                                # image and network side
COLORS = ((230, 40, 40), (40, 200, 40))  # RGB of the squares of class 0 and class 1
IMAGES = 16
BATCH = 8                                # images per iteration (two minibatches of 4)
ITERATIONS = 60

CFG = """[net]
batch={batch}
subdivisions=2
width={size}
height={size}
channels=3
momentum=0.9
decay=0.0005
learning_rate={lr}
burn_in={burn_in}
max_batches={max_batches}
policy=steps
steps={steps}
scales=.5
saturation=1.2
exposure=1.2
hue=.05

""" + (
    conv(8) + maxpool() + conv(16) + maxpool() + conv(32) + maxpool()
    + conv(14, size=1, activation="linear", batch_normalize=0)
    + section("region", anchors="2,2,3,3", bias_match=1, classes=2, coords=4, num=2, softmax=1, jitter=.1,
              rescore=1, object_scale=5, noobject_scale=1, class_scale=1, coord_scale=1, absolute=1, thresh=.6,
              random=0))


def make_dataset(root, n, seed=0):
    """n grey images with one or two solid squares (red: class 0, green: class 1) and their labels."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    paths = []
    for i in range(n):
        im = np.full((SIZE, SIZE, 3), 128, np.uint8)
        lines = []
        for _ in range(rng.integers(1, 3)):
            c, s = int(rng.integers(2)), int(rng.integers(14, 30))
            x0, y0 = rng.integers(0, SIZE - s, 2)
            im[y0:y0 + s, x0:x0 + s] = COLORS[c]
            lines.append(f"{c} {(x0 + s / 2) / SIZE} {(y0 + s / 2) / SIZE} {s / SIZE} {s / SIZE}\n")
        path = root / "images" / f"{i}.png"
        cv2.imwrite(str(path), im[:, :, ::-1])
        (root / "labels" / f"{i}.txt").write_text("".join(lines))
        paths.append(str(path))
    (root / "train.txt").write_text("".join(p + "\n" for p in paths))
    return paths


class Run:
    """A synthetic data set, a .data file and cfgs in a temporary folder; train() runs train_detector."""

    def __init__(self, root):
        self.root = root
        self.paths = make_dataset(root, IMAGES)
        self.backup = root / "backup"
        self.data = root / "synthetic.data"
        self.data.write_text(f"classes=2\ntrain={root}/train.txt\nbackup={self.backup}\n")

    def cfg(self, name="net", lr=.01, burn_in=0, max_batches=ITERATIONS, steps=1000, random=0):
        path = self.root / f"{name}.cfg"
        text = CFG.format(batch=BATCH, size=SIZE, lr=lr, burn_in=burn_in, max_batches=max_batches, steps=steps)
        path.write_text(text.replace("random=0", f"random={random}"))
        return str(path)

    def weights(self, cfg, seen, name="start.weights"):
        """Weights of `cfg` drawn with a fixed seed, with `seen` in the header."""
        np.random.seed(0)
        net = Network.from_cfg(cfg)
        net.seen = seen
        path = str(self.root / name)
        net.save_weights(path)
        return path

    def train(self, cfg, weights, **kw):
        """train_detector's final path and its per-iteration lines as (batch, loss, avg, rate, images); what it
        reported to its progress callback in self.progress."""
        out = io.StringIO()
        self.progress = []
        with contextlib.redirect_stdout(out), np.errstate(over="ignore", invalid="ignore"):
            final = td.train_detector(str(self.data), cfg, weights, seed=0, progress=lambda *a: self.progress.append(a),
                                      **kw)
        return final, iteration_lines(out.getvalue())

    def mean_ap(self, cfg, weights):
        net = Network.from_cfg(cfg)
        net.load_weights(weights)
        with np.errstate(over="ignore", invalid="ignore"):
            return map_of_valid(net, self.paths).voc07


LINE = re.compile(r"^(\d+): (\S+), (\S+) avg, (\S+) rate, \S+ seconds, (\d+) images$")


def iteration_lines(text):
    return [(int(m[1]), float(m[2]), float(m[3]), float(m[4]), int(m[5]))
            for m in map(LINE.match, text.splitlines()) if m]


def seen_in(path):
    return int(np.fromfile(path, "<u8", 1, offset=12)[0])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return Run(tmp_path_factory.mktemp("train_detector"))


@pytest.fixture(scope="module")
def trained(run):
    cfg = run.cfg()
    start = run.weights(cfg, 0)
    final, lines = run.train(cfg, start)
    return cfg, start, final, lines


def test_loss_falls_and_train_map_rises(run, trained):
    cfg, start, final, lines = trained
    assert [n for n, *_ in lines] == list(range(1, ITERATIONS + 1))
    first, last = np.mean([loss for _, loss, *_ in lines[:5]]), np.mean([loss for _, loss, *_ in lines[-5:]])
    assert last < first / 3
    # Darknet's running average: avg = .9*avg + .1*loss, starting at the first loss
    avg = lines[0][1]
    for _, loss, printed, *_ in lines[1:]:
        avg = .9 * avg + .1 * loss
        assert printed == pytest.approx(avg, rel=1e-5)
    before, after = run.mean_ap(cfg, start), run.mean_ap(cfg, final)
    assert after > before + .2
    assert Path(final).name == "net_final.weights" and seen_in(final) == ITERATIONS * BATCH
    assert (run.backup / "net_loss.png").stat().st_size > 0


def test_checkpoints_atomic_and_named_as_darknet(run, monkeypatch):
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(weights_module.os, "replace", lambda a, b: (renames.append((a, b)), real_replace(a, b)))
    cfg = run.cfg("ckpt", max_batches=101)
    _, lines = run.train(cfg, run.weights(cfg, 98 * BATCH))
    assert [n for n, *_ in lines] == [99, 100, 101]
    assert lines[-1][4] == 101 * BATCH
    # the loss chart is renamed into place too, and the starting weights were saved the same way
    renames = [(a, b) for a, b in renames if Path(b).parent == run.backup and not b.endswith(".png")]
    assert [Path(b).name for _, b in renames] == ["ckpt.backup", "ckpt_100.weights", "ckpt_final.weights"]
    assert all(Path(a).parent == Path(b).parent and ".tmp" in Path(a).name for a, b in renames)
    assert seen_in(run.backup / "ckpt.backup") == 100 * BATCH
    assert not [p for p in os.listdir(run.backup) if ".tmp" in p]
    assert [td.snapshot_due(i) for i in (100, 900, 1000, 1100, 10000, 20000, 20100)] == \
        [True, True, False, False, True, True, False]


def test_resume_continues_seen_and_schedule(run):
    cfg = run.cfg("resume", lr=.01, burn_in=4, max_batches=6, steps=5)
    first, lines = run.train(cfg, run.weights(cfg, 0), max_batches=3)
    assert [n for n, *_ in lines] == [1, 2, 3] and seen_in(first) == 3 * BATCH
    final, lines = run.train(cfg, first)
    schedule = Schedule.from_network(Network.from_cfg(cfg))
    assert [n for n, *_ in lines] == [4, 5, 6]
    assert run.progress == [(3, 6)] + [(n, 6, f"avg {avg:.3f}") for n, _, avg, *_ in lines]  # resumed at batch 3
    assert [rate for *_, rate, _ in lines] == pytest.approx([schedule.rate(n) for n in (4, 5, 6)], rel=1e-6)
    assert [images for *_, images in lines] == [4 * BATCH, 5 * BATCH, 6 * BATCH]
    assert seen_in(final) == 6 * BATCH
    with pytest.raises(DarknetError, match="already trained 6 batches"):
        run.train(cfg, final)
    _, lines = run.train(cfg, final, clear=True, max_batches=2)
    assert [n for n, *_ in lines] == [1, 2]


def test_starts_from_a_pretrained_backbone(run):
    """A file with only the first layers (`partial`) fills those; the rest keep their random initialisation."""
    cfg = run.cfg("backbone", max_batches=2)
    np.random.seed(1)
    donor = Network.from_cfg(cfg)
    donor.seen = 5 * BATCH  # `partial` zeroes seen; a backbone that kept it must still start the schedule at 1
    donor.save_weights(str(run.root / "backbone.conv.3"), cutoff=3)
    with contextlib.redirect_stderr(io.StringIO()):
        net = td.load_training_network(cfg, str(run.root / "backbone.conv.3"), clear=False, max_batches=None)
    np.testing.assert_array_equal(net.layers[2].weights, donor.layers[2].weights)
    assert not np.array_equal(net.layers[6].weights, donor.layers[6].weights)
    _, lines = run.train(cfg, str(run.root / "backbone.conv.3"), clear=True)
    assert [n for n, *_ in lines] == [1, 2]


def test_nan_loss_stops_and_keeps_the_last_checkpoint(run, monkeypatch, capsys):
    real = td.train_batch

    def diverge(net, x, truth):
        loss = real(net, x, truth)
        return float("nan") if net.seen >= 101 * BATCH else loss

    monkeypatch.setattr(td, "train_batch", diverge)
    cfg = run.cfg("nan", max_batches=103)
    start = run.weights(cfg, 99 * BATCH, "nan_start.weights")
    with np.errstate(over="ignore", invalid="ignore"):
        status = cli.main(["detector", "train", str(run.data), cfg, start])
    assert status == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"darknet-py: error: loss is nan at batch 101: training stopped, weights not saved; " \
                  f"last checkpoint: {run.backup / 'nan_100.weights'}"
    assert seen_in(run.backup / "nan.backup") == 100 * BATCH
    assert not (run.backup / "nan_final.weights").exists()


def test_multiscale_resizes_network_and_loader(run, monkeypatch):
    sizes = iter((96, 32))  # stand-ins for Darknet's 320..608 draws, small enough for a test
    monkeypatch.setattr(td, "random_dim", lambda rng, batch, max_batches: next(sizes))
    seen_shapes = []
    real = td.train_batch
    monkeypatch.setattr(td, "train_batch", lambda net, x, truth: (seen_shapes.append(x.shape), real(net, x, truth))[1])
    cfg = run.cfg("multiscale", max_batches=11, random=1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), np.errstate(over="ignore", invalid="ignore"):
        td.train_detector(str(run.data), cfg, run.weights(cfg, 0), seed=0, progress=False)
    text = out.getvalue().splitlines()
    assert [text[i + 1] for i, line in enumerate(text) if line == "Resizing"] == ["96", "32"]
    assert seen_shapes == [(BATCH, 3, 96, 96)] * 10 + [(BATCH, 3, 32, 32)]


def test_multiscale_sizes():
    class Fixed:
        def __init__(self, value):
            self.value = value

        def rand(self):
            return self.value

    assert [td.random_dim(Fixed(v), 0, 1000) for v in (0, 9, 13)] == [320, 608, 416]
    assert td.random_dim(Fixed(0), 801, 1000) == 608


def coco128_model_detections(image, thresh):
    net = Network.from_cfg(MODEL_CFG).load_weights(MODEL_WEIGHTS)
    return detect_images(net, [image], thresh=thresh)[0]


@needs_model
@pytest.mark.skipif(not COCO128_IMAGE.exists(), reason=f"no {COCO128_IMAGE}")
def test_shipped_coco128_model_finds_the_objects_of_a_training_image():
    """`detector test cfg/coco128.data cfg/tiny-yolo-coco128.cfg weights/tiny-yolo-coco128.weights <image> -thresh .2`
    on one of its 100 training images (a horse and riders). Images it has not seen get little above .2: with
    100 images the model mostly memorises (held-out mAP@.5 0.02, train 0.38)."""
    names = read_names(ROOT / "data" / "coco.names")
    _, h, w = load_image(COCO128_IMAGE).shape
    found = labels(coco128_model_detections(COCO128_IMAGE, .2), names, w, h, .2)
    assert {f.name for f in found} == {"horse", "person"}


@needs_model
@needs_oracle
def test_shipped_coco128_model_detects_as_darknet():
    """The original Darknet loads our trained weights and lists the same detections on data/dog.jpg."""
    expected = oracle.detections(MODEL_CFG, MODEL_WEIGHTS, DOG, thresh=ORACLE_THRESH)
    ours = coco128_model_detections(DOG, ORACLE_THRESH)
    rows = lambda dets, get: [(j, float(get(d, "prob")[j]), *map(float, get(d, "bbox")))
                              for d in dets for j in np.flatnonzero(get(d, "prob"))]
    expected = rows(expected, lambda d, k: d[k])
    ours = rows(ours, getattr)
    assert expected and [r[0] for r in ours] == [r[0] for r in expected]
    np.testing.assert_allclose([r[1:] for r in ours], [r[1:] for r in expected], rtol=1e-4, atol=1e-6)


# YOLOv3 and YOLOv1 heads on the same small backbone and synthetic squares: detector train picks their data
# (90 boxes per image for [yolo], load_data_region's grid for [detection], as examples/yolo.c), their losses
# fall, the mAP on the training images rises, and Darknet, loading the weights, detects what we detect.
HEAD = CFG[:CFG.index("[convolutional]")]
YOLO_CFG = HEAD + (
    conv(8) + maxpool() + conv(16) + maxpool() + conv(32) + maxpool() + conv(32) + maxpool()
    + conv(14, size=1, activation="linear", batch_normalize=0)
    + section("yolo", mask="2,3", anchors="14,14, 20,20, 26,26, 32,32", classes=2, num=4, jitter=.1,
              ignore_thresh=.7, truth_thresh=1, random=0)
    + section("route", layers=-3) + conv(16, size=1) + section("upsample", stride=2) + section("route", layers="-1,5")
    + conv(14, size=1, activation="linear", batch_normalize=0)
    + section("yolo", mask="0,1", anchors="14,14, 20,20, 26,26, 32,32", classes=2, num=4, jitter=.1,
              ignore_thresh=.7, truth_thresh=1, random=0))
V1_CFG = HEAD + (
    conv(8) + maxpool() + conv(16) + maxpool() + conv(32) + maxpool()
    + section("connected", output=4 * 4 * (2 * 5 + 2), activation="linear")
    + section("detection", classes=2, coords=4, rescore=1, side=4, num=2, softmax=0, sqrt=1, jitter=.1,
              object_scale=1, noobject_scale=.5, class_scale=1, coord_scale=5))
HEADS = {"yolov3": (YOLO_CFG, 100, .01), "yolov1": (V1_CFG, 200, .001)}


@pytest.mark.parametrize("head", sorted(HEADS))
def test_yolov3_and_yolov1_heads_train(run, head):
    text, iterations, lr = HEADS[head]
    cfg = run.root / f"{head}.cfg"
    cfg.write_text(text.format(batch=BATCH, size=SIZE, lr=lr, burn_in=0, max_batches=iterations, steps=1000))
    start = run.weights(str(cfg), 0, name=f"{head}.weights")
    final, lines = run.train(str(cfg), start)
    first, last = np.mean([loss for _, loss, *_ in lines[:5]]), np.mean([loss for _, loss, *_ in lines[-5:]])
    assert last < first / 2
    before, after = run.mean_ap(str(cfg), start), run.mean_ap(str(cfg), final)
    assert after > before + .2, (before, after)
    print(f"{head}: loss {first:.1f} -> {last:.1f}, mAP {before:.3f} -> {after:.3f}")
    ours = detect_images(Network.from_cfg(str(cfg)).load_weights(final), [run.paths[0]], thresh=.2)[0]
    if head == "yolov3":
        expected = oracle.detections(cfg, final, run.paths[0], thresh=.2) if oracle.available() else None
    else:  # YOLOv1 resizes: the oracle gets the resized image and w = h = 1 (relative boxes)
        x = load_image(run.paths[0])  # already the network's size
        expected = oracle.detections(cfg, final, x, im_w=1, im_h=1, thresh=.2) if oracle.available() else None
    assert any(d.prob.max() > .2 for d in ours)
    if expected is not None:
        assert_same_set(ours, expected)


YOLOV3_COCO128 = ROOT / "cfg" / "yolov3-tiny-coco128.cfg"
TINY = SHARED / "weights" / "tiny.weights"
COCO128_IMAGES = sorted((SHARED / "datasets" / "coco128" / "images" / "train2017").glob("*.jpg"))


@pytest.mark.skipif(not TINY.exists() or not COCO128_IMAGES, reason="needs shared/weights/tiny.weights and coco128")
def test_yolov3_tiny_fine_tunes_from_a_classifier_backbone(tmp_path):
    """cfg/yolov3-tiny-coco128.cfg from `partial cfg/tiny.cfg tiny.weights tiny.conv.19 19` (pjreddie's ImageNet
    Tiny Darknet) on 8 coco128 images at 96x96 for 40 batches (the README's run: 600 batches at 160 on 100): the
    loss falls, and the original Darknet, loading the weights, detects what we detect."""
    cfg = tmp_path / "yolov3-tiny-coco128.cfg"
    text = YOLOV3_COCO128.read_text()
    for key, value in (("batch", 8), ("subdivisions", 1), ("width", 96), ("height", 96), ("burn_in", 10),
                       ("max_batches", 40), ("steps", 1000), ("learning_rate", .002)):
        text = re.sub(rf"(?m)^{key}=.*$", f"{key}={value}", text)
    cfg.write_text(text)
    (tmp_path / "train.txt").write_text("".join(f"{p}\n" for p in COCO128_IMAGES[:8]))
    data = tmp_path / "coco128.data"
    data.write_text(f"classes=80\ntrain={tmp_path}/train.txt\nbackup={tmp_path}/backup\n")
    backbone = tmp_path / "tiny.conv.19"
    with contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(["partial", str(ROOT / "cfg" / "tiny.cfg"), str(TINY), str(backbone), "19"]) == 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        final = td.train_detector(str(data), str(cfg), str(backbone), seed=0, progress=False)
    lines = iteration_lines(out.getvalue())
    first, last = np.mean([loss for _, loss, *_ in lines[:5]]), np.mean([loss for _, loss, *_ in lines[-5:]])
    assert last < first / 2, (first, last)
    print(f"yolov3-tiny-coco128, 40 batches at 96: loss {first:.1f} -> {last:.1f}")
    image = COCO128_IMAGES[0]
    ours = detect_images(Network.from_cfg(cfg).load_weights(final), [image], thresh=.1)[0]
    assert any(d.prob.max() > .1 for d in ours)
    if oracle.available():
        assert_same_set(ours, oracle.detections(cfg, final, image, thresh=.1))
