"""`detector test` over many images: folders, lists, globs and stdin; per-image results kept (-out DIR, -json,
-save_labels, -ext_output), -batch N, and unreadable images skipped."""
import json
import os
import pty
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import ROOT, cli_output, run_cli, sample_frames
from darknet_py.cli import main
from darknet_py.data.augment import Augment
from darknet_py.data.detection import DetectionLoader
from darknet_py.data.lists import label_path, read_labels

COCO = ROOT / "cfg" / "coco.data"
IMAGES = 20


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """20 images of different sizes (a folder also holding a file that is not an image)."""
    path = tmp_path_factory.mktemp("images")
    for i, frame in enumerate(sample_frames(IMAGES)):
        name = f"img{i:02d}.{'png' if i % 2 else 'jpg'}"
        cv2.imwrite(str(path / name), cv2.resize(frame, (200 + 8 * i, 150 + 4 * i)))
    (path / "notes.txt").write_text("not an image\n")
    return path


def detector_test(capsys, small_detector, *args):
    return cli_output(capsys, "detector", "test", COCO, *small_detector, *args)


def per_image(out):
    """stdout as {image: its object lines}."""
    blocks = re.split(r"(?m)^(\S+): Predicted in [\d.]+ seconds\.$", out)[1:]
    return {path: lines.strip().splitlines() for path, lines in zip(blocks[::2], blocks[1::2])}


def test_a_folder_equals_single_runs_at_batch_1_and_4(capsys, tmp_path, small_detector, folder):
    paths = sorted(p for p in folder.iterdir() if p.suffix != ".txt")
    singles, records = {}, []
    for i, path in enumerate(paths):
        singles.update(per_image(detector_test(capsys, small_detector, path, "-out", tmp_path / f"single{i}",
                                               "-json", tmp_path / "one.json")))
        records += json.loads((tmp_path / "one.json").read_text())
    for batch in (1, 4):
        out = detector_test(capsys, small_detector, folder, "-batch", batch, "-out", tmp_path / f"b{batch}",
                            "-json", tmp_path / f"b{batch}.json")
        found = json.loads((tmp_path / f"b{batch}.json").read_text())
        assert [r["image"] for r in found] == [r["image"] for r in records] == list(map(str, paths))
        for i, path in enumerate(paths):
            drawn = cv2.imread(str(tmp_path / f"b{batch}" / f"{path.stem}.jpg"))
            single = cv2.imread(str(tmp_path / f"single{i}.jpg"))
            if batch == 1:  # the same computation: identical, bit for bit
                assert per_image(out)[str(path)] == singles[str(path)] and np.array_equal(drawn, single)
            assert drawn.shape == single.shape
        if batch == 1:
            assert found == records
        else:  # a batch of 4 rounds in another order on the fast CPU path (about 1e-6): the same objects
            for a, b in zip(found, records):
                assert [o["class_id"] for o in a["objects"]] == [o["class_id"] for o in b["objects"]]
                np.testing.assert_allclose([o["prob"] for o in a["objects"]], [o["prob"] for o in b["objects"]],
                                           atol=1e-5)
    assert sum(len(lines) for lines in singles.values()) > 50


def test_lists_globs_paths_and_stdin_give_the_same_images(capsys, tmp_path, small_detector, folder):
    paths = sorted(str(p) for p in folder.glob("img1*.png"))
    (tmp_path / "list.txt").write_text("".join(p + "\n" for p in paths))
    by_list = per_image(detector_test(capsys, small_detector, "-list", tmp_path / "list.txt", "-out", tmp_path / "l"))
    by_glob = per_image(detector_test(capsys, small_detector, str(folder / "img1*.png"), "-out", tmp_path / "g"))
    by_args = per_image(detector_test(capsys, small_detector, *paths, "-out", tmp_path / "a"))
    assert list(by_list) == list(by_glob) == list(by_args) == paths and by_list == by_glob == by_args
    assert sorted(os.listdir(tmp_path / "g")) == [os.path.basename(p).replace(".png", ".jpg") for p in paths]
    res = subprocess.run([sys.executable, "-m", "darknet_py", "detector", "test", COCO, *small_detector, "-dont_show"],
                         input=(tmp_path / "list.txt").read_text(), capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(ROOT), "PATH": os.environ["PATH"]})
    assert res.returncode == 0, res.stderr[-2000:]
    assert per_image(res.stdout) == by_list and "Enter Image Path" not in res.stdout  # AlexeyAB's `< list.txt`


