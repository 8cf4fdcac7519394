"""`detector valid / recall / map / calc_anchors` end to end on a few coco128 images, against darknet."""
import json
import re
import subprocess

import cv2
import numpy as np
import pytest

from conftest import ROOT, SHARED, needs_oracle, project_cfg
from darknet_py.eval import anchor_figures as F
from darknet_py.eval import anchors as A
from darknet_py.cfg import basecfg
from darknet_py.eval import metrics, results
from darknet_py.boxes import Detection
from darknet_py.cli import main
from darknet_py.data.lists import label_path, read_labels
from darknet_py.eval.validate import MapCounter, map_table

COCO128 = SHARED / "datasets" / "coco128" / "images" / "train2017"
IMAGES = sorted(COCO128.glob("*.jpg"))
needs_coco = pytest.mark.skipif(not IMAGES, reason="coco128 not available")
NAMES = (ROOT / "data" / "coco.names").read_text().split("\n")[:80]
SIZE = 160  # a small input keeps the forward passes fast; the weights do not depend on it


@pytest.fixture
def setup(tmp_path, random_weights, monkeypatch):
    """A 160x160 yolov2-tiny with confident random weights, a 5-image valid list and .data files."""
    monkeypatch.chdir(tmp_path)
    text = project_cfg("yolov2-tiny").read_text()
    text = re.sub(r"(?m)^height=\d+", f"height={SIZE}", re.sub(r"(?m)^width=\d+", f"width={SIZE}", text))
    (tmp_path / "net.cfg").write_text(text)
    # validate_detector starts 4 loader threads on paths[0..3] unchecked: darknet needs >= 4 images
    (tmp_path / "valid.txt").write_text("".join(f"{p}\n" for p in IMAGES[:5]))
    (tmp_path / "train.txt").write_text("".join(f"{p}\n" for p in IMAGES))
    for kind in ("voc", "coco"):
        for who in ("ours", "theirs"):
            (tmp_path / f"{kind}-{who}.data").write_text(
                f"classes=80\nvalid={tmp_path}/valid.txt\ntrain={tmp_path}/train.txt\n"
                f"names={ROOT}/data/coco.names\neval={kind}\nresults={tmp_path}/{kind}-{who}\n")
    weights = random_weights(project_cfg("yolov2-tiny"), seed=7, confident=True)
    return tmp_path, tmp_path / "net.cfg", weights


def cli(capsys, *args):
    """Run darknet-py in this process: (stdout lines, stderr lines); fails on a non-zero exit."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    return out.splitlines(), err.splitlines()


def darknet(cwd, *args):
    res = subprocess.run(["darknet", "detector", *map(str, args)], cwd=cwd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stderr.splitlines()


def split_numbers(lines):
    """Formatted lines as (their text fields, all their decimals) to compare with a tolerance."""
    fields = [re.split(r"[ ,:\[\]{}\"\t%]+", line) for line in lines]
    texts = [[f for f in row if not re.fullmatch(r"-?\d+\.\d+", f)] for row in fields]
    return texts, np.array([float(f) for row in fields for f in row if re.fullmatch(r"-?\d+\.\d+", f)])


def assert_same_files(ours, theirs):
    files = sorted(p.name for p in theirs.iterdir())
    assert files == sorted(p.name for p in ours.iterdir())
    total = 0
    for name in files:
        (t_text, t_num) = split_numbers((theirs / name).read_text().splitlines())
        (o_text, o_num) = split_numbers((ours / name).read_text().splitlines())
        assert o_text == t_text, name
        # the forward pass agrees to ~1e-5 relative: a few thousandths of a pixel on box sides
        np.testing.assert_allclose(o_num, t_num, rtol=1e-4, atol=2e-3)
        total += len(t_text)
    assert total > 10


# ---------------------------------------------------------------------------------------------- valid

@needs_oracle
@needs_coco
@pytest.mark.parametrize("kind", ["voc", "coco"])
def test_valid_writes_darknets_files(kind, setup, capsys):
    tmp, cfg, weights = setup
    (tmp / f"{kind}-theirs").mkdir()
    darknet(tmp, "valid", tmp / f"{kind}-theirs.data", cfg, weights)
    # 2 images per forward: batches of 2, 2, 1
    _, err = cli(capsys, "detector", "valid", tmp / f"{kind}-ours.data", cfg, weights, "-nogpu", "-batch", 2)
    assert err[-1].startswith("Total Detection Time: ")
    assert_same_files(tmp / f"{kind}-ours", tmp / f"{kind}-theirs")


def sized_project_cfg(name, folder, size=SIZE):
    text = project_cfg(name).read_text()
    path = folder / f"{name}-{size}.cfg"
    path.write_text(re.sub(r"(?m)^height=\d+", f"height={size}", re.sub(r"(?m)^width=\d+", f"width={size}", text)))
    return path


@needs_oracle
@needs_coco
def test_valid_of_yolov3_writes_darknets_files(setup, capsys, random_weights):
    """YOLOv3-tiny's two [yolo] layers through validate_detector: the same comp4 files as /usr/bin/darknet."""
    tmp, _, _ = setup
    cfg = sized_project_cfg("yolov3-tiny", tmp)
    weights = random_weights(project_cfg("yolov3-tiny"), seed=7, confident=True)
    (tmp / "voc-theirs").mkdir()
    darknet(tmp, "valid", tmp / "voc-theirs.data", cfg, weights)
    cli(capsys, "detector", "valid", tmp / "voc-ours.data", cfg, weights, "-nogpu", "-batch", 2)
    assert_same_files(tmp / "voc-ours", tmp / "voc-theirs")


