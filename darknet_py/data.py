"""Detection training data as Darknet prepares it (src/data.c, src/image.c), in numpy.

load_detection_image follows the current pjreddie path `train_detector -> DETECTION_DATA ->
load_data_detection`: a canvas filled with .5, the image placed with a jittered aspect ratio at a random
offset, an HSV distortion, a horizontal flip, and the label boxes moved to match. Randomness comes from
an object with a `rand()` method returning integers in [0, RAND_MAX], used through Darknet's own formulas
(rand_uniform, rand_scale, `rand()%n`), so a glibc-rand stream reproduces libdarknet bit for bit
(tests/test_data.py checks this); DarknetRandom supplies such a stream from a seeded numpy Generator.
All arithmetic is float32 in the operation order of libdarknet's machine code: Debian builds it with
-Ofast, which reassociates some of data.c's and image.c's expressions (noted where it matters).
"""
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DarknetError
from .image import letterbox_image, load_image, resize_image

F32 = np.float32
RAND_MAX = 2147483647        # glibc's RAND_MAX: rand() returns integers in [0, RAND_MAX]
CANVAS_FILL = .5             # load_data_detection: fill_image(sized, .5) before place_image
NUM_BOXES = 30               # region layer `max` default: truths per image (l.truths = 30*(coords+1))
TRUTH_FIELDS = 5             # fill_truth_detection writes x, y, w, h, class per box
MIN_BOX_SIDE = .001          # fill_truth_detection drops boxes with w or h below this (a double literal)
CLASSIFICATION_BOX = 999999  # correct_boxes: a label at x == y == 0 is a classification-only truth
# find_replace pairs in fill_truth_detection's order; each replaces the first occurrence only.
LABEL_PATH_RULES = (("images", "labels"), ("JPEGImages", "labels"), ("raw", "labels"), (".jpg", ".txt"),
                    (".png", ".txt"), (".JPG", ".txt"), (".JPEG", ".txt"))


class LabelError(DarknetError):
    """A malformed or missing label file, located as ``path:line: message``."""

    def __init__(self, path, line, message):
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


# ----------------------------------------------------------------------------------------------------
# Randomness with Darknet's formulas.

class DarknetRandom:
    """A rand()-like stream (integers in [0, RAND_MAX]) drawn from a seeded numpy Generator."""

    def __init__(self, seed=None):
        self.gen = np.random.default_rng(seed)

    def rand(self):
        return int(self.gen.integers(0, RAND_MAX, endpoint=True))


def rand_uniform(rng, lo, hi):
    """utils.c rand_uniform: float32 `(float)rand()/RAND_MAX * (max-min) + min`, bounds put in order."""
    lo, hi = F32(lo), F32(hi)
    if hi < lo:
        lo, hi = hi, lo
    return F32(rng.rand()) / F32(RAND_MAX) * (hi - lo) + lo


def rand_scale(rng, s):
    """utils.c rand_scale: U(1, s), replaced by its reciprocal when rand() is even."""
    scale = rand_uniform(rng, 1, s)
    if rng.rand() % 2:
        return scale
    return F32(1. / float(scale))


# ----------------------------------------------------------------------------------------------------
# Paths and labels.

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


def randomize_boxes(labels, rng):
    """data.c randomize_boxes: for each i, swap row i with row rand()%n (in place)."""
    n = len(labels)
    for i in range(n):
        j = rng.rand() % n
        labels[[i, j]] = labels[[j, i]]


def correct_boxes(labels, dx, dy, sx, sy, flip):
    """data.c correct_boxes: boxes (n, 5) [class x y w h] to the augmented image, as (n, 4) x, y, w, h.

    Edges are scaled by sx, sy and shifted by -dx, -dy, mirrored when flipped, clamped to [0, 1]; the
    centre and size are recomputed from the clamped edges. A label at x == y == 0 becomes the
    classification-only truth 999999 in every field (YOLO9000's detection/classification mix).
    """
    dx, dy, sx, sy = F32(dx), F32(dy), F32(sx), F32(sy)
    x, y, w, h = (labels[:, k].astype(F32) for k in range(1, 5))
    # read_boxes stores the edges as x -+ w/2, y -+ h/2 in float.
    left, right = (x - w / F32(2)) * sx, (x + w / F32(2)) * sx
    top, bottom = (y - h / F32(2)) * sy - dy, (y + h / F32(2)) * sy - dy
    if flip:
        # 1 - (edge*sx - dx), which libdarknet's -Ofast build computes as (1 + dx) - edge*sx
        left, right = (F32(1) + dx) - right, (F32(1) + dx) - left
    else:
        left, right = left - dx, right - dx
    left, right, top, bottom = (np.clip(v, F32(0), F32(1)) for v in (left, right, top, bottom))
    out = np.stack([(left + right) / F32(2), (top + bottom) / F32(2),
                    np.clip(right - left, F32(0), F32(1)), np.clip(bottom - top, F32(0), F32(1))], 1)
    out[(x == 0) & (y == 0)] = CLASSIFICATION_BOX
    return out.astype(F32)


