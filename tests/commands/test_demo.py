"""`detector demo` end to end on small videos made from Darknet's sample images: each frame's detections against
`detector test` and the original Darknet on the same frame, the frame average against Darknet's own demo, the
outputs (video, frames, JSON lines), bad input, and stopping. No test opens a window (no DISPLAY here)."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

import oracle
from conftest import DARKNET_DATA, ROOT, cli_output, needs_oracle, read_video, run_cli, sample_frames, write_video
from darknet_py.video import writers

COCO = ROOT / "cfg" / "coco.data"
FRAMES = 8


@pytest.fixture(autouse=True)
def no_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """{suffix: path}: the same FRAMES frames as an MJPG .avi, and an mp4v .mp4 where OpenCV writes one."""
    folder = tmp_path_factory.mktemp("clips")
    found = {".avi": write_video(folder / "clip.avi", sample_frames(FRAMES), fourcc="MJPG")}
    writer = cv2.VideoWriter(str(folder / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    if writer.isOpened():
        writer.release()
        found[".mp4"] = write_video(folder / "clip.mp4", sample_frames(FRAMES), fourcc="mp4v")
    return found


def demo(capsys, small_detector, *args):
    return cli_output(capsys, "detector", "demo", COCO, *small_detector, *args)


def json_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_same_objects(ours, theirs):
    """The same objects in each record; numbers within float32 rounding: the fast CPU path's GEMMs round a batch
    of 3 differently from 3 batches of 1 (about 1e-6)."""
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert [o["class_id"] for o in a["objects"]] == [o["class_id"] for o in b["objects"]]
        numbers = [[o["prob"], *o["relative"].values()] for r in (a, b) for o in r["objects"]]
        np.testing.assert_allclose(numbers[:len(numbers) // 2], numbers[len(numbers) // 2:], atol=1e-5)


def frame_pngs(video, folder):
    """The frames as OpenCV decodes them, saved losslessly: what `detector test` and Darknet read."""
    folder.mkdir()
    frames, _, _ = read_video(video)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:06d}.png"), frame)
    return sorted(folder.iterdir())


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_each_frame_equals_detector_test_on_it(capsys, tmp_path, small_detector, clips, suffix):
    """-avgframes 1 (no average) and no NMS: the same decoding as `detector test` on the frame saved as PNG."""
    if suffix not in clips:
        pytest.skip("no mp4v writer in this OpenCV")
    demo(capsys, small_detector, clips[suffix], "-avgframes", 1, "-nms", 0, "-json_file_output", tmp_path / "d.json")
    pngs = frame_pngs(clips[suffix], tmp_path / "frames")
    cli_output(capsys, "detector", "test", COCO, *small_detector, tmp_path / "frames", "-nms", 0, "-json",
               tmp_path / "t.json", "-out", tmp_path / "drawn")
    frames = json_lines(tmp_path / "d.json")
    images = json.loads((tmp_path / "t.json").read_text())
    assert [f["frame"] for f in frames] == list(range(FRAMES)) and [i["image"] for i in images] == list(map(str, pngs))
    assert [f["objects"] for f in frames] == [i["objects"] for i in images]
    assert sum(len(f["objects"]) for f in frames) > 20


@needs_oracle
@pytest.mark.parametrize("thresh", [.5, .25])
def test_each_frame_equals_darknets_detections(capsys, tmp_path, small_detector, clips, thresh):
    """-avgframes 1: Darknet's detection of the frame (load, letterbox, forward, get_network_boxes) with demo.c's
    NMS, do_nms_obj at .4."""
    demo(capsys, small_detector, clips[".avi"], "-avgframes", 1, "-thresh", thresh, "-json_file_output",
         tmp_path / "d.json")
    frames = json_lines(tmp_path / "d.json")
    for png, frame in list(zip(frame_pngs(clips[".avi"], tmp_path / "frames"), frames))[:3]:
        dets = oracle.detections(*small_detector, png, thresh=thresh, nms=.4, nms_kind="obj")
        expected = [(c, p, *d["bbox"]) for d in dets for c, p in d["classes"].items() if p > thresh]
        ours = [(o["class_id"], o["prob"], *o["relative"].values()) for o in frame["objects"]]
        assert [r[0] for r in ours] == [r[0] for r in expected] and expected
        np.testing.assert_allclose([r[1:] for r in ours], [r[1:] for r in expected], rtol=1e-4, atol=2e-6)


@needs_oracle
def test_the_default_averages_three_frames_as_darknets_demo(capsys, tmp_path, small_detector, monkeypatch):
    """`darknet detector demo` on a PNG sequence (-prefix: no window) prints each frame's objects from its
    3-frame average: ours prints the same, the first two frames included (averaged with zeroed slots)."""
    for i, frame in enumerate(sample_frames(7)):  # 7: with a multiple of 3 frames Darknet's demo dies (SIGFPE)
        cv2.imwrite(str(tmp_path / f"{i:06d}.png"), frame)
    (tmp_path / "data").symlink_to(DARKNET_DATA)  # its label glyphs
    res = subprocess.run(["darknet", "detector", "demo", COCO, *small_detector, "%06d.png", "-prefix", "theirs"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    monkeypatch.chdir(tmp_path)
    ours = demo(capsys, small_detector, "%06d.png", "-dont_show")

    def frames(text):
        return [re.findall(r"(?m)^\S[^\n]*: \d+%$", block) for block in text.split("Objects:")[1:]]
    assert frames(ours) == frames(res.stdout)
    assert [len(f) for f in frames(ours)][:3] == [0, 0, 7]  # averaged with zeros, the first two show nothing


def test_yolov3_frames_equal_detector_test_and_average_alike(capsys, tmp_path, small_yolov3, clips):
    """YOLOv3's two [yolo] scales: -avgframes 1 gives detector test's objects on each frame; the default
    averages both layers' outputs over 3 frames, batch 1 as batch 3."""
    demo(capsys, small_yolov3, clips[".avi"], "-avgframes", 1, "-nms", 0, "-json_file_output", tmp_path / "d.json")
    cli_output(capsys, "detector", "test", COCO, *small_yolov3, *frame_pngs(clips[".avi"], tmp_path / "frames"),
               "-nms", 0, "-json", tmp_path / "t.json", "-out", tmp_path / "drawn")
    frames = json_lines(tmp_path / "d.json")
    assert [f["objects"] for f in frames] == [i["objects"] for i in json.loads((tmp_path / "t.json").read_text())]
    assert sum(len(f["objects"]) for f in frames) > 10
    demo(capsys, small_yolov3, clips[".avi"], "-json_file_output", tmp_path / "one.json")
    demo(capsys, small_yolov3, clips[".avi"], "-batch", 3, "-json_file_output", tmp_path / "three.json")
    averaged = json_lines(tmp_path / "one.json")
    assert_same_objects(averaged, json_lines(tmp_path / "three.json"))
    assert [f["objects"] for f in averaged] != [f["objects"] for f in frames]


