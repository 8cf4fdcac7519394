"""Classifier training (examples/classifier.c): labels from paths, WordTree truths, load_data_augment's
augmentation against libdarknet's own rand() stream, validation crops, resuming, the hi-res fine-tune
(same weights at a new input size), and a short real run on coco128 crops that must learn."""
import io
import sys

import numpy as np
import oracle
import pytest
from conftest import ROOT, SHARED, conv, maxpool, needs_oracle, project_cfg, section

from darknet_py.data.classification import (
    ClassAugment,
    center_crop_image,
    fill_hierarchy,
    fill_truth,
    load_classification_batch,
    validation_crop,
)
from darknet_py.cli import main
from darknet_py.data.lists import read_paths
from darknet_py.image import load_image
from darknet_py.layers.cost import SECRET_NUM
from darknet_py.network import Network
from darknet_py.train.train_classifier import ClassifierTraining, validate_classifier
from darknet_py.wordtree.tree import Tree

COCO = SHARED / "datasets" / "coco128"
TINY_WEIGHTS = SHARED / "weights" / "tiny.weights"
needs_coco = pytest.mark.skipif(not (COCO / "images").is_dir(), reason="coco128 is not in the shared folder")
needs_tiny = pytest.mark.skipif(not TINY_WEIGHTS.exists(), reason="tiny.weights is not in the shared folder")


# A 3-level tree: animal {cat, dog {terrier, hound}}, thing {cup}.
TREE = [("animal", -1), ("thing", -1), ("cat", 0), ("dog", 0), ("cup", 1), ("terrier", 3), ("hound", 3)]


def test_fill_truth_takes_the_label_found_in_the_path(capsys):
    labels = ["/cat/", "/dog/", "/cup/"]
    np.testing.assert_array_equal(fill_truth("data/train/dog/1.jpg", labels), [0, 1, 0])
    assert capsys.readouterr().err == ""
    np.testing.assert_array_equal(fill_truth("data/train/bird/1.jpg", labels), [0, 0, 0])
    assert "Too many or too few labels: 0, data/train/bird/1.jpg" in capsys.readouterr().err


def test_fill_hierarchy_marks_ancestors_and_masks_other_groups():
    tree = Tree(*zip(*TREE))
    truth = np.zeros(7, np.float32)
    truth[5] = 1  # terrier
    fill_hierarchy(truth, tree)
    # groups: {animal, thing} {cat, dog} {cup} {terrier, hound}; {cup} holds no true label
    np.testing.assert_array_equal(truth, [1, 0, 0, 1, SECRET_NUM, 1, 0])


def test_tree_softmax_loss_ignores_masked_groups(tmp_path):
    """The [softmax] tree loss with fill_hierarchy's truth: delta t - p on the label's path and its
    siblings, 0 in the masked group."""
    tree_file = tmp_path / "t.tree"
    tree_file.write_text("".join(f"{n} {p}\n" for n, p in TREE))
    cfg = tmp_path / "c.cfg"
    cfg.write_text(f"[net]\nwidth=1\nheight=1\nchannels=7\n[softmax]\ntree={tree_file}\n")
    net = Network.from_cfg(cfg)
    x = np.random.default_rng(0).normal(size=(1, 7, 1, 1)).astype(np.float32)
    truth = fill_hierarchy(np.array([[0, 0, 0, 0, 0, 1, 0]], np.float32)[0], Tree(*zip(*TREE)))[None]
    net.forward(x, train=True, truth=truth)
    layer = net.layers[0]
    p = layer.output.ravel()
    want = np.where(truth[0] == SECRET_NUM, 0, truth[0] - p)
    np.testing.assert_allclose(layer.delta.ravel(), want, atol=1e-7)
    assert layer.cost == pytest.approx(-np.log(p[[0, 3, 5]]).sum(), rel=1e-5)


