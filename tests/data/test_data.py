"""darknet_py.data against libdarknet's data.c/image.c (place_image, distort_image, load_data_detection)."""
import shutil
from pathlib import Path

import numpy as np
import pytest

import oracle
from conftest import SHARED, darknet_cfg, needs_oracle
from darknet_py.data import augment, detection, lists
from darknet_py.errors import DarknetError
from darknet_py.image import load_image, resize_image
from darknet_py.network import Network

COCO128 = SHARED / "datasets" / "coco128"
IMAGES = sorted((COCO128 / "images" / "train2017").glob("*.jpg"))
needs_coco = pytest.mark.skipif(not IMAGES, reason="coco128 not available")


def test_label_path_follows_darknet_rules():
    assert lists.label_path("/d/images/train/a.jpg") == "/d/labels/train/a.txt"
    assert lists.label_path("/voc/VOC2007/JPEGImages/0001.JPEG") == "/voc/VOC2007/labels/0001.txt"
    assert lists.label_path("/x/raw/b.png") == "/x/labels/b.txt"
    # first occurrence only, as darknet's find_replace
    assert lists.label_path("/images/images/c.jpg") == "/labels/images/c.txt"


def test_read_labels_and_errors(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("3 0.5 0.5 0.2 0.1\n\n7 .1 .2 .3 .4\n")
    labels = lists.read_labels(good)
    assert labels.dtype == np.float32 and labels.shape == (2, 5)
    np.testing.assert_array_equal(labels[1], np.float32([7, .1, .2, .3, .4]))
    bad = tmp_path / "bad.txt"
    bad.write_text("3 0.5 0.5 0.2 0.1\n4 0.5 oops 0.2 0.1\n")
    with pytest.raises(lists.LabelError, match=r"bad\.txt:2: expected 'class x y w h'"):
        lists.read_labels(bad)
    with pytest.raises(lists.LabelError, match=r"good\.txt:3: class 7 outside \[0, 5\)"):
        lists.read_labels(good, classes=5)
    with pytest.raises(lists.LabelError, match="cannot open label file"):
        lists.read_labels(tmp_path / "missing.txt")


def test_read_paths(tmp_path):
    lst = tmp_path / "train.txt"
    lst.write_text("a.jpg\n\n b.jpg \n")
    assert lists.read_paths(lst) == ["a.jpg", "b.jpg"]
    lst.write_text("\n")
    with pytest.raises(DarknetError, match="empty"):
        lists.read_paths(lst)


def test_correct_boxes_by_hand():
    labels = np.float32([[1, .5, .5, .4, .2], [2, .9, .1, .4, .4], [5, 0, 0, .3, .3]])
    out = augment.correct_boxes(labels, dx=-.1, dy=0, sx=.5, sy=1, flip=True)
    # box 0: edges .3,.7 -> .25,.45 -> flipped .55,.75
    np.testing.assert_allclose(out[0], [.65, .5, .2, .2], atol=1e-6)
    # box 1: x edges .7,1.1 -> .45,.65 -> flipped .35,.55; y edges -.1,.3 clamped to 0,.3
    np.testing.assert_allclose(out[1], [.45, .15, .2, .3], atol=1e-6)
    np.testing.assert_array_equal(out[2], [999999] * 4)  # classification-only truth


def test_hsv_round_trip():
    im = np.random.default_rng(0).random((3, 8, 9), dtype=np.float32)
    np.testing.assert_allclose(augment.hsv_to_rgb(augment.rgb_to_hsv(im)), im, atol=1e-6)


@needs_oracle
@needs_coco
@pytest.mark.parametrize("w,h,dx,dy,cw,ch", [(90, 60, 3, 2, 96, 64), (50, 70, -5, 10, 64, 64),
                                             (96, 64, 0, 0, 96, 64), (413, 301, 1, 0, 416, 416)])
def test_place_image_matches_darknet(w, h, dx, dy, cw, ch):
    im = load_image(IMAGES[0])
    canvas = np.full((3, ch, cw), detection.CANVAS_FILL, np.float32)
    augment.place_image(im, w, h, dx, dy, canvas)
    np.testing.assert_array_equal(canvas, oracle.place_image(im, w, h, dx, dy, cw, ch))


@needs_oracle
@needs_coco
@pytest.mark.parametrize("hue,sat,val", [(.1, 1.5, 1.5), (-.1, .7, 1.2), (.45, 1 / 1.5, 1)])
def test_distort_image_is_bit_exact(hue, sat, val):
    im = resize_image(load_image(IMAGES[1]), 40, 30)
    im[:, :4, :4] = .3   # grey: darknet's hue is NaN there
    im[:, 4:8, :4] = 0   # black
    want = oracle.distort_image(im, hue, sat, val)
    np.testing.assert_array_equal(augment.distort_image(im, hue, sat, val), want)


@pytest.fixture
def tricky_set(tmp_path):
    """Two images; one label file with 35 boxes (past the 30 cap), tiny boxes and a classification label."""
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    rng = np.random.default_rng(3)
    rows = [f"{rng.integers(80)} {x:.4f} {y:.4f} {w:.4f} {h:.4f}"
            for x, y, w, h in rng.uniform(.05, .95, (30, 4)) * [1, 1, .5, .5]]
    rows += ["1 0.5 0.5 0.0004 0.2", "2 0.3 0.3 0.2 0.0001", "9 0 0 0.5 0.5", "4 0.999 0.5 0.3 0.3",
             "5 0.2 0.8 0.1 0.1"]
    paths = []
    for i, src in enumerate(IMAGES[:2]):
        dst = tmp_path / "images" / f"{i}.jpg"
        shutil.copy(src, dst)
        label = src.parent.parent.parent / "labels" / "train2017" / (src.stem + ".txt")
        text = "\n".join(rows) + "\n" if i == 0 else label.read_text()
        (tmp_path / "labels" / f"{i}.txt").write_text(text)
        paths.append(str(dst))
    return paths


@needs_oracle
@needs_coco
@pytest.mark.parametrize("seed", [1, 7, 12])
def test_detection_batch_matches_darknet_rand_stream(tricky_set, seed):
    """Same srand seed => bit-identical picks, jitter, pixels, distortion, flip, shuffle and truth."""
    aug = augment.Augment(jitter=.3, hue=.1, saturation=1.5, exposure=1.5)
    want_x, want_y = oracle.detection_data(seed, tricky_set, 4, 96, 64, 30, 80, aug.jitter, aug.hue,
                                           aug.saturation, aug.exposure)
    x, y = detection.load_detection_batch(tricky_set, 4, 96, 64, aug, oracle.LibcRandom(seed), classes=80)
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y, want_y)