def test_time_limit_ends_after_the_frame_in_hand(capsys, tmp_path, small_detector, clips):
    """-time_limit_sec: the frame that passes the limit is the last, its outputs complete (a limit every frame
    passes: exactly one)."""
    demo(capsys, small_detector, clips[".avi"], "-time_limit_sec", 1e-9, "-out_filename", tmp_path / "o.avi",
         "-json_file_output", tmp_path / "d.json")
    assert len(json_lines(tmp_path / "d.json")) == len(read_video(tmp_path / "o.avi")[0]) == 1


def test_the_closing_line_gives_the_rate_after_the_first_frame(capsys, small_detector, clips):
    """The first frame pays the warm-up (tuning, compiling): the closing line gives the rate without it too."""
    code, _, err = run_cli(capsys, "detector", "demo", COCO, *small_detector, clips[".avi"], "-quiet")
    found = re.search(rf"(?m)^{FRAMES} frames in ([\d.]+) s \(([\d.]+) frames/s, ([\d.]+) frames/s after the first\)$",
                      err)
    assert code == 0 and found, err[-500:]


def test_outputs_video_frames_and_json_lines(capsys, tmp_path, small_detector, clips):
    out = demo(capsys, small_detector, clips[".avi"], "-avgframes", 1, "-out_filename", tmp_path / "out.avi",
               "-prefix", tmp_path / "f", "-json_file_output", tmp_path / "d.json", "-ext_output")
    frames, fps, size = read_video(tmp_path / "out.avi")
    assert (len(frames), fps, size) == (FRAMES, 10, (320, 240))
    assert sorted(p.name for p in tmp_path.glob("f_*.jpg")) == [f"f_{i:08d}.jpg" for i in range(FRAMES)]
    records = json_lines(tmp_path / "d.json")
    assert [(r["frame"], r["timestamp"]) for r in records] == [(i, i / 10) for i in range(FRAMES)]
    printed = [re.findall(r"(?m)^(\S[^\n]*): (\d+)%\t\(left_x", block) for block in out.split("Objects:")[1:]]
    assert printed == [[(o["name"], f"{o['prob'] * 100:.0f}") for o in r["objects"]] for r in records]
    drawn = cv2.imread(str(tmp_path / "f_00000002.jpg"))
    assert np.abs(drawn.astype(int) - sample_frames(3)[2]).max() > 100  # boxes drawn into the frames


