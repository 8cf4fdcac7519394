"""video/writers.py: files that cannot be written fail before the first frame; no window without a display."""
import json

import cv2
import pytest

from conftest import read_video, sample_frames
from darknet_py.errors import DarknetError
from darknet_py.video import writers


@pytest.mark.parametrize("name", ["out.avi", "out.mp4"])
def test_video_keeps_size_fps_and_frames(tmp_path, name):
    video = writers.VideoFile(str(tmp_path / name), 12.5, 320, 240)
    for frame in sample_frames(6):
        video.write(frame)
    video.close()
    frames, fps, size = read_video(tmp_path / name)
    assert (len(frames), fps, size) == (6, 12.5, (320, 240))


@pytest.mark.parametrize("make", [
    lambda d: writers.VideoFile(str(d / "none" / "out.avi"), 10, 32, 32),
    lambda d: writers.FrameFiles(str(d / "none" / "frame")).write(0, sample_frames(1)[0]),
    lambda d: writers.JsonLines(str(d / "none" / "out.json")),
])
def test_a_missing_folder_is_one_line(tmp_path, make):
    """The video and JSON files fail when opened, the frames at the first (the command checks all three first)."""
    with pytest.raises(DarknetError, match="none"):
        make(tmp_path)


def test_unknown_video_type(tmp_path):
    with pytest.raises(DarknetError, match="cannot write video .*out.xyz"):
        writers.VideoFile(str(tmp_path / "out.xyz"), 10, 32, 32)


def test_frames_and_json_lines(tmp_path):
    frames = writers.FrameFiles(str(tmp_path / "f"))
    frames.write(3, sample_frames(1)[0])
    assert cv2.imread(str(tmp_path / "f_00000003.jpg")).shape == (240, 320, 3)
    lines = writers.JsonLines(str(tmp_path / "o.json"))
    lines.write({"frame": 0})
    assert json.loads((tmp_path / "o.json").read_text()) == {"frame": 0}  # flushed at once
    lines.close()


def test_display_only_with_x11_or_wayland():
    assert not writers.display_available({})
    assert writers.display_available({"DISPLAY": ":0"}) and writers.display_available({"WAYLAND_DISPLAY": "w"})


def test_no_window_where_opencv_has_no_gui(monkeypatch):
    def headless(*args):
        raise cv2.error("The function is not implemented")
    monkeypatch.setattr(cv2, "namedWindow", headless)  # never a real window in a test
    with pytest.raises(DarknetError, match="no GUI"):
        writers.Window()
