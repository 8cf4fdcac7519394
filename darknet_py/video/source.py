"""Frames from what demo.c's open_video_stream opens: a video file, a stream URL (rtsp, http, whatever
OpenCV's VideoCapture reads), a camera index (`-c N`), or an image sequence (`frames/%06d.jpg`); and from a
list of image files, for `detector test` over many images."""
import os
import re
import stat
import time
from typing import NamedTuple

from ..errors import DarknetError, ImageError, file_problem, shown
from ..image import read_bgr

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # ffmpeg's decode warnings: we report bad frames ourselves
import cv2  # noqa: E402

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # a missing camera is our one-line error

DEFAULT_FPS = 25       # AlexeyAB's demo: src_fps = 25 where the stream gives none
URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
SEQUENCE = re.compile(r"%0?\d*d")  # a printf pattern: OpenCV reads frames/000000.jpg, 000001.jpg, ...


class Frame(NamedTuple):
    index: int        # 0-based position in the source (a frame that fails to decode keeps its number)
    time: float       # seconds: index / fps for files, since the start for live sources
    bgr: object       # (H, W, 3) uint8, as cv2 decodes it (demo.c: get_image_from_stream, mat_to_image)
    path: str = None  # the image file it comes from (ImageFiles)


class VideoSource:
    """An opened source. Iterating yields Frames until it ends; a file whose frames fail to decode (corrupt,
    or cut short before its header's frame count) is read to the end, and `failed` lists them.

    live: a camera, or a stream that does not know its length; consumers then take the newest frame.
    """

    def __init__(self, source):
        self.name = f"camera {source}" if isinstance(source, int) else str(source)
        if isinstance(source, int):
            cap = cv2.VideoCapture(source)
            if not cap.isOpened():
                raise DarknetError(f"cannot open camera {source}")
        else:
            source = str(source)
            problem = None if URL.match(source) or SEQUENCE.search(source) or _is_device(source) else (
                file_problem(source))
            if problem:  # missing, a folder, or a FIFO that would block OpenCV's open
                raise DarknetError(f"cannot read video {shown(source)}: {problem}")
            cap = cv2.VideoCapture(source)
            if not cap.isOpened():
                what = "image sequence" if SEQUENCE.search(source) else "video"
                raise DarknetError(f"cannot open {what} {shown(source)} (OpenCV's VideoCapture cannot read it)")
        self.cap = cap
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.live = isinstance(source, int) or (bool(URL.match(source)) and count <= 0)
        self.frame_count = None if self.live or count <= 0 else count
        self.fps = cap.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
        self.width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.failed = []  # indices of frames that did not decode

    def __iter__(self):
        began, index = time.monotonic(), 0
        while True:
            ok, bgr = self.cap.read()
            if not ok:
                # A file's failed read before its frame count is a bad frame (OpenCV goes on after it); the end
                # otherwise, and always for live sources.
                if self.frame_count is None or index >= self.frame_count:
                    return
                self.failed.append(index)
                index += 1
                continue
            stamp = time.monotonic() - began if self.live else index / self.fps
            yield Frame(index, stamp, bgr)
            index += 1

    def failure(self):
        """The one-line report of the frames that did not decode, or None."""
        if not self.failed:
            return None
        first, last = self.failed[0], self.failed[-1]
        where = f"frame {first}" if first == last else f"frames {first}-{last}"
        return (f"{self.name}: {len(self.failed)} of {self.frame_count} frames could not be decoded ({where}): "
                f"the file is corrupt or ends early")

    def close(self):
        self.cap.release()


def _is_device(path):
    """A character device such as /dev/video0: a camera by its path (V4L2)."""
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


class ImageFiles:
    """Image files as frames: (number, path) pairs, in order (they may come one by one, from stdin). One that
    cannot be read is left out and listed in `failed` as (number, message); the others keep their numbers."""

    live = False

    def __init__(self, numbered, total=None):
        self.numbered, self.frame_count = numbered, total
        self.failed = []

    def __iter__(self):
        for index, path in self.numbered:
            try:
                bgr = read_bgr(path)
            except ImageError as e:
                self.failed.append((index, str(e)))
                continue
            yield Frame(index, 0., bgr, str(path))

    def close(self):
        pass