@needs_coco
def test_valid_recall_and_map_of_yolov1(setup, capsys, random_weights):
    """YOLOv1 ([detection]) resized, as examples/yolo.c validates it: boxes in image pixels for valid, relative
    for recall (Darknet's detector valid/recall give it the letterbox's or the network's sizes)."""
    tmp, _, _ = setup
    cfg = sized_project_cfg("yolov1-tiny", tmp, 224)
    weights = random_weights(cfg, seed=7, confident=True)
    (tmp / "images").mkdir()
    (tmp / "labels").mkdir()
    for p in IMAGES[:5]:  # a VOC-sized copy: COCO's class ids modulo 20
        (tmp / "images" / p.name).write_bytes(p.read_bytes())
        rows = read_labels(label_path(p))
        (tmp / "labels" / f"{p.stem}.txt").write_text("".join(f"{int(c) % 20} {x} {y} {w} {h}\n"
                                                               for c, x, y, w, h in rows))
    (tmp / "v1.txt").write_text("".join(f"{tmp / 'images' / p.name}\n" for p in IMAGES[:5]))
    (tmp / "v1.data").write_text(f"classes=20\nvalid={tmp}/v1.txt\nnames={ROOT}/data/voc.names\n"
                                 f"results={tmp}/v1\n")
    cli(capsys, "detector", "valid", tmp / "v1.data", cfg, weights, "-nogpu")
    lines = [line.split() for f in (tmp / "v1").iterdir() for line in f.read_text().splitlines()]
    assert len(lines) > 20
    sizes = {p.stem: cv2.imread(str(p)).shape[:2] for p in IMAGES[:5]}
    for image_id, _, xmin, ymin, xmax, ymax in lines:  # 1-based corners clamped to the image
        h, w = sizes[image_id]
        assert 1 <= float(xmin) <= float(xmax) <= w and 1 <= float(ymin) <= float(ymax) <= h
    _, err = cli(capsys, "detector", "recall", tmp / "v1.data", cfg, weights, "-nogpu")
    assert len([line for line in err if "RPs/Img" in line]) == 5
    out, _ = cli(capsys, "detector", "map", tmp / "v1.data", cfg, weights, "-nogpu")
    assert any(line.startswith("mAP@0.5 (VOC2007 11-point)") for line in out)


@needs_coco
def test_valid_out_prefix_and_default_results_folder(setup, capsys):
    tmp, cfg, weights = setup
    (tmp / "plain.data").write_text(f"valid={tmp}/valid.txt\nnames={ROOT}/data/coco.names\n")
    cli(capsys, "detector", "valid", tmp / "plain.data", cfg, weights, "-out", "mine_", "-nogpu")
    assert sorted(p.name for p in (tmp / "results").iterdir()) == sorted(f"mine_{n}.txt" for n in NAMES)


# ---------------------------------------------------------------------------------------------- recall

@needs_oracle
@needs_coco
def test_recall_prints_darknets_lines(setup, capsys):
    tmp, cfg, weights = setup
    (tmp / "data").mkdir()  # darknet's recall reads its fixed list data/coco_val_5k.list
    (tmp / "data" / "coco_val_5k.list").write_text((tmp / "valid.txt").read_text())
    theirs = [line for line in darknet(tmp, "recall", "unused.data", cfg, weights) if "RPs/Img" in line]
    _, err = cli(capsys, "detector", "recall", tmp / "voc-ours.data", cfg, weights, "-nogpu", "-batch", 3)
    ours = [line for line in err if "RPs/Img" in line]
    assert len(ours) == len(theirs) == 5
    (t_text, t_num), (o_text, o_num) = split_numbers(theirs), split_numbers(ours)
    assert o_text == t_text
    np.testing.assert_allclose(o_num, t_num, atol=.0101)  # printed with 2 decimals


