"""YOLO9000 joint training: classification-only images (truth x, y = 999999) move only the class tree at
one cell/anchor and the objectness, detection images the whole region loss; MixedLoader mixes the two
kinds in every batch."""
import functools
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED

from darknet_py.data.augment import Augment, CLASSIFICATION_BOX
from darknet_py.data.lists import label_path
from darknet_py.data.mixed import MixedLoader, classification_labels, detection_count
from darknet_py.network import Network
from darknet_py.train.sgd import train_datum

COCO = SHARED / "datasets" / "coco128"
needs_coco = pytest.mark.skipif(not (COCO / "images").is_dir(), reason="coco128 is not in the shared folder")

# animal {cat, dog {terrier, hound}}, thing {cup}
TREE = [("animal", -1), ("thing", -1), ("cat", 0), ("dog", 0), ("cup", 1), ("terrier", 3), ("hound", 3)]
CFG = """[net]
batch=2
subdivisions=1
width=12
height=12
channels=3
learning_rate=.01

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
filters={filters}
size=1
stride=1
activation=linear

[region]
anchors=1,1, 2,1.5
bias_match=1
classes=7
coords=4
num=2
softmax=1
tree={tree}
object_scale=5
noobject_scale=1
class_scale=1
coord_scale=1
thresh=.6
"""


def tree_detector(tmp_path):
    tree = tmp_path / "small.tree"
    tree.write_text("".join(f"{n} {p}\n" for n, p in TREE))
    cfg = tmp_path / "joint.cfg"
    cfg.write_text(CFG.format(filters=2 * (5 + 7), tree=tree))
    np.random.seed(0)
    return Network.from_cfg(cfg)


def test_classification_only_image_backprops_only_its_class_tree(tmp_path):
    net = tree_detector(tmp_path)
    net.seen = 0  # the anchor-prior term is on: it must still leave the classification image alone
    x = np.random.default_rng(1).random((2, 3, 12, 12), dtype=np.float32)
    truth = np.zeros((2, 150), np.float32)
    truth[0, :5] = [.4, .6, .3, .4, 5]  # a detection image: a terrier box
    truth[1, :5] = [CLASSIFICATION_BOX] * 4 + [6]  # a classification image: "hound", no box
    net.forward(x, train=True, truth=truth)
    region = net.layers[-1]
    out = region.output.reshape(2, 2, 12, 3, 3)  # batch, anchor, entry, row, column
    delta = region.delta.reshape(2, 2, 12, 3, 3)
    # Detection image: box deltas everywhere (the prior pull before 12800 images, then the truth's).
    assert np.count_nonzero(delta[0, :, :4]) == 2 * 4 * 9
    # Classification image: no box delta at any anchor or cell ...
    assert not delta[1, :, :4].any()
    # ... class deltas at exactly one anchor/cell: the best sigma(obj) * P(hound), on hound's tree path.
    score = out[1, :, 4] * out[1, :, 5 + 6] * out[1, :, 5 + 3] * out[1, :, 5 + 0]
    n, j, i = np.unravel_index(np.argmax(score), score.shape)
    classes = delta[1, :, 5:].copy()
    path_and_siblings = [0, 1, 2, 3, 5, 6]  # hound and terrier, dog and cat, animal and thing
    np.testing.assert_allclose(classes[n, :, j, i][path_and_siblings],
                               (np.array([1, 0, 0, 1, 0, 0, 1]) - out[1, n, 5:, j, i])[path_and_siblings], atol=1e-6)
    assert classes[n, 4, j, i] == 0  # cup's group is off the path
    classes[n, :, j, i] = 0
    assert not classes.any()
    # ... and objectness pushed to 0 everywhere but there (Darknet zeroes the .3 target it computed).
    want = -out[1, :, 4].copy()
    want[n, j, i] = 0
    np.testing.assert_allclose(delta[1, :, 4], want, atol=1e-7)
    # The step runs end to end on a mixed batch.
    before = net.layers[0].weights.copy()
    net.seen = 0
    assert np.isfinite(train_datum(net, x, truth))
    assert not np.array_equal(before, net.layers[0].weights)


def test_detection_count():
    assert [detection_count(16, r) for r in (0, 1, 3, 4)] == [16, 8, 4, 3]
    assert detection_count(2, 100) == 1


@pytest.fixture
def mixed_lists(tmp_path):
    images = sorted((COCO / "images" / "train2017").glob("*.jpg"))[:3]
    det, cls = [], []
    for d in ("det/images", "det/labels", "cls/images", "cls/labels"):
        (tmp_path / d).mkdir(parents=True)
    for k, src in enumerate(images):
        shutil.copy(src, tmp_path / "det" / "images" / src.name)
        shutil.copy(COCO / "labels" / "train2017" / (src.stem + ".txt"), tmp_path / "det" / "labels")
        det.append(str(tmp_path / "det" / "images" / src.name))
        shutil.copy(src, tmp_path / "cls" / "images" / src.name)
        (tmp_path / "cls" / "labels" / (src.stem + ".txt")).write_text(classification_labels([k + 10]))
        cls.append(str(tmp_path / "cls" / "images" / src.name))
    return det, cls


@needs_coco
def test_mixed_loader_mixes_and_resizes(mixed_lists):
    det, cls = mixed_lists
    make = functools.partial(MixedLoader, det, 5, 32, 32, Augment(), 80, 1, 3, class_paths=cls, ratio=4)
    with make() as a, make() as b:
        x, truth = a.next()
        x2, truth2 = b.next()
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(truth, truth2)
        assert x.shape == (5, 3, 32, 32)
        only_class = truth[:, 0] == CLASSIFICATION_BOX
        assert only_class.sum() == 4  # ratio 4: one detection image, four classification ones
        assert set(truth[only_class, 4].astype(int)) <= {10, 11, 12} and (truth[only_class, 5] == 0).all()
        assert (truth[~only_class, 0] < 1).all()
        a.resize(64, 48)
        assert a.next()[0].shape == (5, 3, 48, 64)


@needs_coco
def test_train_detector_takes_a_mixed_loader(mixed_lists, tmp_path):
    """train_detector(loader_class=MixedLoader...) runs joint batches (YOLO9000's training)."""
    from darknet_py.train.train_detector import train_detector
    det, cls = mixed_lists
    cfg = tree_detector(tmp_path).path
    (tmp_path / "det.list").write_text("\n".join(det) + "\n")
    data = tmp_path / "joint.data"
    data.write_text(f"classes=7\ntrain={tmp_path}/det.list\nbackup={tmp_path}/backup\n")
    for p in cls:  # classification labels inside the 7-class tree: "hound"
        Path(label_path(p)).write_text(classification_labels([6]))
    for p in det:  # coco ids folded into the 7 classes
        label = Path(label_path(p))
        rows = [line.split() for line in label.read_text().splitlines()]
        label.write_text("".join(f"{int(r[0]) % 7} {' '.join(r[1:])}\n" for r in rows))
    loader = functools.partial(MixedLoader, class_paths=cls, ratio=1)
    final = train_detector(str(data), str(cfg), max_batches=2, seed=0, workers=1, progress=False,
                           loader_class=loader)
    assert Network.from_cfg(cfg).load_weights(final).seen == 4
