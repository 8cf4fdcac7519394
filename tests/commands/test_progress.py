"""commands/progress.py: the progress line (done/total, rate, ETA; a running rate without a total), quiet off a
terminal and with -quiet, printed lines kept above it; and every long command drawing one."""
import io
import sys

import cv2
import pytest

from conftest import ROOT, SHARED, sample_frames, write_video
from darknet_py.cli import main
from darknet_py.commands import progress as P
from darknet_py.commands.progress import Progress

COCO = ROOT / "cfg" / "coco.data"


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Clock:
    """time.monotonic as the test sets it."""
    now = 0.

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(P.time, "monotonic", clock)
    monkeypatch.setattr(P, "REDRAW_EVERY", 0)
    return clock


def test_a_bar_with_rate_and_eta(clock):
    bar = Progress("valid", 10, stream=Terminal())
    bar(0)
    clock.now = 2.
    bar(4, text="avg 3.5")
    assert bar.line() == "valid [############                  ] 4/10 images  40% 2.0 images/s ETA 0:00:03 avg 3.5"
    assert bar.stream.getvalue().count(P.CLEAR) == 2


def test_without_a_total_a_running_rate(clock):
    bar = Progress("demo", unit="frames", stream=Terminal())
    for i in range(5):
        clock.now = i / 25
        bar(i)
    assert bar.line() == "demo 4 frames 25.0 frames/s"


def test_slow_items_and_megabytes(clock):
    bar = Progress("train", 100, "batches", stream=Terminal())
    bar(10)  # resumed at batch 10: the rate counts from there
    clock.now = 5.
    bar(12)
    assert bar.line().endswith("12/100 batches  12% 2.50 s/batch ETA 0:03:40")
    mb = Progress("weights get", 4_000_000, "B", stream=Terminal())
    mb(0)
    clock.now = 6.
    mb(2_000_000)
    assert mb.line().endswith("2.0/4.0 MB  50% 2.0 MB/s ETA 0:00:01")


def test_quiet_off_a_terminal_and_with_quiet(monkeypatch):
    assert not Progress("x", stream=io.StringIO()).enabled
    assert Progress("x", stream=Terminal()).enabled
    monkeypatch.setattr(P, "_quiet", True)
    assert not Progress("x", stream=Terminal()).enabled


def test_printed_lines_go_above_the_bar(clock, monkeypatch):
    err, out = Terminal(), Terminal()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr("sys.stdout", out)
    with Progress("test", 2) as bar:
        bar(0)
        print("first line")
        bar(1)
        print("second", "line", file=sys.stderr)
        bar(2)
    assert out.getvalue() == "first line\n"
    shown = err.getvalue().split(P.CLEAR)  # what the terminal shows between two clears of the line
    line = shown.index("second line\n")  # cleared before the line, drawn again after it
    assert "1/2 images" in shown[line - 1] and "1/2 images" in shown[line + 1]
    assert shown[-1].startswith("test [") and shown[-1].endswith("2/2 images 100%\n")


# ------------------------------------------------------------------------------------------ the commands

def on_terminal(monkeypatch):
    """stderr becomes a terminal (stdout is not): the commands draw their progress line. Called in the test
    itself: pytest's capture sets sys.stderr again between a fixture and the test."""
    err = Terminal()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr(P, "REDRAW_EVERY", 0)
    return err


def last_line(err, label):
    return [s for s in err.getvalue().split(P.CLEAR) if s.startswith(label)][-1].strip()


@pytest.fixture
def dataset(tmp_path_factory):
    """Three labelled images and a .data naming them for valid, recall, map and calc_anchors (in a folder whose
    name has none of Darknet's images -> labels words: a test's name may)."""
    tmp_path = tmp_path_factory.mktemp("set")
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    paths = []
    for i, frame in enumerate(sample_frames(3)):
        paths.append(tmp_path / "images" / f"{i}.jpg")
        cv2.imwrite(str(paths[-1]), frame)
        (tmp_path / "labels" / f"{i}.txt").write_text(f"{i} 0.5 0.5 0.{i + 3} 0.4\n16 0.3 0.6 0.2 0.{i + 2}\n")
    (tmp_path / "list.txt").write_text("".join(f"{p}\n" for p in paths))
    data = tmp_path / "set.data"
    data.write_text(f"classes=80\nvalid={tmp_path}/list.txt\ntrain={tmp_path}/list.txt\nnames={ROOT}/data/coco.names\n"
                    f"results={tmp_path}/results\n")
    return data


