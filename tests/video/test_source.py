"""video/source.py: files, image sequences, stream URLs and cameras as OpenCV reads them; bad frames and bad
sources reported in one line."""
import functools
import http.server
import threading

import cv2
import numpy as np
import pytest

from conftest import read_video, sample_frames, write_video
from darknet_py.errors import DarknetError
from darknet_py.video.source import ImageFiles, VideoSource

FRAMES = 12


@pytest.fixture(scope="module")
def avi(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "clip.avi", sample_frames(FRAMES), fps=10)


@pytest.mark.parametrize("name,fourcc", [("clip.avi", "MJPG"), ("clip.mp4", "mp4v")])
def test_a_file_gives_every_frame_in_order(tmp_path, name, fourcc):
    path = write_video(tmp_path / name, sample_frames(FRAMES), fps=10, fourcc=fourcc)
    expected, _, _ = read_video(path)
    source = VideoSource(path)
    assert (source.frame_count, source.fps, source.width, source.height, source.live) == (FRAMES, 10, 320, 240, False)
    frames = list(source)
    assert [f.index for f in frames] == list(range(FRAMES))
    assert [f.time for f in frames] == [i / 10 for i in range(FRAMES)]
    assert all(np.array_equal(f.bgr, e) for f, e in zip(frames, expected))
    assert source.failure() is None


def test_an_image_sequence(tmp_path):
    for i, frame in enumerate(sample_frames(5)):
        cv2.imwrite(str(tmp_path / f"{i:06d}.png"), frame)
    frames = list(VideoSource(str(tmp_path / "%06d.png")))
    assert len(frames) == 5 and all(np.array_equal(f.bgr, e) for f, e in zip(frames, sample_frames(5)))


def test_a_stream_url_reads_like_the_file(avi):
    """An http URL (a local server): a stream whose length OpenCV knows is read frame by frame, not as live."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(avi.parent))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        try:
            source = VideoSource(f"http://127.0.0.1:{server.server_address[1]}/{avi.name}")
        except DarknetError:
            pytest.skip("this OpenCV's FFmpeg reads no http")
        frames = list(source)
    finally:
        server.shutdown()
    expected, _, _ = read_video(avi)
    assert not source.live and len(frames) == FRAMES
    assert all(np.array_equal(f.bgr, e) for f, e in zip(frames, expected))


@pytest.mark.parametrize("source,message", [
    (7, "cannot open camera 7"),
    ("missing.avi", "cannot read video missing.avi: No such file or directory"),
    (".", "cannot read video .: is a folder, not a file"),
    ("frames/%06d.jpg", "cannot open image sequence frames/%06d.jpg"),
])
def test_bad_sources_are_one_line_errors(tmp_path, monkeypatch, source, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DarknetError, match="^" + message.replace("(", r"\(")):
        VideoSource(source)


def test_a_file_opencv_cannot_read(tmp_path):
    (tmp_path / "notes.avi").write_text("not a video\n")
    with pytest.raises(DarknetError, match="cannot open video .*notes.avi"):
        VideoSource(tmp_path / "notes.avi")


def _jpeg_starts(data):
    return [i for i in range(len(data) - 2) if data[i:i + 3] == b"\xff\xd8\xff"]


def test_a_corrupt_frame_is_left_out_and_reported(tmp_path, avi):
    data = bytearray(avi.read_bytes())
    start = _jpeg_starts(data)[5]
    data[start:start + 3000] = bytes(3000)  # frame 5's JPEG header and first scan gone
    (tmp_path / "bad.avi").write_bytes(bytes(data))
    source = VideoSource(tmp_path / "bad.avi")
    frames = list(source)
    assert [f.index for f in frames] == [i for i in range(FRAMES) if i != 5]
    assert source.failed == [5]
    assert source.failure() == (f"{tmp_path / 'bad.avi'}: 1 of {FRAMES} frames could not be decoded (frame 5): "
                                f"the file is corrupt or ends early")


def test_a_file_that_ends_early(tmp_path, avi):
    data = avi.read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[:_jpeg_starts(data)[7]])
    source = VideoSource(tmp_path / "cut.avi")
    assert [f.index for f in source] == list(range(7))
    assert source.failed == list(range(7, FRAMES)) and "frames 7-11" in source.failure()


def test_image_files_skip_what_cannot_be_read(tmp_path):
    good = tmp_path / "a.png"
    cv2.imwrite(str(good), sample_frames(1)[0])
    (tmp_path / "b.jpg").write_text("no image")
    source = ImageFiles(enumerate([good, tmp_path / "b.jpg", good]))
    assert [(f.index, f.path) for f in source] == [(0, str(good)), (2, str(good))]
    assert source.failed == [(1, f"cannot read image {tmp_path / 'b.jpg'}: not an image OpenCV can decode")]