def fill_truth_detection(labels, rng, num_boxes, flip, dx, dy, sx, sy):
    """data.c fill_truth_detection: shuffle, correct, keep the first num_boxes, drop w or h < .001.

    Returns (num_boxes*5,) float32 rows x, y, w, h, class; unused rows stay 0. Darknet truncates to
    num_boxes *before* dropping tiny boxes, so an image can end with fewer than num_boxes truths.
    """
    labels = labels.copy()
    randomize_boxes(labels, rng)
    boxes = correct_boxes(labels, dx, dy, sx, sy, flip)[:num_boxes]
    # float widths compared with the double .001, as in C; written as `not <` so NaN is kept like C does
    bw, bh = boxes[:, 2].astype(np.float64), boxes[:, 3].astype(np.float64)
    keep = ~((bw < MIN_BOX_SIDE) | (bh < MIN_BOX_SIDE))
    rows = np.concatenate([boxes, labels[:num_boxes, :1]], 1)[keep]
    truth = np.zeros((num_boxes, TRUTH_FIELDS), F32)
    truth[:len(rows)] = rows
    return truth.reshape(-1)


# ----------------------------------------------------------------------------------------------------
# Pixels.

def place_image(im, w, h, dx, dy, canvas):
    """image.c place_image: draw im scaled to w x h at (dx, dy) into canvas (in place).

    Samples with bilinear_interpolate at ((float)x/w*im.w, (float)y/h*im.h); taps outside the image
    read 0 (get_pixel_extend) and pixels falling outside the canvas are skipped (set_pixel).
    libdarknet is built with -Ofast, which reorders that float arithmetic; we follow the order its
    machine code uses (read from the disassembly, bit-exact in tests/test_data.py):
    rx = x * (im.w * (1/w)); 1-dx as (ix+1) - rx; val = (1-dx)*((1-dy)*p00 + dy*p01) + (dx*(1-dy))*p10
    + (dx*dy)*p11, where p01 is the tap one row down and p10 the tap one column right.
    """
    c, ih, iw = im.shape
    _, ch, cw = canvas.shape
    one = F32(1)
    rx = np.arange(w, dtype=F32) * (F32(iw) * (one / F32(w)))
    ry = np.arange(h, dtype=F32) * (F32(ih) * (one / F32(h)))
    ix, iy = np.floor(rx).astype(np.int64), np.floor(ry).astype(np.int64)
    fx, fy = ix.astype(F32), iy.astype(F32)
    dxs, dys = (rx - fx)[None, :], (ry - fy)[:, None]
    omx, omy = ((fx + one) - rx)[None, :], ((fy + one) - ry)[:, None]
    padded = np.zeros((c, ih + 2, iw + 2), F32)  # the zero border stands for get_pixel_extend's 0
    padded[:, :ih, :iw] = im
    ix, iy = np.minimum(ix, iw), np.minimum(iy, ih)

    def tap(oy, ox):
        return padded[:, (iy + oy)[:, None], (ix + ox)[None, :]]

    val = omx * (omy * tap(0, 0) + dys * tap(1, 0)) + (dxs * omy) * tap(0, 1) + (dxs * dys) * tap(1, 1)
    x0, y0 = max(dx, 0), max(dy, 0)
    x1, y1 = min(dx + w, cw), min(dy + h, ch)
    if x1 > x0 and y1 > y0:
        canvas[:, y0:y1, x0:x1] = val[:, y0 - dy:y1 - dy, x0 - dx:x1 - dx]