def test_predict_hier_prints_the_tree_top_prediction(tmp_path, capsys):
    """classifier predict -hier T: after Darknet's top-k lines, hierarchy_top_prediction's node."""
    import cv2

    from darknet_py.weights import write_random_weights
    tree_file = tmp_path / "t.tree"
    tree_file.write_text("".join(f"{n} {p}\n" for n, p in TREE))
    (tmp_path / "names.list").write_text("".join(f"{n}\n" for n, _ in TREE))
    data = tmp_path / "t.data"
    data.write_text(f"classes=7\nnames={tmp_path}/names.list\n")
    cfg = tmp_path / "t.cfg"
    cfg.write_text("[net]\nwidth=8\nheight=8\nchannels=3\n[convolutional]\nfilters=7\nsize=1\nstride=1\n"
                   f"activation=linear\n[avgpool]\n[softmax]\ntree={tree_file}\n")
    net = Network.from_cfg(cfg)
    write_random_weights(net, tmp_path / "t.weights", seed=1)
    image = tmp_path / "im.png"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 255, (10, 12, 3), dtype=np.uint8))
    assert main(["classifier", "predict", str(data), str(cfg), str(tmp_path / "t.weights"), str(image),
                 "-t", "2", "-hier", "0", "-nogpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[2].endswith("(hierarchy top, -hier 0)")
    # threshold 0: the descent goes to a leaf, whose absolute probability is what is printed
    net.load_weights(tmp_path / "t.weights")
    from darknet_py.image import letterbox_image
    from darknet_py.wordtree.tree import hierarchy_predictions
    p = np.asarray(net.forward(letterbox_image(load_image(image), 8, 8)[None])).ravel().copy()
    hierarchy_predictions(p, Tree(*zip(*TREE)))
    leaf = Tree(*zip(*TREE)).top_prediction(p, 0)
    assert lines[2] == f"{p[leaf] * 100:5.2f}%: {TREE[leaf][0]} (hierarchy top, -hier 0)"


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    """coco128's boxes cut into a classification set (tools/coco128_crops.py)."""
    if not (COCO / "images").is_dir():
        pytest.skip("coco128 is not in the shared folder")
    sys.path.insert(0, str(ROOT))  # tools/ is a folder of scripts beside the package
    from tools.coco128_crops import cut_crops
    out = tmp_path_factory.mktemp("crops")
    return cut_crops(out, COCO)


@needs_oracle
@needs_coco
@pytest.mark.parametrize("settings", [
    {"lo": 64, "hi": 80, "size": 64, "angle": 7, "aspect": .75, "hue": .1, "sat": .75, "exposure": .75},  # tiny.cfg
    {"lo": 40, "hi": 90, "size": 48, "angle": 30, "aspect": .5},
    {"lo": 64, "hi": 64, "size": 64, "center": 1, "hue": .1, "sat": 1.5, "exposure": 1.5},
], ids=["tiny", "wide", "center"])
def test_classification_batch_follows_darknet(crops, tmp_path, settings):
    """Same srand seed => the same picks, labels (and tree truths), crops, flips and distortions as
    libdarknet's load_data_augment. Pixels: rotate_crop_image's coordinates are computed by the -Ofast
    build in another operation order, so the sampled values may differ by a few 1e-5 (centre crops are
    bit-exact)."""
    paths = read_paths(crops.parent / "train.list")[:12]
    labels = (crops.parent / "labels.list").read_text().split()
    tree_file = tmp_path / "flat.tree"
    tree_file.write_text("".join(f"n{i} -1\n" for i in range(len(labels))))
    s = {"angle": 0., "aspect": 1., "hue": 0., "sat": 1., "exposure": 1., "center": 0} | settings
    want_x, want_y = oracle.classification_data(5, paths, labels, 6, len(labels), s["lo"], s["hi"], s["size"],
                                                s["angle"], s["aspect"], s["hue"], s["sat"], s["exposure"],
                                                s["center"], tree_file)
    aug = ClassAugment(s["size"], s["lo"] / s["size"], s["hi"] / s["size"], s["angle"], s["aspect"], s["hue"],
                       s["sat"], s["exposure"], s["center"])
    assert (aug.min, aug.max) == (s["lo"], s["hi"])
    x, y = load_classification_batch(paths, 6, labels, len(labels), Tree.read(tree_file), aug, oracle.LibcRandom(5))
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_allclose(x, want_x, rtol=0, atol=0 if s["center"] else 1e-4)


@needs_oracle
@needs_coco
@pytest.mark.parametrize("size", [32, 64, 101])
def test_validation_crop_is_bit_exact(size):
    path = sorted((COCO / "images" / "train2017").glob("*.jpg"))[3]
    np.testing.assert_array_equal(validation_crop(load_image(path), size), oracle.validation_crop(path, size))


def test_center_crop_takes_the_middle_square():
    im = np.random.default_rng(0).random((3, 20, 30), dtype=np.float32)
    np.testing.assert_array_equal(center_crop_image(im, 20, 20), im[:, :, 5:25])


SMALL_CFG = """[net]
batch={batch}
subdivisions=2
width={size}
height={size}
channels=3
momentum=0.9
decay=0.0005
learning_rate={lr}
policy=poly
power=4
max_batches={max_batches}
angle=7
aspect=.75
hue=.1
saturation=.75
exposure=.75
max_crop={max_crop}
min_crop={size}

""" + (
    conv(16) + maxpool() + conv(32) + maxpool() + conv(16, size=1) + conv(128)
    + conv("{classes}", size=1, activation="linear", batch_normalize=0) + section("avgpool")
    + section("softmax", groups=1))


def small_cfg(path, size, classes, max_batches=4, batch=8, lr=.01):
    path.write_text(SMALL_CFG.format(size=size, max_crop=size * 5 // 4, classes=classes, max_batches=max_batches,
                                     batch=batch, lr=lr))
    return path


def synthetic_set(tmp_path, n=8):
    """Flat colour images in two folders, `red` and `blue`, and the .data file naming them."""
    import cv2
    paths = []
    for label, bgr in (("red", (0, 0, 255)), ("blue", (255, 0, 0))):
        (tmp_path / label).mkdir()
        for i in range(n):
            im = np.full((20 + i, 24, 3), bgr, np.uint8)
            cv2.imwrite(str(tmp_path / label / f"{i}.png"), im)
            paths.append(str(tmp_path / label / f"{i}.png"))
    (tmp_path / "train.list").write_text("\n".join(paths) + "\n")
    (tmp_path / "labels.list").write_text("/red/\n/blue/\n")
    data = tmp_path / "set.data"
    data.write_text(f"classes=2\ntrain={tmp_path}/train.list\nvalid={tmp_path}/train.list\n"
                    f"labels={tmp_path}/labels.list\nbackup={tmp_path}/backup\ntop=2\n")
    return data


def test_checkpoints_resume_and_hi_res_fine_tune(tmp_path, capsys):
    """Epoch checkpoints, the final file, resuming from a checkpoint (seen carries on), and the
    darknet19 -> darknet19_448 step: weights trained at one input size train on at another."""
    data = synthetic_set(tmp_path)
    cfg = small_cfg(tmp_path / "small.cfg", 16, 2, max_batches=4, batch=16)
    training = ClassifierTraining(data, cfg, clear=True, seed=1)
    losses = training.run()
    assert len(losses) == 4 and all(np.isfinite(losses))
    backup = tmp_path / "backup"
    # 16 images per batch over 16 paths: one epoch per batch.
    assert sorted(p.name for p in backup.glob("*.weights")) == ["small.weights"] + [f"small_{i}.weights"
                                                                                    for i in (1, 2, 3, 4)]
    out = capsys.readouterr().out
    assert "4, 4.000: " in out and " avg, " in out and "64 images" in out
    assert " avg, 0.003164 rate, " in out  # poly, power 4: .01 * (1 - 1/4)^4 after the first batch
    # Resume: seen = 64 images = batch 4 of 8.
    resumed = ClassifierTraining(data, cfg, backup / "small.weights", max_batches=6, seed=2)
    assert resumed.net.seen == 64 and resumed.epoch == 4
    reported = []
    assert len(resumed.run(progress=lambda *a: reported.append(a))) == 2 and resumed.net.seen == 96
    assert [a[:2] for a in reported] == [(4, 6), (5, 6), (6, 6)] and reported[-1][2].startswith("avg ")
    # Hi-res fine-tune: the same layers at 32x32 take the 16x16 weights and keep training.
    hi = small_cfg(tmp_path / "small_hi.cfg", 32, 2, max_batches=2, batch=16)
    before = Network.from_cfg(hi).load_weights(backup / "small.weights")
    fine = ClassifierTraining(data, hi, backup / "small.weights", clear=True, seed=3)
    np.testing.assert_array_equal(fine.net.layers[0].weights, before.layers[0].weights)
    assert fine.aug.size == 32 and (fine.aug.min, fine.aug.max) == (32, 40)
    assert all(np.isfinite(fine.run()))
    assert not np.array_equal(fine.net.layers[0].weights, before.layers[0].weights)


def test_classification_loader_is_deterministic_and_resizes(tmp_path):
    from darknet_py.data.classification import ClassificationLoader
    data = synthetic_set(tmp_path)
    paths = read_paths(data.parent / "train.list")
    aug = ClassAugment(16, 1., 1.25, 7, .75, .1, .75, .75)
    with ClassificationLoader(paths, 6, ["/red/", "/blue/"], 2, aug, seed=4) as a, \
            ClassificationLoader(paths, 6, ["/red/", "/blue/"], 2, aug, seed=4, workers=1) as b:
        (x, y), (x2, y2) = a.next(), b.next()
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
        assert x.shape == (6, 3, 16, 16) and (y.sum(1) == 1).all()
        # a red image is red, a blue one blue: the label follows the picked path
        assert ((x[:, 0].mean((1, 2)) > x[:, 2].mean((1, 2))) == (y[:, 0] == 1)).all()
        a.resize(24, 24)  # multi-scale: the crop size and its min/max follow the new width
        assert a.next()[0].shape == (6, 3, 24, 24) and (a.aug.min, a.aug.max) == (24, 30)


def test_cli_train_and_valid(tmp_path, capsys):
    data = synthetic_set(tmp_path)
    cfg = small_cfg(tmp_path / "small.cfg", 16, 2, max_batches=3)
    assert main(["classifier", "train", str(data), str(cfg), "-clear", "-max_batches", "2", "-nogpu"]) == 0
    weights = tmp_path / "backup" / "small.weights"
    assert Network.from_cfg(cfg).load_weights(weights).seen == 16
    capsys.readouterr()
    assert main(["classifier", "valid", str(data), str(cfg), str(weights), "-nogpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 32 and lines[-1].startswith("15: top 1: ") and ", top 2: 1.000000" in lines[-1]


@needs_coco
@needs_tiny
def test_tiny_darknet_learns_coco128_crops(crops, tmp_path):
    """Fine-tune the first 7 layers of Tiny Darknet (ImageNet weights) on coco128 crops at 32x32:
    the loss falls and held-out top-1 beats always answering the commonest class."""
    labels = (crops.parent / "labels.list").read_text().split()
    cfg = small_cfg(tmp_path / "crops.cfg", 32, len(labels), max_batches=30, batch=32, lr=.01)
    tiny = Network.from_cfg(project_cfg("tiny")).load_weights(TINY_WEIGHTS)
    tiny.save_weights(tmp_path / "tiny.conv.6", cutoff=6)  # `partial cfg/tiny.cfg tiny.weights tiny.conv.6 6`
    training = ClassifierTraining(crops, cfg, tmp_path / "tiny.conv.6", clear=True, seed=0, out=io.StringIO())
    losses = training.run()
    assert np.mean(losses[-5:]) < .85 * np.mean(losses[:5])  # measured: 2.59 -> 2.02
    reported = []
    top1, top5 = validate_classifier(crops, None, None, out=io.StringIO(), net=training.net,
                                     progress=lambda *a: reported.append(a))
    valid = read_paths(crops.parent / "valid.list")
    assert reported == [(i, len(valid)) for i in range(1, len(valid) + 1)]
    commonest = max(sum(f"/{name.strip('/')}/" in p for p in valid) for name in labels) / len(valid)
    assert top1 > commonest and top5 > 5 / len(labels)  # measured: top-1 .30 (commonest .20), top-5 .72
