"""The bad-input corpus (bad_input.py) through the command line: every broken cfg, weights file, image, .data,
names, labels, list and flag exits 1 with exactly one line on stderr (besides the warnings a case expects),
that line names the file (and its line) or the expected and actual values; no traceback, no hang, no
half-written output. The valid-but-odd inputs work. Most cases run in-process through cli.main; a sample
runs as real processes, to show that nothing else reaches the terminal."""
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter

import cv2
import pytest

from bad_input import build_world, corpus, detect
from conftest import ROOT
from darknet_py import cli
from darknet_py.network import Network

CASES = corpus()
NORMAL = re.compile(r"layer +filters|\s*\d+ \S|Loading weights from .*Done!$")  # Darknet's layer table and such
CASE_SECONDS = 30  # a case still running after this has hung (the slowest, a training batch, takes < 1 s)
SUBPROCESS_SAMPLE = ["cfg-fifo", "cfg-2MB-line", "cfg-filters1=99999999999999999999999", "weights-header-only",
                     "weights-first-nan", "image-detect-png-claims-100000x100000", "image-detect-jpeg-header-only",
                     "image-predict-png-bad-crc", "image-ok-truncated-jpeg", "image-ok-detect-4000x10",
                     "data-label-w-inf", "data-names-too-few", "cli-detect-thresh=2", "cli-json-missing-folder"]


class CaseHung(BaseException):
    """Raised by the alarm: a BaseException, so that no `except Exception` of the code under test eats it."""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("world"))


