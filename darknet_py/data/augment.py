"""Darknet's training augmentation (src/data.c, src/image.c, src/utils.c), in numpy: its rand() formulas,
the label boxes moved with the image, the image placed on a canvas, and the HSV distortion.

Randomness comes from an object with a `rand()` method returning integers in [0, RAND_MAX], used through
Darknet's own formulas (rand_uniform, rand_scale, `rand()%n`), so a glibc-rand stream reproduces
libdarknet bit for bit (tests/data/test_data.py checks this); DarknetRandom supplies such a stream from a
seeded numpy Generator. All arithmetic is float32 in the operation order of libdarknet's machine code:
Debian builds it with -Ofast, which reassociates some of data.c's and image.c's expressions (noted where
it matters).
"""
from dataclasses import dataclass

import numpy as np

F32 = np.float32
RAND_MAX = 2147483647        # glibc's RAND_MAX: rand() returns integers in [0, RAND_MAX]
TRUTH_FIELDS = 5             # fill_truth_detection writes x, y, w, h, class per box
MIN_BOX_SIDE = .001          # fill_truth_detection drops boxes with w or h below this (a double literal)
CLASSIFICATION_BOX = 999999  # correct_boxes: a label at x == y == 0 is a classification-only truth


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
# Label boxes.

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
    machine code uses (read from the disassembly, bit-exact in tests/data/test_data.py):
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
