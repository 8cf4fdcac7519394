"""The files a Darknet dataset is made of (src/data.c, src/utils.c): image lists (get_paths), the label file
beside each image (fill_truth_detection's images -> labels path rule, read_boxes) and names files (get_labels).
"""
from pathlib import Path

import numpy as np

from ..errors import DarknetError

F32 = np.float32
# find_replace pairs in fill_truth_detection's order; each replaces the first occurrence only.
LABEL_PATH_RULES = (("images", "labels"), ("JPEGImages", "labels"), ("raw", "labels"), (".jpg", ".txt"),
                    (".png", ".txt"), (".JPG", ".txt"), (".JPEG", ".txt"))


class LabelError(DarknetError):
    """A malformed or missing label file, located as ``path:line: message``."""

    def __init__(self, path, line, message):
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


def read_paths(list_path):
    """The image paths of a train/valid list (data.c get_paths), one per line; blank lines skipped."""
    try:
        text = Path(list_path).read_text()
    except OSError as e:
        raise DarknetError(f"cannot read image list {list_path}: {e.strerror}") from None
    paths = [line.strip() for line in text.splitlines() if line.strip()]
    if not paths:
        raise DarknetError(f"{list_path}: image list is empty")
    return paths


def label_path(image_path):
    """fill_truth_detection's label file for an image: images->labels, JPEGImages->labels, raw->labels,
    .jpg/.png/.JPG/.JPEG -> .txt, each the first occurrence only (darknet's find_replace)."""
    s = str(image_path)
    for old, new in LABEL_PATH_RULES:
        s = s.replace(old, new, 1)
    return s


def read_labels(path, classes=None):
    """read_boxes: a label file's `class x y w h` lines (normalised centre boxes) as (n, 5) float32.

    Darknet's fscanf loop stops silently at the first malformed line and exits ("Couldn't open file")
    when the file is missing; we raise LabelError naming the file (and line) in both cases. With
    `classes`, an id outside [0, classes) is an error too (darknet would index past its arrays).
    """
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise LabelError(path, 0, f"cannot open label file: {e.strerror}") from None
    rows = []
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
            raise LabelError(path, n, f"expected 'class x y w h', got {line.strip()!r}") from None
        if classes is not None and not 0 <= cls < classes:
            raise LabelError(path, n, f"class {cls} outside [0, {classes})")
        rows.append((cls, x, y, w, h))
    return np.array(rows, F32).reshape(-1, 5)


def read_names(path):
    """get_labels: a names file, one class name per line."""
    try:
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise DarknetError(f"{path}: cannot read names: {e.strerror}") from None