def test_the_prompt_on_a_terminal(tmp_path, small_detector, folder):
    """Paths typed at a terminal: Darknet's prompt, one image at a time."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "darknet_py", "detector", "test", COCO, *small_detector],
                            stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={"PYTHONPATH": str(ROOT), "PATH": os.environ["PATH"]})
    os.write(leader, f"{folder / 'img00.jpg'}\n\x04".encode())  # a path, then Ctrl-D
    out, err = proc.communicate(timeout=120)
    os.close(leader)
    os.close(follower)
    assert proc.returncode == 0, err[-2000:]
    assert out.startswith("Enter Image Path: ") and out.count("Enter Image Path: ") == 2
    assert (tmp_path / "predictions.jpg").exists()


def test_ext_output_prints_alexeyabs_boxes(capsys, small_detector, folder):
    lines = per_image(detector_test(capsys, small_detector, folder / "img03.png", "-ext_output"))
    lines = lines[str(folder / "img03.png")]
    box = r"\t\(left_x: +-?\d+   top_y: +-?\d+   width: +\d+   height: +\d+\)"
    assert lines and all(re.fullmatch(r"\S[^\t]*: \d+%" + box, line) for line in lines)


def test_saved_labels_load_as_training_labels(capsys, tmp_path, small_detector, folder):
    (tmp_path / "images").mkdir()
    paths = []
    for name in ("img04.jpg", "img05.png"):
        paths.append(tmp_path / "images" / name)
        paths[-1].write_bytes((folder / name).read_bytes())
    detector_test(capsys, small_detector, tmp_path / "images", "-save_labels", "-json", tmp_path / "d.json",
                  "-thresh", .25)
    records = {r["image"]: r["objects"] for r in json.loads((tmp_path / "d.json").read_text())}
    for path in paths:
        labels = read_labels(label_path(path), 80)  # the training loader's file and reader (labels/ beside images/)
        assert label_path(path).startswith(str(tmp_path / "labels")) and len(labels) > 0
        best = {}  # one line per box: its most probable class (AlexeyAB's -save_labels)
        for o in records[str(path)]:
            key = tuple(o["relative"].values())
            if key not in best or o["prob"] > best[key][1]:
                best[key] = (o["class_id"], o["prob"])
        assert sorted(int(c) for c in labels[:, 0]) == sorted(c for c, _ in best.values())
        np.testing.assert_allclose(sorted(map(tuple, labels[:, 1:])), sorted(best), atol=5e-5)
    loader = DetectionLoader([str(p) for p in paths], 4, 160, 160, Augment(0, 0, 1, 1), 80, workers=1, seed=0)
    _, truth = loader.next()  # the training batches read them: every image gets its boxes
    loader.close()
    assert ((truth.reshape(4, -1, 5)[:, :, 2] > 0).sum(1) > 0).all()


def test_an_unreadable_image_is_skipped(capsys, tmp_path, small_detector, folder):
    (tmp_path / "broken.jpg").write_text("no image")
    code, out, err = run_cli(capsys, "detector", "test", COCO, *small_detector, folder / "img00.jpg",
                         tmp_path / "broken.jpg", folder / "img01.png", "-json", tmp_path / "d.json", "-out",
                         tmp_path / "out")
    assert code == 1 and "Traceback" not in err
    message = f"cannot read image {tmp_path / 'broken.jpg'}: not an image OpenCV can decode"
    assert f"darknet-py: warning: {message} (skipped)" in err.splitlines()
    assert err.splitlines()[-1] == f"darknet-py: error: 1 of 3 images could not be read (the first: {message})"
    assert list(per_image(out)) == [str(folder / "img00.jpg"), str(folder / "img01.png")]
    assert [r["image"] for r in json.loads((tmp_path / "d.json").read_text())] == list(per_image(out))
    assert sorted(os.listdir(tmp_path / "out")) == ["img00.jpg", "img01.jpg"]


def test_json_is_complete_after_every_image(capsys, tmp_path, small_detector, folder, monkeypatch):
    """A run that dies at the fourth image keeps a valid JSON of the three before it."""
    from darknet_py.image import save_image
    calls = []

    def dies_on_the_fourth(im, path):
        calls.append(path)
        if len(calls) == 4:
            raise MemoryError("out of memory")
        save_image(im, path)
    monkeypatch.setattr("darknet_py.commands.detections.save_image", dies_on_the_fourth)
    code = main([str(a) for a in ("detector", "test", COCO, *small_detector, folder, "-json", tmp_path / "d.json",
                                  "-out", tmp_path / "out")])
    assert code == 1 and capsys.readouterr().err.splitlines()[-1] == "darknet-py: error: out of memory (out of memory)"
    assert len(json.loads((tmp_path / "d.json").read_text())) == 3


@pytest.mark.parametrize("args,message", [
    (["{folder}/nothing*.jpg"], "nothing*.jpg: no file matches"),
    (["-list", "missing.txt"], "missing.txt: cannot open image list: No such file or directory"),
    (["{folder}", "-json", "none/d.json"], "-json none/d.json: the folder {tmp}/none does not exist"),
])
def test_bad_input_is_one_line(capsys, tmp_path, small_detector, folder, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "detector", "test", COCO, *small_detector, *[a.format(folder=folder) for a in args])
    assert code == 1 and message.format(tmp=tmp_path) in err.splitlines()[-1] and "Traceback" not in err


def test_an_unreadable_folder_is_one_line(capsys, tmp_path, small_detector, folder, monkeypatch):
    """A folder that cannot be listed (permissions, which root does not feel: os.listdir stands in)."""
    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr("darknet_py.commands.detections.os.listdir", denied)
    code, _, err = run_cli(capsys, "detector", "test", COCO, *small_detector, folder)
    assert code == 1 and err.splitlines() == [f"darknet-py: error: cannot read the folder {folder}: Permission denied"]
