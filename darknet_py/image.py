"""Images exactly as Darknet handles them (src/image.c): float32 CHW, RGB, values in [0, 1].

resize_image and letterbox_image reproduce darknet's float32 arithmetic operation by operation, so
given the same pixels they are bit-identical to libdarknet (tests/test_image.py checks this).
"""
import math
import os
import re
import sys
import tempfile
import threading

import cv2
import numpy as np

from .boxes import classes_above, pixel_box
from .errors import ImageError, file_problem, shown

# image.c: colors[6][3] and get_color, the palette of draw_detections.
_COLORS = np.array([[1, 0, 1], [0, 0, 1], [0, 1, 1], [0, 1, 0], [1, 1, 0], [1, 0, 0]], np.float32)
BYTE_TO_FLOAT = (np.arange(256) / 255.).astype(np.float32)  # (float)(byte/255.) for every byte value


JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"  # SOI and EOI markers
PIXEL_LIMITS = ("MAX_IMAGE_PIXELS", "MAX_IMAGE_WIDTH", "MAX_IMAGE_HEIGHT")  # OpenCV's refusals of huge headers
OPENCV_LOG = re.compile(r"^\[\w+:[\d@.]+\] global \S+ \S+ ")  # "[ERROR:0@0.4] global grfmt_png.cpp:297 readHeader "
_warned = set()  # images already warned about (a training run loads each many times)


def read_bgr(path):
    """An image file as OpenCV decodes it: (H, W, 3) uint8 BGR (what the GPU path uploads). Grayscale, 16-bit
    and RGBA files come as 8-bit BGR (IMREAD_COLOR, as Darknet's load_image_cv). A JPEG cut short is decoded
    as far as it goes, as Darknet does, with one warning naming the file; what libjpeg or libpng say about a
    file goes into that warning, or the error (see _decode)."""
    problem = file_problem(path)
    if problem:
        raise ImageError(f"cannot read image {path}: {problem}")
    try:
        bgr, said = _decode(os.fspath(path))
    except cv2.error as e:
        reason = "its header claims more pixels than OpenCV decodes" if any(
            limit in str(e) for limit in PIXEL_LIMITS) else shown(str(e).strip().splitlines()[-1])
        raise ImageError(f"cannot read image {path}: {reason}") from None
    said = " / ".join(OPENCV_LOG.sub("", line).strip() for line in said.splitlines() if line.strip())
    said = f" (the decoder says: {shown(said)})" if said else ""
    if bgr is None:
        raise ImageError(f"cannot read image {path}: not an image OpenCV can decode{said}")
    truncated = _truncated_jpeg(path)
    if (truncated or said) and str(path) not in _warned:
        _warned.add(str(path))
        what = "the JPEG data ends early (no end marker): the rest is decoded as gray" if truncated else "decoded"
        print(f"darknet-py: warning: {path}: {what}{said}", file=sys.stderr)
    return bgr


def _decode(name):
    """(cv2.imread of the file, what C libraries printed meanwhile). In the main thread, libjpeg's and libpng's
    messages, which they write straight to file descriptor 2, are collected so that they reach the user inside
    the one line naming the file; in other threads (the training loaders) fd 2 is left alone, as redirecting it
    would swallow what the other threads print."""
    if threading.current_thread() is not threading.main_thread():
        return _imread(name), ""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no fd 2 to redirect (a daemon, a closed stderr)
        return _imread(name), ""
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            bgr = _imread(name)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        return bgr, sink.read().decode("utf-8", "replace")