# ---------------------------------------------------------------------------------------------- map

def parse_map(lines):
    """`detector map` output: {class id: (truths, dets, AP07, AP, AP coco)}, VOC07 mAP, AUC mAP, COCO APs."""
    rows = {int(m[1]): (int(m[2]), int(m[3]), float(m[4]), float(m[5]), float(m[6]))
            for m in (re.match(r"\s*(\d+)\s+\S+\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)$", line) for line in lines)
            if m}
    text = "\n".join(lines)
    voc07 = float(re.search(r"11-point\): ([\d.]+)", text)[1])
    voc = float(re.search(r"under curve\): ([\d.]+)", text)[1])
    coco = [float(v) for v in re.search(r"COCO AP@\[.5:.95\]: ([\d.]+)  AP@.5: ([\d.]+)  AP@.75: ([\d.]+)",
                                        text).groups()]
    return rows, voc07, voc, coco


def truths_of(paths):
    """The devkit's and COCO's truths for the valid images, by hand from their label files."""
    voc, coco = [], []
    for p in paths:
        h, w = cv2.imread(str(p)).shape[:2]
        for c, x, y, bw, bh in read_labels(label_path(p)).astype(float):
            voc.append((basecfg(p), int(c), max(x * w - bw * w / 2 + 1, 1), max(y * h - bh * h / 2 + 1, 1),
                        min(x * w + bw * w / 2 + 1, w), min(y * h + bh * h / 2 + 1, h)))
            coco.append((results.coco_image_id(p), int(c), (x - bw / 2) * w, (y - bh / 2) * h, bw * w, bh * h))
    return voc, coco


@needs_coco
def test_map_equals_the_metrics_on_valids_files(setup, capsys):
    """map's numbers = metrics.voc_map / coco_map over the comp4 files and json that valid writes."""
    tmp, cfg, weights = setup
    for kind in ("voc", "coco"):
        cli(capsys, "detector", "valid", tmp / f"{kind}-ours.data", cfg, weights, "-nogpu")
    dets = [(line.split()[0], c, *map(float, line.split()[1:]))
            for c, name in enumerate(NAMES)
            for line in (tmp / "voc-ours" / f"comp4_det_test_{name}.txt").read_text().splitlines()]
    coco_dets = [(r["image_id"], results.COCO_IDS.index(r["category_id"]), r["score"], *r["bbox"])
                 for r in json.loads((tmp / "coco-ours" / "coco_results.json").read_text())]
    voc_truths, coco_truths = truths_of(IMAGES[:5])
    want_coco = metrics.coco_map(coco_dets, coco_truths)
    for iou in (.5, .3):
        out, _ = cli(capsys, "detector", "map", tmp / "voc-ours.data", cfg, weights, "-iou", iou, "-nogpu")
        rows, voc07, voc, coco = parse_map(out)
        want07, aps07 = metrics.voc_map(dets, voc_truths, 80, iou, use_07_metric=True)
        want, aps = metrics.voc_map(dets, voc_truths, 80, iou, use_07_metric=False)
        assert voc07 == pytest.approx(want07, abs=5e-5) and voc == pytest.approx(want, abs=5e-5)
        assert coco == pytest.approx([want_coco["AP"], want_coco["AP50"], want_coco["AP75"]], abs=5e-5)
        assert sorted(rows) == sorted({t[1] for t in voc_truths})
        for c, (n_truths, n_dets, ap07, ap, ap_coco) in rows.items():
            assert n_truths == sum(t[1] == c for t in voc_truths)
            assert n_dets == sum(d[1] == c for d in dets)
            assert (ap07, ap, ap_coco) == pytest.approx((aps07[c], aps[c], want_coco["per_class"][c]), abs=5e-5)
        assert want07 > 0  # the confident random weights do hit a few truths


