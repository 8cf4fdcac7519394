"""What `detector test` and `detector demo` read and write around the network: the images test takes (paths,
folders, globs, a -list file, stdin), and for each image or frame the object lines (with -ext_output boxes), the
JSON records, the label files (-save_labels) and the annotated images (-out)."""
import glob
import json
import math
import os
import sys
import time
from typing import NamedTuple

import numpy as np

from ..boxes import pixel_box
from ..data.lists import label_path, read_paths
from ..detector import above, detect_prepared, prepare
from ..errors import DarknetError, shown
from ..image import bgr_to_image, draw_detections, draw_detections_bgr, image_to_bgr, save_image
from ..video.pipeline import Pipeline
from ..video.source import ImageFiles
from .common import check_writable, warn_nonfinite

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")  # a folder's images
PROMPT = "Enter Image Path: "  # test_detector's prompt when no image is given
F32 = np.float32


class Inputs(NamedTuple):
    paths: object      # an iterable of image paths
    total: int         # how many, or None (stdin)
    many: bool         # a folder, list, glob or several paths: -out names a folder
    interactive: bool  # paths typed at the prompt: one at a time, no progress line


def _expand(arg):
    if os.path.isdir(arg):
        try:
            names = os.listdir(arg)
        except OSError as e:
            raise DarknetError(f"cannot read the folder {shown(arg)}: {e.strerror}") from None
        found = sorted(os.path.join(arg, f) for f in names if f.lower().endswith(IMAGE_EXTENSIONS))
        if not found:
            raise DarknetError(f"{shown(arg)}: no images in this folder ({', '.join(IMAGE_EXTENSIONS)})")
        return found
    if glob.has_magic(arg):
        found = sorted(glob.glob(arg))
        if not found:
            raise DarknetError(f"{shown(arg)}: no file matches")
        return found
    return [arg]


def _stdin_paths(interactive):
    """Darknet reads one path per line when no image is given; the prompt only for someone typing them."""
    while True:
        try:
            line = input(PROMPT) if interactive else sys.stdin.readline()
        except EOFError:
            return
        if not interactive and not line:
            return
        if line.strip():
            yield line.strip()


def image_inputs(rest, list_file=None):
    """The images of `detector test`: a -list file, the arguments (paths, folders, globs), else stdin."""
    if list_file:
        paths = read_paths(list_file)
        return Inputs(paths, len(paths), True, False)
    if rest:
        paths = [p for arg in rest for p in _expand(arg)]
        return Inputs(paths, len(paths), len(paths) > 1 or paths != list(rest), False)
    interactive = sys.stdin.isatty()
    return Inputs(_stdin_paths(interactive), None, False, interactive)


def _c_round(v):
    """C's round(): halves away from zero."""
    return math.copysign(math.floor(abs(v) + .5), v)


def object_lines(dets, names, im_w, im_h, thresh, ext_output=False):
    """draw_detections' lines, `dog: 82%`; ext_output adds AlexeyAB's box: left, top, width, height in pixels."""
    lines = []
    for d, j in above(dets, thresh):
        line = f"{names[j]}: {d.prob[j] * 100:.0f}%"
        if ext_output:
            x, y, w, h = (F32(v) for v in d.bbox)
            left, top = (_c_round(float((c - s / F32(2)) * F32(n))) for c, s, n in ((x, w, im_w), (y, h, im_h)))
            line += (f"\t(left_x: {left:4.0f}   top_y: {top:4.0f}   width: {_c_round(float(w * F32(im_w))):4.0f}"
                     f"   height: {_c_round(float(h * F32(im_h))):4.0f})")
        lines.append(line)
    return lines


def object_records(dets, names, im_w, im_h, thresh):
    """The JSON objects of an image or frame: class, name, probability, the box in pixels (left, top, right,
    bottom, as drawn) and relative (centre, width, height: Darknet's bbox)."""
    records = []
    for d, j in above(dets, thresh):
        left, top, right, bottom = pixel_box(d.bbox, im_w, im_h)
        x, y, w, h = (round(float(v), 6) for v in d.bbox)
        records.append({"class_id": j, "name": names[j], "prob": round(float(d.prob[j]), 6), "left": left,
                        "top": top, "right": right, "bottom": bottom,
                        "relative": {"center_x": x, "center_y": y, "width": w, "height": h}})
    return records