def rgb_to_hsv(im):
    """image.c rgb_to_hsv of (3, H, W) float32: h, s, v in [0, 1].

    A grey pixel gets h = 0/0 = NaN in darknet (not 0); it is harmless because s = 0 there, and kept
    so the arrays match.
    """
    r, g, b = im
    mx = np.maximum(np.maximum(r, g), b)
    delta = mx - np.minimum(np.minimum(r, g), b)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(mx == 0, F32(0), delta / mx)
        h = np.where(r == mx, (g - b) / delta,
                     np.where(g == mx, F32(2) + (b - r) / delta, F32(4) + (r - g) / delta))
    h = np.where(h < 0, h + F32(6), h) / F32(6)
    h = np.where(mx == 0, F32(0), h)
    return np.stack([h, s, mx]).astype(F32)


def hsv_to_rgb(hsv):
    """image.c hsv_to_rgb of (3, H, W) float32, the sector chosen by floor(6h) (6 falls in the last)."""
    h, s, v = hsv
    h = F32(6) * h
    grey = s == 0
    index = np.floor(np.where(grey, 0, h)).astype(np.int64)
    f = h - index.astype(F32)
    one = F32(1)
    p, q, t = v * (one - s), v * (one - s * f), v * (one - s * (one - f))
    sector = np.minimum(index, 5)  # darknet's final `else` takes index 5 and above
    r = np.choose(sector, [v, q, p, p, t, v])
    g = np.choose(sector, [t, v, v, q, p, p])
    b = np.choose(sector, [p, p, t, v, v, q])
    rgb = np.stack([r, g, b])
    return np.where(grey, v, rgb).astype(F32)


def distort_image(im, hue, sat, val):
    """image.c distort_image: in HSV, s *= sat, v *= val, h += hue wrapped once into [0, 1]; then
    back to RGB and clamp to [0, 1]. Returns a new (3, H, W) float32 array."""
    hsv = rgb_to_hsv(im)
    hsv[1] *= F32(sat)
    hsv[2] *= F32(val)
    h = hsv[0] + F32(hue)
    h = np.where(h > 1, h - F32(1), h)
    hsv[0] = np.where(h < 0, h + F32(1), h)
    return np.clip(hsv_to_rgb(hsv), F32(0), F32(1))


def random_distort_image(im, hue, saturation, exposure, rng):
    """image.c random_distort_image: dhue = U(-hue, hue), dsat = rand_scale(sat), dexp = rand_scale(exp)."""
    dhue = rand_uniform(rng, -F32(hue), F32(hue))
    dsat = rand_scale(rng, saturation)
    dexp = rand_scale(rng, exposure)
    return distort_image(im, dhue, dsat, dexp)


# ----------------------------------------------------------------------------------------------------
# One training image, whole batches, validation images.

@dataclass(frozen=True)
class Augment:
    """The [net]/[region] augmentation settings train_detector passes to load_data_detection."""
    jitter: float = .2       # [region] jitter (yolov2.cfg .3, yolov2-tiny .2)
    hue: float = .1          # [net] hue
    saturation: float = 1.5  # [net] saturation
    exposure: float = 1.5    # [net] exposure

    @classmethod
    def from_network(cls, net):
        """train_detector's settings: the last layer's (the [region]'s) jitter, [net]'s hue/sat/exposure."""
        return cls(net.layers[-1].jitter, net.hue, net.saturation, net.exposure)


def load_detection_image(path, w, h, aug, rng, num_boxes=NUM_BOXES, classes=None):
    """One image of data.c load_data_detection: returns x (3, h, w) float32 and truth (num_boxes*5,).

    rand() order as in libdarknet (checked against it): the aspect jitter's width draw then its height
    draw, dx, dy, the three distortion draws, flip, then randomize_boxes.
    """
    orig = load_image(path)
    labels = read_labels(label_path(path), classes)
    _, oh, ow = orig.shape
    dw, dh = F32(aug.jitter) * F32(ow), F32(aug.jitter) * F32(oh)
    num = F32(ow) + rand_uniform(rng, -dw, dw)
    new_ar = num / (F32(oh) + rand_uniform(rng, -dh, dh))
    if new_ar < 1:
        nh = F32(h)
        nw = nh * new_ar
    else:
        nw = F32(w)
        nh = nw / new_ar
    dx = rand_uniform(rng, 0, F32(w) - nw)
    dy = rand_uniform(rng, 0, F32(h) - nh)
    sized = np.full((3, h, w), CANVAS_FILL, F32)
    # place_image takes ints: C converts the float sizes and offsets by truncation.
    place_image(orig, int(nw), int(nh), int(dx), int(dy), sized)
    sized = random_distort_image(sized, aug.hue, aug.saturation, aug.exposure, rng)
    flip = rng.rand() % 2
    if flip:
        sized = sized[:, :, ::-1]
    # -dx/w, -dy/h, nw/w, nh/h: the -Ofast build multiplies by the hoisted reciprocals 1/w, 1/h
    rw, rh = F32(1) / F32(w), F32(1) / F32(h)
    truth = fill_truth_detection(labels, rng, num_boxes, flip, -(dx * rw), -(dy * rh), nw * rw, nh * rh)
    return np.ascontiguousarray(sized), truth