def _imread(name):
    """cv2.imread, or for a file name that is not UTF-8 (which OpenCV cannot take) its bytes through imdecode."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        with open(name, "rb") as f:
            return cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)
    return cv2.imread(name, cv2.IMREAD_COLOR)


def _truncated_jpeg(path):
    """A JPEG file without its end-of-image marker among its last bytes (libjpeg then pads the missing part)."""
    with open(path, "rb") as f:
        if f.read(2) != JPEG_START:
            return False
        f.seek(max(0, os.fstat(f.fileno()).st_size - 64))
        return JPEG_END not in f.read()


def bgr_to_image(bgr):
    """(H, W, 3) uint8 BGR -> (3, H, W) float32 RGB in [0, 1]: byte/255. is a double division rounded
    once to float, as in mat_to_image/load_image_stb (looked up: the same values, twice as fast)."""
    return np.take(BYTE_TO_FLOAT, bgr[:, :, ::-1].transpose(2, 0, 1))


def load_image(path):
    """Decode an image file to (3, H, W) float32 RGB in [0, 1], like darknet's load_image_color(path, 0, 0).

    The oracle build decodes with OpenCV too (load_image_cv: imread colour, BGR->RGB, byte/255.).
    Darknet built without OpenCV uses stb_image, whose JPEG decoding differs by up to 3/255.
    """
    return bgr_to_image(read_bgr(path))


def resize_image(im, w, h):
    """Darknet's resize_image: separable bilinear with align-corners scale (in-1)/(out-1).

    Horizontal pass first into a (C, im_h, w) buffer, the last column copied; then the vertical pass,
    where the last row is only (1-dy)*row[iy] (darknet skips the second term there, so it is a copy
    only when (h-1)*scale rounds to exactly im_h-1). All arithmetic is float32 in the C order.
    """
    im = np.asarray(im, dtype=np.float32)
    c, ih, iw = im.shape
    if w < 1 or h < 1:  # letterboxing a 4000x3 image to 416 gives it 0 rows: nothing to place, as in Darknet
        return np.empty((c, max(h, 0), max(w, 0)), np.float32)
    part = np.empty((c, ih, w), np.float32)
    part[:, :, w - 1] = im[:, :, iw - 1]
    if iw > 1 and w > 1:
        w_scale = np.float32(iw - 1) / np.float32(w - 1)
        sx = np.arange(w - 1, dtype=np.float32) * w_scale
        ix = sx.astype(np.int32)
        dx = sx - ix.astype(np.float32)
        left, right = im[:, :, ix], im[:, :, ix + 1]  # the products and sum in place: the same float ops
        left *= np.float32(1) - dx
        right *= dx
        np.add(left, right, out=part[:, :, :w - 1])
    else:
        part[:, :, :] = im[:, :, iw - 1:iw]

    # For h = 1 darknet's scale is (ih-1)/0 = inf and row 0 reads 0*inf = NaN (a NaN row in, garbage out);
    # we take 0*inf as 0: row 0 of the image.
    h_scale = np.float32(ih - 1) / np.float32(h - 1) if h > 1 else np.float32(0)
    sy = np.arange(h, dtype=np.float32) * h_scale
    iy = sy.astype(np.int32)
    dy = (sy - iy.astype(np.float32))[:, None]
    out = part[:, iy, :]
    out *= np.float32(1) - dy
    if ih > 1:
        # add_pixel(dy * part[iy+1]) for every row but the last.
        below = part[:, iy[:h - 1] + 1, :]
        below *= dy[:h - 1]
        out[:, :h - 1] += below
    return out


def letterbox_size(im_w, im_h, w, h):
    """Darknet's letterbox new size: the side that limits is set, the other scaled with integer division."""
    if np.float32(w) / np.float32(im_w) < np.float32(h) / np.float32(im_h):
        return w, (im_h * w) // im_w
    return (im_w * h) // im_h, h


def crop_image(im, dx, dy, w, h):
    """image.c crop_image: a w x h window at (dx, dy); coordinates outside are clamped to the border."""
    _, ih, iw = im.shape
    rows = np.clip(np.arange(h) + dy, 0, ih - 1)
    cols = np.clip(np.arange(w) + dx, 0, iw - 1)
    return im[:, rows[:, None], cols[None, :]]


def letterbox_image(im, w, h):
    """Darknet's letterbox_image: resize keeping aspect, paste centred on a canvas filled with 0.5."""
    im = np.asarray(im, dtype=np.float32)
    new_w, new_h = letterbox_size(im.shape[2], im.shape[1], w, h)
    boxed = np.full((im.shape[0], h, w), 0.5, np.float32)
    dx, dy = (w - new_w) // 2, (h - new_h) // 2
    boxed[:, dy:dy + new_h, dx:dx + new_w] = resize_image(im, new_w, new_h)
    return boxed


def get_color(c, x, max_):
    """Darknet's get_color: channel c (0 blue .. 2 red as draw_detections calls it) of palette entry x/max."""
    ratio = np.float32(x) / np.float32(max_) * np.float32(5)
    i, j = math.floor(ratio), math.ceil(ratio)
    ratio -= np.float32(i)
    return float((np.float32(1) - ratio) * _COLORS[i][c] + ratio * _COLORS[j][c])