def files_under(folder):
    return {p: p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def assert_nothing_half_written(folder, before):
    """New files are whole: no temp files, every JSON parses and every image decodes."""
    for path in set(files_under(folder)) - set(before):
        assert not path.name.endswith(".tmp") and not path.name.startswith(".darknet-py-probe"), path
        if path.suffix == ".json":
            json.loads(path.read_text())
        if path.suffix == ".jsonl":  # demo's -json_file_output: every line whole
            [json.loads(line) for line in path.read_text().splitlines()]
        if path.suffix in (".jpg", ".png") and path.parent == folder and path.name.startswith(("predictions", "pred")):
            assert cv2.imread(str(path)) is not None, path


def check(case, status, out, err):
    lines = err.splitlines()
    assert "Traceback" not in err and "internal error" not in err, err[-2000:]
    if case.ok:
        assert status == 0, err[-2000:]
        assert len([line for line in lines if "warning" in line.lower()]) <= case.warns, err[-2000:]
        for pattern in case.expect:
            assert re.search(pattern, out + err), (pattern, out[-1000:])
        return
    assert status == case.status, (status, err[-2000:])
    errors = [line for line in lines if line.startswith("darknet-py: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err[-2000:]
    others = [line for line in lines[:-1] if not NORMAL.match(line)]
    assert len(others) <= case.warns, err[-2000:]  # nothing else: the layer table, the warnings the case expects
    for pattern in case.expect:
        assert re.search(pattern, errors[0]), (pattern, errors[0])


def run_in_process(case, world, folder, capsys):
    argv = case.make(world, folder)
    before = files_under(folder)

    def hung(*_):
        raise CaseHung(f"{case.id} still running after {CASE_SECONDS} s")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(CASE_SECONDS)
    try:
        status = cli.main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    return status, out, err, before


@pytest.mark.filterwarnings("error")  # a Python warning would reach the terminal: make it fail the case
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, world, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # predictions.jpg and friends land here
    status, out, err, before = run_in_process(case, world, tmp_path, capsys)
    check(case, status, out, err)
    assert_nothing_half_written(tmp_path, before)


def test_corpus_covers_every_class():
    counts = Counter(c.kind for c in CASES)
    bad = Counter(c.kind for c in CASES if not c.ok)
    assert sum(bad.values()) >= 200 and len(CASES) == len({c.id for c in CASES})
    assert all(bad[kind] >= 25 for kind in ("cfg", "weights", "image", "data", "cli")), bad
    assert counts["image"] - bad["image"] >= 20  # the odd images that must work


def test_later_image_failing_keeps_the_json_of_the_earlier_ones(world, tmp_path, monkeypatch, capsys):
    case = next(c for c in CASES if c.id == "image-later-image-fails")
    monkeypatch.chdir(tmp_path)
    status, _, err, _ = run_in_process(case, world, tmp_path, capsys)
    assert status == 1
    found = json.loads((tmp_path / "r.json").read_text())
    assert [entry["image"] for entry in found] == [str(world.image)]


@pytest.mark.parametrize("name", SUBPROCESS_SAMPLE)
def test_a_real_process_shows_no_traceback(name, world, tmp_path):
    case = next(c for c in CASES if c.id == name)
    argv = case.make(world, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(cli.TRACEBACK_VAR, None)
    res = subprocess.run([sys.executable, "-m", "darknet_py", *map(str, argv)], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=120, errors="replace")
    check(case, res.returncode, res.stdout, res.stderr)


def degenerate_weights(world, folder, anchors, tw, huge=False):
    """The world's detector with every anchor's tw bias at `tw`, objectness certain, `anchors` in its cfg, and
    with huge=True layer 0's weights all 3e38: finite, but their sums overflow to inf there."""
    cfg = folder / "degenerate.cfg"
    cfg.write_text(world.cfg.read_text().replace("anchors=1,1, 2,2", f"anchors={anchors}"))
    net = Network.from_cfg(cfg).load_weights(world.cfg_weights)
    last, region = net.layers[-2], net.layers[-1]
    for a in range(region.num):
        row = a * region.entries
        last.weights[row + 2], last.biases[row + 2] = 0, tw      # exp(tw) overflows to inf: an infinitely wide box
        last.weights[row + 4], last.biases[row + 4] = 0, 30      # objectness 1
    if huge:
        net.layers[0].weights[...] = 3e38
    net.save_weights(folder / "degenerate.weights")
    return cfg, folder / "degenerate.weights"


def test_inf_and_nan_boxes_are_printed_and_drawn_clamped(world, tmp_path, monkeypatch, capsys):
    """A degenerate network's boxes (inf wide from exp(200), NaN from an anchor of 0 times inf) are kept, as
    Darknet keeps them: listed, drawn and written to -json clamped into the image. Its output is finite: no
    warning."""
    monkeypatch.chdir(tmp_path)
    cfg, weights = degenerate_weights(world, tmp_path, "0,0, 2,2", tw=200)
    status = cli.main(detect(world, cfg=cfg, weights=weights, extra=["-thresh", ".01", "-json", "d.json"]))
    out, err = capsys.readouterr()
    assert status == 0 and "Traceback" not in err and "warning" not in err, err
    objects = json.loads((tmp_path / "d.json").read_text())[0]["objects"]
    h, w = cv2.imread(str(world.image)).shape[:2]
    assert objects and len(out.splitlines()) == 1 + len(objects)  # "Predicted in", then one line per label
    for o in objects:
        assert 0 <= o["left"] <= o["right"] <= w - 1 or o["right"] == 0, o
        assert all(0 <= o[k] <= (w if k in ("left", "right") else h) - 1 for k in ("left", "right", "top", "bottom"))
    assert cv2.imread(str(tmp_path / "predictions.jpg")).shape[:2] == (h, w)


@pytest.mark.filterwarnings("error")
def test_nan_output_warns_once_naming_the_first_layer(world, tmp_path, monkeypatch, capsys):
    """Finite weights whose sums overflow (layer 0's all 3e38): one warning naming layer 0 and its cfg line,
    for two images, and the run completes as Darknet's would (with nothing sensible detected)."""
    monkeypatch.chdir(tmp_path)
    cfg, weights = degenerate_weights(world, tmp_path, "1,1, 2,2", tw=0, huge=True)
    status = cli.main(detect(world, cfg=cfg, weights=weights, extra=[world.image1]))
    _, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert status == 0 and warnings == [
        f"darknet-py: warning: layer 0 [convolutional] ({cfg}:13) output NaN or inf: the weights or the input are "
        f"broken, and so are the results"]
