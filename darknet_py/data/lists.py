"""The files a Darknet dataset is made of (src/data.c, src/utils.c): image lists (get_paths), the label file
beside each image (fill_truth_detection's images -> labels path rule, read_boxes) and names files (get_labels).
"""
import math
import sys
from pathlib import Path

import numpy as np

from ..errors import DarknetError, file_problem, shown

F32 = np.float32
# find_replace pairs in fill_truth_detection's order; each replaces the first occurrence only.
LABEL_PATH_RULES = (("images", "labels"), ("JPEGImages", "labels"), ("raw", "labels"), (".jpg", ".txt"),
                    (".png", ".txt"), (".JPG", ".txt"), (".JPEG", ".txt"))


class LabelError(DarknetError):
    """A malformed or missing label file, located as ``path:line: message``."""

    def __init__(self, path, line, message):
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


def _read_text(path, what, error, errors="replace"):
    """A text file's contents; `error(path, line, message)` when it cannot be read (or is a FIFO, which would
    block). Bytes that are not UTF-8 become U+FFFD, or with errors="surrogateescape" stay the bytes they were
    when the text goes back to the OS (file names in a list)."""
    problem = file_problem(path)
    if problem:
        raise error(path, 0, f"cannot open {what}: {problem}")
    try:
        return Path(path).read_text(encoding="utf-8", errors=errors)
    except OSError as e:
        raise error(path, 0, f"cannot open {what}: {e.strerror}") from None


def _error(path, line, message):
    return DarknetError(f"{path}: {message}")


def read_paths(list_path):
    """The image paths of a train/valid list (data.c get_paths), one per line; blank lines skipped."""
    text = _read_text(list_path, "image list", _error, errors="surrogateescape")
    paths = [line.strip() for line in text.splitlines() if line.strip()]
    if not paths:
        raise DarknetError(f"{list_path}: image list is empty")
    return paths


# fill_truth_region's (YOLOv1's data): the same without raw -> labels.
REGION_LABEL_PATH_RULES = tuple(rule for rule in LABEL_PATH_RULES if rule[0] != "raw")


def label_path(image_path, rules=LABEL_PATH_RULES):
    """fill_truth_detection's label file for an image: images->labels, JPEGImages->labels, raw->labels,
    .jpg/.png/.JPG/.JPEG -> .txt, each the first occurrence only (darknet's find_replace)."""
    s = str(image_path)
    for old, new in rules:
        s = s.replace(old, new, 1)
    return s


def read_labels(path, classes=None):
    """read_boxes: a label file's `class x y w h` lines (normalised centre boxes) as (n, 5) float32.

    Darknet's fscanf loop stops silently at the first malformed line and exits ("Couldn't open file")
    when the file is missing; we raise LabelError naming the file (and line) in both cases. With
    `classes`, an id outside [0, classes) is an error too (darknet would index past its arrays).
    """
    text = _read_text(path, "label file", LabelError)
    rows, odd = [], None
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) != 5:
                raise ValueError
            cls = int(fields[0])
            x, y, w, h = (float(v) for v in fields[1:])
        except ValueError:
            raise LabelError(path, n, f"expected 'class x y w h', got '{shown(line.strip())}'") from None
        if not all(map(math.isfinite, (x, y, w, h))):
            raise LabelError(path, n, f"box coordinates must be finite numbers, got '{shown(line.strip())}'")
        if classes is not None and not 0 <= cls < classes:
            raise LabelError(path, n, f"class {cls} outside [0, {classes})")
        if odd is None and not (0 <= x <= 1 and 0 <= y <= 1 and 0 <= w <= 1 and 0 <= h <= 1):
            odd = n
        rows.append((cls, x, y, w, h))
    if odd is not None and str(path) not in _warned:
        _warned.add(str(path))
        print(f"{path}:{odd}: warning: a box outside 0..1 or with a negative size: kept as Darknet keeps it (its "
              f"corners clipped to the image, dropped if under .001 wide)", file=sys.stderr)
    return np.array(rows, F32).reshape(-1, 5)


_warned = set()  # label files already warned about: a training run reads each one many times


def read_names(path):
    """get_labels: a names file, one class name per line."""
    text = _read_text(path, "names", _error)
    return [line.strip() for line in text.splitlines() if line.strip()]