def label_lines(dets, thresh):
    """AlexeyAB's -save_labels: per detection its best class above thresh, `class x y w h` relative."""
    lines = []
    for d in dets:
        best = int(np.argmax(d.prob))  # the first of equal maxima, as its strict > loop
        if d.prob[best] > thresh:
            lines.append(f"{best} {d.bbox[0]:2.4f} {d.bbox[1]:2.4f} {d.bbox[2]:2.4f} {d.bbox[3]:2.4f}\n")
    return lines


def save_labels(image_path, dets, thresh):
    """Write the label file where the training loader looks for it (data/lists.py label_path: beside the image,
    or in labels/ for an images/ folder)."""
    path = label_path(image_path)
    if path == image_path:
        raise DarknetError(f"{image_path}: cannot derive a label file name (.jpg, .png, .JPG or .JPEG)")
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            f.writelines(label_lines(dets, thresh))
    except OSError as e:
        raise DarknetError(f"cannot write {path}: {e.strerror}") from None


class JsonArray:
    """-json FILE: a JSON array that is complete after every image (each record is written over the closing
    bracket), so a run stopped at image 900 keeps the 899 before it. "-" prints the array at the end."""

    CLOSE = b"\n]\n"

    def __init__(self, path):
        self.path, self.records, self.end = path, [], None
        if path != "-":
            try:
                self.file = open(path, "wb")
                self.file.write(b"[" + self.CLOSE[1:])
            except OSError as e:
                raise DarknetError(f"-json {path}: cannot write: {e.strerror}") from None
            self.end = 1

    def add(self, record):
        if self.end is None:
            self.records.append(record)
            return
        text = (b"\n" if self.end == 1 else b",\n") + json.dumps(record).encode()
        try:
            self.file.seek(self.end)
            self.file.write(text + self.CLOSE)
            self.file.flush()
        except OSError as e:  # a full disk: the array up to the record before stays whole
            raise DarknetError(f"-json {self.path}: cannot write: {e.strerror}") from None
        self.end += len(text)

    def close(self):
        if self.end is None:
            print(json.dumps(self.records, indent=1))
        else:
            self.file.close()


class AnnotatedImages:
    """-out: with many inputs (or when it names a folder) one image per input in that folder, named after it;
    otherwise Darknet's name, `predictions.jpg` or the -out name (`name_N` for the N-th from the prompt).
    last: under mpirun, the number of the last image, the only one that writes predictions.jpg (as in one process,
    where each image writes it over the one before). Made before the work starts: the folder is created, or the
    file's folder checked (commands/common.py check_writable)."""

    def __init__(self, out, many, last=None):
        self.out, self.last = out, last
        self.folder = out if out and (many or os.path.isdir(out) or out.endswith(os.sep)) else None
        if self.folder:
            try:
                os.makedirs(self.folder, exist_ok=True)
            except OSError as e:
                raise DarknetError(f"-out {shown(self.folder)}: cannot make the folder: {e.strerror}") from None
        else:
            check_writable(self.path(0, None), "-out")

    def wanted(self, n):
        return self.out or self.last in (None, n)

    def path(self, n, image_path):
        if self.folder:
            return os.path.join(self.folder, os.path.splitext(os.path.basename(image_path))[0] + ".jpg")
        target = f"{self.out}_{n}" if self.out and n else self.out or "predictions"
        return target if os.path.splitext(target)[1] else target + ".jpg"


class TestResult(NamedTuple):
    """One image of detector test as it is reported: its lines and JSON record, or why it was skipped."""
    lines: list = None
    record: dict = None
    error: str = None