@pytest.mark.parametrize("command,label,end", [
    ("valid", "detector valid", "3/3 images 100%"),
    ("recall", "detector recall", "3/3 images 100%"),
    ("map", "detector map", "3/3 images 100%"),
])
def test_valid_recall_map(monkeypatch, dataset, small_detector, command, label, end):
    terminal = on_terminal(monkeypatch)
    assert main(["detector", command, str(dataset), *map(str, small_detector), "-nogpu", "-batch", "2"]) == 0
    assert end in last_line(terminal, label)


def test_calc_anchors(monkeypatch, dataset):
    terminal = on_terminal(monkeypatch)
    assert main(["detector", "calc_anchors", str(dataset), "-num_of_clusters", "2"]) == 0
    assert "3/3 files 100%" in last_line(terminal, "reading labels")
    assert "5/5 runs 100%" in last_line(terminal, "k-means")


def test_quiet_draws_nothing(monkeypatch, dataset):
    terminal = on_terminal(monkeypatch)
    assert main(["detector", "calc_anchors", str(dataset), "-num_of_clusters", "2", "-quiet"]) == 0
    assert P.CLEAR not in terminal.getvalue()


def test_detector_test_over_a_list_and_demo(monkeypatch, tmp_path, small_detector, dataset):
    terminal = on_terminal(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert main(["detector", "test", str(COCO), *map(str, small_detector), "-list", str(dataset.parent / "list.txt"),
                 "-out", "out"]) == 0
    assert "3/3 images 100%" in last_line(terminal, "detector test")
    clip = write_video(tmp_path / "clip.avi", sample_frames(4))
    assert main(["detector", "demo", str(COCO), *map(str, small_detector), str(clip)]) == 0
    assert "4/4 frames 100%" in last_line(terminal, "demo") and " frames/s" in last_line(terminal, "demo")


def test_weights_get(monkeypatch, tmp_path):
    terminal = on_terminal(monkeypatch)
    if not (SHARED / "weights" / "tiny.weights").is_file():
        pytest.skip("tiny.weights not staged")
    monkeypatch.setenv("DARKNET_WEIGHTS_MIRROR", str(SHARED / "weights"))
    assert main(["weights", "get", "tiny", "-dest", str(tmp_path)]) == 0
    assert "4.2/4.2 MB 100%" in last_line(terminal, "weights get tiny")


@pytest.mark.parametrize("argv,module,function", [
    (["detector", "train", "d.data", "c.cfg"], "darknet_py.train.train_detector", "train_detector"),
    (["classifier", "train", "d.data", "c.cfg"], "darknet_py.train.train_classifier", "train_classifier"),
])
def test_training_draws_what_the_loop_reports(monkeypatch, argv, module, function):
    """The loops report (batch, max_batches, text) (tests/train: the calls); the commands draw them."""
    terminal = on_terminal(monkeypatch)
    def loop(*args, progress=None, **kwargs):
        progress = progress or args[4]  # classifier train passes it fifth
        for batch in range(3, 6):
            progress(batch, 5, f"avg {batch / 10:.3f}")
        return "final.weights"
    monkeypatch.setattr(f"{module}.{function}", loop)
    assert main(argv + ["-nogpu"]) == 0
    line = last_line(terminal, " ".join(argv[:2]))
    assert "5/5 batches 100%" in line and line.endswith("avg 0.500")


def test_classifier_valid(monkeypatch, small_detector):
    terminal = on_terminal(monkeypatch)
    def valid(datacfg, cfg, weights, net=None, progress=None, out=None):
        for i in range(4):
            progress(i + 1, 4)
    monkeypatch.setattr("darknet_py.train.train_classifier.validate_classifier", valid)
    assert main(["classifier", "valid", "d.data", *map(str, small_detector), "-nogpu"]) == 0
    assert "4/4 images 100%" in last_line(terminal, "classifier valid")