def test_skip_batch_and_benchmark(capsys, tmp_path, small_detector, clips):
    demo(capsys, small_detector, clips[".avi"], "-json_file_output", tmp_path / "one.json")
    demo(capsys, small_detector, clips[".avi"], "-batch", 3, "-json_file_output", tmp_path / "three.json")
    assert_same_objects(json_lines(tmp_path / "one.json"), json_lines(tmp_path / "three.json"))  # averaged alike
    demo(capsys, small_detector, clips[".avi"], "-s", 2, "-json_file_output", tmp_path / "skip.json",
         "-out_filename", tmp_path / "skip.avi")
    assert [r["frame"] for r in json_lines(tmp_path / "skip.json")] == [0, 3, 6]
    assert len(read_video(tmp_path / "skip.avi")[0]) == FRAMES
    out = demo(capsys, small_detector, clips[".avi"], "-benchmark")
    assert len(re.findall(r"(?m)^FPS:[\d.]+ \t AVG_FPS:[\d.]+$", out)) == FRAMES and "Objects" not in out


class Recorder:
    """Stands in for the window: never a real one in a test."""
    opened = []

    def __init__(self, title="Demo"):
        Recorder.opened.append(title)

    def show(self, bgr, wait_ms=1):
        return True

    def close(self):
        pass


@pytest.mark.parametrize("display,flags,window", [(None, [], False), (":0", ["-dont_show"], False), (":0", [], True),
                                                  (":0", ["-prefix", "f"], False)])
def test_a_window_only_on_a_display(capsys, tmp_path, small_detector, clips, monkeypatch, display, flags, window):
    monkeypatch.setattr(writers, "Window", Recorder)
    monkeypatch.chdir(tmp_path)
    Recorder.opened = []
    if display:
        monkeypatch.setenv("DISPLAY", display)
    demo(capsys, small_detector, clips[".avi"], *flags)
    assert Recorder.opened == (["Demo"] if window else [])


@pytest.mark.parametrize("args,message", [
    (["missing.avi"], "cannot read video missing.avi: No such file or directory"),
    (["-c", 7], "cannot open camera 7"),
    (["{clip}", "-out_filename", "none/out.avi"], "-out_filename none/out.avi: the folder {tmp}/none does not exist"),
    (["{clip}", "-out_filename", "out.xyz"], "cannot write video out.xyz"),
    (["{clip}", "-json_file_output", "none/d.json"], "-json_file_output none/d.json: the folder {tmp}/none does not"),
])
def test_bad_input_is_one_line(capsys, tmp_path, small_detector, clips, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "detector", "demo", COCO, *small_detector,
                       *[str(a).format(clip=clips[".avi"]) for a in args])
    message = message.format(tmp=tmp_path)
    assert code == 1 and err.splitlines()[-1].startswith(f"darknet-py: error: {message}"), err[-500:]
    assert "Traceback" not in err and not list(tmp_path.iterdir())


@pytest.mark.parametrize("damage,good", [("corrupt", FRAMES - 1), ("cut", 5)])
def test_a_bad_video_keeps_its_outputs_playable(capsys, tmp_path, small_detector, clips, damage, good):
    data = bytearray(clips[".avi"].read_bytes())
    starts = [m.start() for m in re.finditer(b"\xff\xd8\xff", bytes(data))]
    if damage == "corrupt":
        data[starts[4]:starts[4] + 3000] = bytes(3000)
    else:
        data = data[:starts[5]]
    (tmp_path / "bad.avi").write_bytes(bytes(data))
    code, _, err = run_cli(capsys, "detector", "demo", COCO, *small_detector, tmp_path / "bad.avi",
                       "-out_filename", tmp_path / "out.avi", "-json_file_output", tmp_path / "d.json")
    assert code == 1 and "Traceback" not in err
    assert re.match(r"darknet-py: error: .*bad.avi: \d+ of 8 frames could not be decoded", err.splitlines()[-1])
    assert len(read_video(tmp_path / "out.avi")[0]) == len(json_lines(tmp_path / "d.json")) == good


def test_sigterm_finishes_the_outputs(tmp_path, small_detector):
    """SIGTERM (as Ctrl-C) mid-video: the frame in hand is finished, the video is playable, the JSON has a line
    per frame written, exit status 130."""
    long = write_video(tmp_path / "long.avi", sample_frames(400))
    proc = subprocess.Popen([sys.executable, "-m", "darknet_py", "detector", "demo", COCO, *small_detector, long,
                             "-out_filename", tmp_path / "out.avi", "-json_file_output", tmp_path / "d.json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": os.environ["PATH"]})
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and (
            not (tmp_path / "d.json").exists() or len((tmp_path / "d.json").read_text().splitlines()) < 3):
        time.sleep(.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    written = json_lines(tmp_path / "d.json")
    assert 3 <= len(written) < 400 and [r["frame"] for r in written] == list(range(len(written)))
    assert len(read_video(tmp_path / "out.avi")[0]) == len(written)
