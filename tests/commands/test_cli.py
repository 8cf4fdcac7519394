"""The command line end to end: `detector test`, `classifier predict`, errors."""
import json
import subprocess
import sys

import cv2
import pytest

from conftest import DARKNET_DATA, ROOT, SHARED, darknet_cfg, needs_oracle, project_cfg
from darknet_py.detector import detect_images
from darknet_py.network import Network


def run(args, cwd, stdin=""):
    return subprocess.run([sys.executable, "-m", "darknet_py", *map(str, args)], input=stdin,
                          capture_output=True, text=True, cwd=cwd, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


@needs_oracle
def test_detector_test_prints_draws_and_writes_json(tmp_path, random_weights):
    weights = random_weights(darknet_cfg("yolov2-tiny"), seed=7, confident=True)
    image = DARKNET_DATA / "dog.jpg"
    res = run(["detector", "test", ROOT / "cfg/coco.data", project_cfg("yolov2-tiny"), weights, image,
               "-thresh", ".25", "-out", tmp_path / "pred", "-json", tmp_path / "out.json"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"{image}: Predicted in ")
    names = (ROOT / "data/coco.names").read_text().split("\n")
    dets = detect_images(Network.from_cfg(project_cfg("yolov2-tiny")).load_weights(weights), [image], .25)[0]
    expected = [f"{names[j]}: {d.prob[j] * 100:.0f}%" for d in dets for j in range(80) if d.prob[j] > .25]
    assert lines[1:] == expected and expected
    drawn = cv2.imread(str(tmp_path / "pred.jpg"))
    assert drawn.shape == (576, 768, 3)
    found = json.loads((tmp_path / "out.json").read_text())
    assert [f"{o['name']}: {o['prob'] * 100:.0f}%" for o in found[0]["objects"]] == expected


@needs_oracle
def test_detector_test_reads_paths_from_stdin_when_no_image_is_given(tmp_path, random_weights):
    """`< list.txt`: one path per line, no prompt (test_detector_test.py: the prompt on a terminal)."""
    weights = random_weights(darknet_cfg("yolov2-tiny"), seed=7, confident=True)
    res = run(["detector", "test", ROOT / "cfg/coco.data", project_cfg("yolov2-tiny"), weights],
              cwd=tmp_path, stdin=f"{DARKNET_DATA / 'dog.jpg'}\n")
    assert res.returncode == 0 and res.stdout.startswith(f"{DARKNET_DATA / 'dog.jpg'}: Predicted in ")
    assert (tmp_path / "predictions.jpg").exists()


@needs_oracle
def test_classifier_predict_like_darknet(tmp_path):
    tiny = SHARED / "weights/tiny.weights"
    if not tiny.exists():
        pytest.skip("tiny.weights not found")
    res = run(["classifier", "predict", ROOT / "cfg/imagenet1k.data", project_cfg("tiny"), tiny,
               DARKNET_DATA / "dog.jpg"], cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "14.18%: malamute"


@pytest.mark.parametrize("args,message", [
    (["detector", "test", "cfg/coco.data", "cfg/yolov2-tiny.cfg", "missing.weights", "x.jpg"], "missing.weights: cannot read weights"),
    (["detector", "test", "cfg/coco.data", "nope.cfg", "w", "x.jpg"], "nope.cfg: cannot read"),
    (["detector", "test", "cfg/coco.data"], "usage"),
    (["detector", "fly"], "unknown command"),
    (["detector", "test", "cfg/coco.data", "cfg/yolov2-tiny.cfg", "w", "-thresh", "high"], "expects a number"),
    (["detector", "test", "cfg/coco.data", "cfg/yolov2-tiny.cfg", "w", "-bogus"], "unknown flag -bogus"),
])
def test_errors_are_one_line(args, message):
    res = run(args, cwd=ROOT)
    assert res.returncode == 1
    assert message in res.stderr.splitlines()[-1] and "Traceback" not in res.stderr


def test_unreadable_image_is_an_error(tmp_path, random_weights):
    weights = random_weights(darknet_cfg("yolov2-tiny"))
    res = run(["detector", "test", ROOT / "cfg/coco.data", project_cfg("yolov2-tiny"), weights, tmp_path / "none.jpg"],
              cwd=tmp_path)
    assert res.returncode == 1 and "cannot read image" in res.stderr.splitlines()[-1]