class ImageTest:
    """test_detector's work on the images one process (or one rank) is given: read and letterbox them ahead in
    threads, detect -batch of them per forward, draw and save each (AnnotatedImages), write its label file
    (-save_labels), show it (a window), and return what is printed and put in the -json list."""

    def __init__(self, net, names, thresh, hier, nms, batch, annotated, ext_output=False, labels=False, window=None):
        self.net, self.names, self.thresh, self.hier, self.nms, self.batch = net, names, thresh, hier, nms, batch
        self.annotated, self.ext_output, self.labels, self.window = annotated, ext_output, labels, window

    def _detect(self, prepared):
        start = time.time()
        dets = detect_prepared(self.net, prepared, self.thresh, self.hier, self.nms)  # bytes up to a GPU, as they are
        warn_nonfinite(self.net)
        return [(d, (time.time() - start) / len(prepared)) for d in dets]

    def run(self, numbered, threaded=True):
        """A TestResult for each (number, path) of `numbered`, in order, the unreadable images included."""
        source = ImageFiles(numbered)
        reported = 0
        for item in Pipeline(source, lambda bgr: prepare(self.net, bgr), self._detect, self.batch,
                             threaded=threaded).run():
            while reported < len(source.failed) and source.failed[reported][0] < item.frame.index:
                yield TestResult(error=source.failed[reported][1])
                reported += 1
            yield self._image(item.frame, *item.result)
        for _, message in source.failed[reported:]:
            yield TestResult(error=message)

    def _image(self, frame, dets, seconds):
        h, w = frame.bgr.shape[:2]
        lines = [f"{frame.path}: Predicted in {seconds:f} seconds."]
        lines += object_lines(dets, self.names, w, h, self.thresh, self.ext_output)
        if self.annotated.wanted(frame.index) or self.window:
            im = bgr_to_image(frame.bgr)  # drawn on below
            draw_detections(im, dets, self.names, self.thresh)
            save_image(im, self.annotated.path(frame.index, frame.path))
            if self.window:
                self.window.show(image_to_bgr(im), 0)  # test_detector waits for a key
        if self.labels:
            save_labels(frame.path, dets, self.thresh)
        return TestResult(lines, {"image": frame.path, "objects": object_records(dets, self.names, w, h, self.thresh)})


class DemoOutputs:
    """What `detector demo` does with each frame: print its FPS and objects (-benchmark: the FPS only), draw it,
    write it to the video, the numbered JPEGs and the window, and its JSON line (frames that were detected, not
    those -s skipped). The writers are set by the command."""

    def __init__(self, names, thresh, ext_output=False, benchmark=False):
        self.names, self.thresh, self.ext_output, self.benchmark = names, thresh, ext_output, benchmark
        self.video = self.frames = self.json = self.window = None
        self.began = self.last = time.time()
        self.second = None  # when the second frame came: the first one carries the warm-up (tuning, compiling)
        self.fps, self.done = 0., 0

    def elapsed(self):
        return time.time() - self.began

    def rate(self):
        return self.done / max(self.elapsed(), 1e-9)

    def steady_rate(self):
        """Frames per second after the first (None with fewer than 2)."""
        return None if self.second is None else (self.done - 1) / max(time.time() - self.second, 1e-9)

    def add(self, item):
        """Print, draw and write one frame; item.result: its detections with a class above the threshold, all and
        only those (detector.frame_detections). Returns False when the window asks to stop (ESC)."""
        now = time.time()
        if self.done == 1:
            self.second = now
        self.fps = .9 * self.fps + .1 / max(now - self.last, 1e-9)  # AlexeyAB's running FPS
        self.last, self.done = now, self.done + 1
        if self.benchmark:
            print(f"FPS:{self.fps:.1f} \t AVG_FPS:{self.rate():.1f}")
            return True
        frame, dets = item.frame, item.result
        h, w = frame.bgr.shape[:2]
        print(f"\nFrame {frame.index}: FPS:{self.fps:.1f}\nObjects:\n")
        for line in object_lines(dets, self.names, w, h, self.thresh, self.ext_output):
            print(line)
        if self.video or self.frames or self.window:
            draw_detections_bgr(frame.bgr, dets, self.names, self.thresh)
        if self.video:
            self.video.write(frame.bgr)
        if self.frames:
            self.frames.write(frame.index, frame.bgr)
        if self.json and item.detect:
            self.json.write({"frame": frame.index, "timestamp": round(frame.time, 6),
                             "objects": object_records(dets, self.names, w, h, self.thresh)})
        return self.window.show(frame.bgr) if self.window else True

    def close(self):
        for out in (self.video, self.frames, self.json, self.window):
            if out:
                out.close()