def _draw_box(im, x1, y1, x2, y2, rgb):
    """draw_box: one-pixel rectangle, corners clamped into the image."""
    _, ih, iw = im.shape
    x1, x2 = (min(max(v, 0), iw - 1) for v in (x1, x2))
    y1, y2 = (min(max(v, 0), ih - 1) for v in (y1, y2))
    col = np.asarray(rgb, np.float32)[:, None]
    im[:, y1, x1:x2 + 1] = col
    im[:, y2, x1:x2 + 1] = col
    im[:, y1:y2 + 1, x1] = col
    im[:, y1:y2 + 1, x2] = col


def _label_patch(text, height, rgb):
    """A (3, h, w) label: black text on the class colour, about `height` pixels tall.

    Darknet composes labels from its glyph images (data/labels/*.png); we draw the text with
    cv2.putText instead, so labels look alike but are not pixel-identical.
    """
    scale = max(height, 8) / 30.0
    thick = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(1, th // 4)  # darknet borders its label by a quarter of the glyph height
    patch = np.empty((th + base + 2 * pad, tw + 2 * pad, 3), np.float32)
    patch[:] = rgb
    cv2.putText(patch, text, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick,
                cv2.LINE_AA)
    return patch.transpose(2, 0, 1)


def draw_detections(im, dets, names, thresh=.5, white=1.):
    """Draw darknet-style labelled boxes into im (3, H, W) float32, in place (white=255: into an 8-bit image,
    colours truncated as save_image truncates them).

    dets: objects with .bbox (x, y, w, h; centre format, relative to the image), .prob (class
    probabilities) and .objectness, as darknet's `detection`. A detection is drawn when some class
    has prob > thresh; its label lists every such class, its colour is keyed by the first.
    Returns [(class name, prob, (left, top, right, bot)), ...], one per class above thresh, in
    darknet's print order (the CLI prints them as "dog: 82%").
    """
    _, ih, iw = im.shape
    classes = len(names)
    drawn = []
    for det, above in classes_above(dets, thresh):
        above = [j for j in above if j < classes]  # the classes that have names
        if not above:
            continue
        left, top, right, bot = pixel_box(det.bbox, iw, ih)
        drawn += [(names[j], float(det.prob[j]), (left, top, right, bot)) for j in above]

        offset = above[0] * 123457 % classes
        rgb = (get_color(2, offset, classes), get_color(1, offset, classes),
               get_color(0, offset, classes))
        width = int(ih * .006)
        for i in range(width):
            _draw_box(im, left + i, top + i, right - i, bot - i, [white * c for c in rgb])

        label = _label_patch(", ".join(names[j] for j in above), int(ih * .03), rgb)
        # draw_label(im, top + width, left, ...): above that row when it fits, else below it.
        lh, lw = label.shape[1:]
        r = top + width
        if r - lh >= 0:
            r -= lh
        ph, pw = max(0, min(lh, ih - r)), max(0, min(lw, iw - left))
        im[:, r:r + ph, left:left + pw] = white * label[:, :ph, :pw]
    return drawn


def draw_detections_bgr(bgr, dets, names, thresh=.5):
    """draw_detections into an (H, W, 3) uint8 BGR frame, in place: the video path, with no float copy."""
    return draw_detections(bgr.transpose(2, 0, 1)[::-1], dets, names, thresh, white=255.)


def save_image(im, path):
    """Write (3, H, W) float32 RGB to path (format from its extension; JPEG at darknet's quality 80).

    Pixels become (unsigned char)(255*v), truncated as in darknet's save_image_options; values are
    clipped to [0, 1] first, where darknet's cast of an out-of-range float is undefined.
    """
    if not cv2.imwrite(str(path), image_to_bgr(im), [cv2.IMWRITE_JPEG_QUALITY, 80]):
        raise ImageError(f"cannot write image: {path}")


def image_to_bgr(im):
    """(3, H, W) float32 RGB -> (H, W, 3) uint8 BGR, (unsigned char)(255*v) of the clipped values."""
    return np.ascontiguousarray((255 * np.clip(im, 0, 1)).astype(np.uint8).transpose(1, 2, 0)[:, :, ::-1])