def test_loader_is_deterministic_and_resizes(tricky_set):
    aug = augment.Augment()
    with detection.DetectionLoader(tricky_set, 2, 64, 64, aug, classes=80, workers=1, seed=5) as a, \
            detection.DetectionLoader(tricky_set, 2, 64, 64, aug, classes=80, workers=3, seed=5) as b:
        for _ in range(3):
            (xa, ya), (xb, yb) = a.next(), b.next()
            assert xa.shape == (2, 3, 64, 64) and ya.shape == (2, detection.NUM_BOXES * 5)
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
        a.resize(96, 32)
        b.resize(96, 32)
        (xa, ya), (xb, yb) = a.next(), b.next()
        assert xa.shape == (2, 3, 32, 96)
        np.testing.assert_array_equal(xa, xb)
        assert ((xa >= 0) & (xa <= 1)).all()


def test_loader_reports_missing_labels(tmp_path):
    (tmp_path / "images").mkdir()
    img = tmp_path / "images" / "a.jpg"
    shutil.copy(IMAGES[0], img) if IMAGES else pytest.skip("coco128 not available")
    with detection.DetectionLoader([str(img)], 1, 32, 32, workers=1) as loader:
        with pytest.raises(lists.LabelError, match="cannot open label file"):
            loader.next()


def test_augment_from_network():
    net = Network.from_cfg(darknet_cfg("yolov2-tiny"))
    assert augment.Augment.from_network(net) == augment.Augment(jitter=.2, hue=.1, saturation=1.5, exposure=1.5)


@needs_oracle
@needs_coco
@pytest.mark.parametrize("seed", [2, 9])
def test_region_batch_matches_darknet_rand_stream(tricky_set, seed):
    """YOLOv1's data (load_data_region): crop, resize, flip, distortion and the grid truth as libdarknet's.
    (Without the classification-only label: fill_truth_region writes its 999999 box past the grid.)"""
    labels = Path(tricky_set[0].replace("images", "labels").replace(".jpg", ".txt"))
    labels.write_text("".join(line + "\n" for line in labels.read_text().splitlines() if line != "9 0 0 0.5 0.5"))
    aug = augment.Augment(jitter=.2, hue=.1, saturation=1.5, exposure=1.5)
    want_x, want_y = oracle.region_data(seed, tricky_set, 4, 96, 64, 7, 80, aug.jitter, aug.hue, aug.saturation,
                                        aug.exposure)
    x, y = detection.load_detection_batch(tricky_set, 4, 96, 64, aug, oracle.LibcRandom(seed), 7, 80,
                                          detection.load_region_image, 7 * 7 * 85)
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y, want_y)