@needs_coco
def test_map_of_perfect_detections_is_one():
    counter = MapCounter(80)
    for p in IMAGES[:8]:
        h, w = cv2.imread(str(p)).shape[:2]
        labels = read_labels(label_path(p))
        dets = [Detection(np.float32([x * w, y * h, bw * w, bh * h]), 1., np.eye(80, dtype=np.float32)[int(c)])
                for c, x, y, bw, bh in labels]
        counter.add(dets, labels, w, h)
    result = counter.result()
    assert result.voc07 == pytest.approx(1) and result.voc == pytest.approx(1)
    assert result.coco["AP"] == pytest.approx(1)
    lines = map_table(result, NAMES)
    assert "mAP@0.5 (VOC2007 11-point): 1.0000" in lines
    assert (result.truths == result.dets).all() and result.truths.sum() > 20


@needs_coco
def test_map_needs_label_files(setup, capsys, tmp_path):
    tmp, cfg, weights = setup
    (tmp / "pics").mkdir()
    (tmp / "pics" / "a.jpg").write_bytes(IMAGES[0].read_bytes())  # no labels/ folder beside it
    (tmp / "nolabels.txt").write_text(f"{tmp / 'pics' / 'a.jpg'}\n")
    (tmp / "nolabels.data").write_text(f"valid={tmp}/nolabels.txt\nnames={ROOT}/data/coco.names\n")
    assert main(["detector", "map", str(tmp / "nolabels.data"), str(cfg), str(weights), "-nogpu"]) == 1
    assert "cannot open label file" in capsys.readouterr().err.splitlines()[-1]


# ---------------------------------------------------------------------------------------------- anchors

@needs_coco
def test_calc_anchors_prints_kmeans_and_writes_figure2(setup, capsys):
    tmp, _, _ = setup
    out, _ = cli(capsys, "detector", "calc_anchors", tmp / "voc-ours.data", "-num_of_clusters", 5,
                 "-width", 320, "-height", 416, "-show", "-plot", tmp / "fig2.png")
    boxes = A.label_sizes([label_path(p) for p in IMAGES], 320, 416)
    anchors, iou = A.kmeans_anchors(boxes, 5, 0, n_init=F.N_INIT)
    assert f"anchors = {A.format_anchors(anchors)}" in out
    assert f" avg IoU = {100 * iou:.2f} %" in out
    assert len(out[out.index(f"anchors = {A.format_anchors(anchors)}")].split("=")[1].split(", ")) == 5
    table = F.table1(boxes, 320, 416, 0)
    for line in F.format_table1(table).splitlines():
        assert line in out
    ious = dict((row[:2], row[2]) for row in table)
    # Table 1's ordering: IoU clusters beat SSE clusters and 9 IoU clusters beat the 9 hand-picked anchors
    assert ious["Cluster IOU", 5] > ious["Cluster SSE", 5] and ious["Cluster IOU", 9] > ious["Anchor Boxes", 9]
    curve = [line for line in out if line.startswith("K=")]
    assert len(curve) == 9
    img = cv2.imread(str(tmp / "fig2.png"))
    assert img.shape == (F.PLOT_SIZE[1], F.PLOT_SIZE[0], 3)
    assert (np.abs(img.astype(int) - F.IOU_COLOR).sum(-1) < 30).sum() > 200  # the IoU curve is drawn


@needs_coco
def test_calc_anchors_for_yolov3_in_pixels_with_masks(setup, capsys):
    """-yolo 3: nine clusters in input pixels (YOLOv3's anchor unit), the largest three for the first [yolo]."""
    tmp, _, _ = setup
    out, _ = cli(capsys, "detector", "calc_anchors", tmp / "voc-ours.data", "-yolo", 3, "-width", 416,
                 "-height", 416)
    boxes = A.label_sizes([label_path(p) for p in IMAGES], 416, 416, stride=1)
    anchors, _ = A.kmeans_anchors(boxes, 9, 0, n_init=F.N_INIT)
    np.testing.assert_allclose(anchors, A.kmeans_anchors(boxes / 32, 9, 0, n_init=F.N_INIT)[0] * 32, rtol=1e-9)
    assert f"anchors = {A.format_anchors(anchors, digits=0)}" in out
    assert [line.split("= ")[1] for line in out if line.startswith("[yolo]")] == ["6,7,8", "3,4,5", "0,1,2"]
    assert A.yolo_masks(6, 2) == [[3, 4, 5], [0, 1, 2]] and A.yolo_masks(10, 3)[0] == [6, 7, 8, 9]


@needs_coco
def test_calc_anchors_errors(setup, capsys):
    tmp, _, _ = setup
    assert main(["detector", "calc_anchors", str(tmp / "voc-ours.data"), "-num_of_clusters", "0"]) == 1
    assert "flag -num_of_clusters must be at least 1, got 0" in capsys.readouterr().err.splitlines()[-1]
