"""Where demo's annotated frames go: a video file (-out_filename), numbered JPEGs (-prefix), one JSON line per
frame (-json_file_output), and the window (only where there is a display). The command checks their paths
before any work (commands/common.py check_writable); the video and JSON files open at once, and each closes
cleanly whatever stops the run: the video is finished (playable) and the JSON holds every frame written."""
import json
import os

import cv2

from ..errors import DarknetError

FOURCC = {".avi": "MJPG", ".mp4": "mp4v", ".mov": "mp4v", ".mkv": "MJPG"}  # by extension; others: MJPG
JPEG_QUALITY = 80  # save_image_options: stbi_write_jpg(..., 80)
ESC = 27           # demo.c: the key that ends the demo


class VideoFile:
    """-out_filename: the frames as a video of the source's size and fps, codec by extension (AlexeyAB's demo:
    create_video_writer with the source's fps and frame size)."""

    def __init__(self, path, fps, width, height):
        self.path, self.size = path, (width, height)
        codec = FOURCC.get(os.path.splitext(path)[1].lower(), "MJPG")
        self.writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*codec), fps, self.size)
        if not self.writer.isOpened():
            raise DarknetError(f"cannot write video {path}: OpenCV cannot write {codec} into this file (its type or "
                               f"its folder)")

    def write(self, bgr):
        if (bgr.shape[1], bgr.shape[0]) != self.size:  # a stream that changes size mid-way: keep the file's
            bgr = cv2.resize(bgr, self.size)
        self.writer.write(bgr)

    def close(self):
        self.writer.release()


class FrameFiles:
    """-prefix NAME: each frame as NAME_%08d.jpg, numbered by frame (demo.c: sprintf("%s_%08d", prefix, count);
    its file 0 is the first frame before any drawing, a quirk of its buffer ring we do not keep)."""

    def __init__(self, prefix):
        self.prefix = prefix

    def write(self, index, bgr):
        path = f"{self.prefix}_{index:08d}.jpg"
        if not cv2.imwrite(path, bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise DarknetError(f"cannot write image: {path}")

    def close(self):
        pass


class JsonLines:
    """One JSON object per line, flushed line by line (a stopped run keeps every line written)."""

    def __init__(self, path):
        try:
            self.file = open(path, "w")
        except OSError as e:
            raise DarknetError(f"cannot write {path}: {e.strerror}") from None

    def write(self, record):
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def close(self):
        self.file.close()


def display_available(environ=os.environ):
    """A window can only open on an X11 or Wayland display."""
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


class Window:
    """demo.c's window: show each frame, ESC ends the run. Raises DarknetError where OpenCV has no GUI
    (opencv-python-headless)."""

    def __init__(self, title="Demo"):
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise DarknetError("this OpenCV has no GUI (opencv-python-headless): no window") from None

    def show(self, bgr, wait_ms=1):
        """Show a frame; False once ESC is pressed."""
        cv2.imshow(self.title, bgr)
        return cv2.waitKey(wait_ms) & 0xFF != ESC

    def close(self):
        cv2.destroyWindow(self.title)