def load_detection_batch(paths, n, w, h, aug, rng, num_boxes=NUM_BOXES, classes=None):
    """data.c load_data_detection: n images drawn with replacement (rand()%m, get_random_paths), then
    augmented in order. Returns x (n, 3, h, w) float32 and truth (n, num_boxes*5) float32."""
    picks = [paths[rng.rand() % len(paths)] for _ in range(n)]
    x = np.empty((n, 3, h, w), F32)
    truth = np.empty((n, num_boxes * TRUTH_FIELDS), F32)
    for i, p in enumerate(picks):
        x[i], truth[i] = load_detection_image(p, w, h, aug, rng, num_boxes, classes)
    return x, truth


def load_letterboxed(path, w, h):
    """LETTERBOX_DATA (validate_detector): (image letterboxed to w x h, original width, original height)."""
    im = load_image(path)
    return letterbox_image(im, w, h), im.shape[2], im.shape[1]


def load_resized(path, w, h):
    """validate_detector_recall's input: (darknet resize to w x h, original width, original height)."""
    im = load_image(path)
    return resize_image(im, w, h), im.shape[2], im.shape[1]


class DetectionLoader:
    """Background batches for training, as darknet's load_data_in_thread: while one batch trains, the
    next ones are prepared by `workers` threads (numpy and OpenCV release the GIL in their loops).

    Batch k (the k-th returned by next()) is drawn with DarknetRandom((seed, k)), so the stream of
    batches is the same whatever the thread timing or number of workers. resize(w, h) (multi-scale
    training) drops the batches prepared at the old size, as train_detector joins and frees its
    in-flight batch before loading at the new size; their indices are drawn again at the new size.
    """

    def __init__(self, paths, batch, w, h, aug=Augment(), classes=None, workers=2, seed=0,
                 num_boxes=NUM_BOXES):
        self.paths, self.batch, self.aug, self.classes = list(paths), batch, aug, classes
        self.seed, self.num_boxes, self.workers = seed, num_boxes, workers
        self.w, self.h = w, h
        self._next_index = 0  # index of the next batch to submit
        self._consumed = 0    # batches returned by next()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="darknet-data")
        self._pending = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._fill()

    def _fill(self):
        """Keep `workers` batches in flight."""
        while self._pending.qsize() < self.workers:
            k = self._next_index
            self._next_index += 1
            self._pending.put(self._pool.submit(self.load_batch, DarknetRandom((self.seed, k))))

    def load_batch(self, rng):
        """One batch drawn from `rng` (subclasses load other kinds of data with the same threads)."""
        return load_detection_batch(self.paths, self.batch, self.w, self.h, self.aug, rng, self.num_boxes,
                                    self.classes)

    def next(self):
        """The next batch: x (batch, 3, h, w) float32 and truth (batch, num_boxes*5) float32."""
        with self._lock:
            future = self._pending.get()
            self._consumed += 1
            self._fill()
        return future.result()

    def resize(self, w, h):
        """Load at a new network size from now on; batches prepared at the old size are discarded."""
        with self._lock:
            while not self._pending.empty():
                future = self._pending.get()
                if not future.cancel():
                    future.exception()  # wait for it; an error in a discarded batch is dropped too
            self.w, self.h = w, h
            self._next_index = self._consumed
            self._fill()

    def close(self):
        """Stop the workers (batches still queued are abandoned)."""
        while not self._pending.empty():
            self._pending.get().cancel()
        self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_names(path):
    """get_labels: a names file, one class name per line."""
    try:
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise DarknetError(f"{path}: cannot read names: {e.strerror}") from None
