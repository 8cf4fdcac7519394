"""Classification training and validation data as Darknet prepares it (src/data.c, src/image.c).

train_classifier loads CLASSIFICATION_DATA through load_data_augment: each image is cut out by
random_augment_image (a random scale so the short side lands in [min, max], a random aspect change,
rotation and shift, sampled bilinearly), flipped with p = .5 and HSV-distorted. Its label comes from its
path (fill_truth: the one label string of the labels list that occurs in the path) and, for a WordTree
model, is widened to the label's ancestors (fill_hierarchy). validate_classifier_single instead scales
the short side to the network size and takes the centre crop. Randomness uses augment.py's rand()-stream
helpers, in libdarknet's draw order.
"""
import math
import sys
from dataclasses import dataclass, replace

import numpy as np

from ..image import crop_image, load_image, resize_image
from ..layers.cost import SECRET_NUM
from .augment import rand_scale, rand_uniform, random_distort_image
from .detection import DetectionLoader

F32 = np.float32
TWO_PI = 6.2831853071795864769252866  # darknet.h TWO_PI: random_augment_args turns degrees into radians with it


# ----------------------------------------------------------------------------------------------------
# Labels from paths.

def fill_truth(path, labels):
    """data.c fill_truth: 1 for every label string found in `path` (strstr), else 0; as (k,) float32.

    Darknet warns (and trains on) a path matching no label or more than one; so do we.
    """
    truth = np.array([label in path for label in labels], F32)
    count = int(truth.sum())
    if count != 1 and (len(labels) != 1 or count != 0):
        print(f"Too many or too few labels: {count}, {path}", file=sys.stderr)
    return truth


def fill_hierarchy(truth, tree):
    """data.c fill_hierarchy: set the ancestors of every true label to 1, then mark each tree group that
    holds no true label with SECRET_NUM so the softmax loss ignores it (in place; returns truth)."""
    for j in np.flatnonzero(truth[:tree.n]):
        parent = int(tree.parent[j])
        while parent >= 0:
            truth[parent] = 1
            parent = int(tree.parent[parent])
    for offset, size in zip(tree.group_offset.tolist(), tree.group_size.tolist()):
        group = truth[offset:offset + size]
        if not group.any():
            group[...] = SECRET_NUM
    return truth


def class_of(path, labels):
    """validate_classifier_single: the index of the first label string in `path`, -1 when none is."""
    return next((j for j, label in enumerate(labels) if label in path), -1)


# ----------------------------------------------------------------------------------------------------
# Pixels.

def rand_int(rng, lo, hi):
    """utils.c rand_int: rand() % (hi - lo + 1) + lo, bounds put in order."""
    if hi < lo:
        lo, hi = hi, lo
    return rng.rand() % (hi - lo + 1) + lo


def bilinear_interpolate(im, x, y):
    """image.c bilinear_interpolate at float32 coordinates (any shape) of every channel; taps outside the
    image read 0 (get_pixel_extend)."""
    c, h, w = im.shape
    ix, iy = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    dx, dy = x - ix.astype(F32), y - iy.astype(F32)
    padded = np.zeros((c, h + 2, w + 2), F32)  # one zero row/column on each side stands for the 0 taps
    padded[:, 1:-1, 1:-1] = im

    def tap(ox, oy):
        # indices clipped into the zero border: every tap off the image reads 0
        return padded[:, np.clip(iy + oy + 1, 0, h + 1), np.clip(ix + ox + 1, 0, w + 1)]

    one = F32(1)
    return ((one - dy) * (one - dx) * tap(0, 0) + dy * (one - dx) * tap(0, 1)
            + (one - dy) * dx * tap(1, 0) + dy * dx * tap(1, 1)).astype(F32)


def rotate_crop_image(im, rad, scale, w, h, dx, dy, aspect):
    """image.c rotate_crop_image: a w x h window, rotated by rad about the image centre, shrunk by scale
    (and stretched horizontally by aspect), shifted by (dx, dy) output pixels. Coordinates in double, as C."""
    _, ih, iw = im.shape
    cx, cy = iw / 2., ih / 2.
    s, aspect = float(scale), float(aspect)
    x = (np.arange(w)[None, :] - w / 2.) / s * aspect + float(dx) / s * aspect
    y = (np.arange(h)[:, None] - h / 2.) / s + float(dy) / s
    c, si = math.cos(rad), math.sin(rad)
    rx = (c * x - si * y + cx).astype(F32)
    ry = (si * x + c * y + cy).astype(F32)
    return bilinear_interpolate(im, rx, ry)


def random_augment_image(im, angle, aspect, low, high, w, h, rng):
    """image.c random_augment_args + rotate_crop_image. rand() order: the aspect (rand_scale, two draws),
    the short side r = rand_int(low, high), the angle, dx, dy."""
    _, ih, iw = im.shape
    aspect = rand_scale(rng, aspect)
    r = rand_int(rng, low, high)
    short = int(min(iw * aspect, ih))  # `int min = (im.h < im.w*aspect) ? ...`: the float truncates
    scale = F32(r) / F32(short)
    rad = float(rand_uniform(rng, -angle, angle)) * TWO_PI / 360.
    # dx, dy are the slack of the scaled image around the window; note Darknet uses w for both.
    dx = F32((iw * float(scale) / float(aspect) - w) / 2.)
    dy = F32((ih * float(scale) - w) / 2.)
    dx = rand_uniform(rng, -dx, dx)
    dy = rand_uniform(rng, -dy, dy)
    return rotate_crop_image(im, rad, scale, w, h, dx, dy, aspect)


def resize_min(im, size):
    """image.c resize_min: scale so the shorter side is `size` (integer arithmetic), unchanged if it is."""
    _, h, w = im.shape
    if w < h:
        h, w = (h * size) // w, size
    else:
        w, h = (w * size) // h, size
    return im if (w, h) == (im.shape[2], im.shape[1]) else resize_image(im, w, h)


def center_crop_image(im, w, h):
    """image.c center_crop_image: the central square of the shorter side, resized to w x h."""
    _, ih, iw = im.shape
    m = min(iw, ih)
    return resize_image(crop_image(im, (iw - m) // 2, (ih - m) // 2, m, m), w, h)


def validation_crop(im, size):
    """validate_classifier_single's input: resize_min to the network width, then the centre size x size crop."""
    resized = resize_min(im, size)
    _, h, w = resized.shape
    return np.ascontiguousarray(crop_image(resized, (w - size) // 2, (h - size) // 2, size, size))


# ----------------------------------------------------------------------------------------------------
# Batches.

@dataclass(frozen=True)
class ClassAugment:
    """The load_args train_classifier fills from [net]: input size, crop range, rotation, aspect, colour."""
    size: int
    min_ratio: float         # [net] min_ratio (default min_crop/width): shortest crop side / size
    max_ratio: float         # [net] max_ratio (default max_crop/width)
    angle: float = 0.        # [net] angle: rotation range in degrees
    aspect: float = 1.       # [net] aspect: rand_scale range of the horizontal stretch
    hue: float = 0.
    saturation: float = 1.
    exposure: float = 1.
    center: int = 0          # [net] center: centre crops instead of random ones

    @classmethod
    def from_network(cls, net):
        return cls(net.w, net.min_ratio, net.max_ratio, net.angle, net.aspect, net.hue, net.saturation,
                   net.exposure, net.center)

    @property
    def min(self):
        """args.min = net->min_ratio*net->w, a float product truncated to int."""
        return int(F32(self.min_ratio) * F32(self.size))

    @property
    def max(self):
        return int(F32(self.max_ratio) * F32(self.size))


def load_augmented(path, aug, rng):
    """load_image_augment_paths for one image: centre crop or random augment, flip (rand()%2), distort."""
    im = load_image(path)
    if aug.center:
        crop = center_crop_image(im, aug.size, aug.size)
    else:
        crop = random_augment_image(im, aug.angle, aug.aspect, aug.min, aug.max, aug.size, aug.size, rng)
    if rng.rand() % 2:
        crop = crop[:, :, ::-1]
    return random_distort_image(np.ascontiguousarray(crop), aug.hue, aug.saturation, aug.exposure, rng)


def load_classification_batch(paths, n, labels, classes, tree, aug, rng):
    """data.c load_data_augment: n paths drawn with replacement (rand()%m), augmented in order, labelled
    from their paths. Returns x (n, 3, size, size) float32 and truth (n, classes) float32."""
    picks = [paths[rng.rand() % len(paths)] for _ in range(n)]
    x = np.empty((n, 3, aug.size, aug.size), F32)
    for i, p in enumerate(picks):
        x[i] = load_augmented(p, aug, rng)
    truth = np.zeros((n, classes), F32)
    for i, p in enumerate(picks):
        truth[i, :len(labels)] = fill_truth(p, labels[:classes])
        if tree is not None:
            fill_hierarchy(truth[i], tree)
    return x, truth


class ClassificationLoader(DetectionLoader):
    """DetectionLoader's background threads and per-batch seeding, loading load_data_augment batches.

    resize(w, h) follows the multi-scale classifier: size w, crop range min_ratio*w..max_ratio*w.
    """

    def __init__(self, paths, batch, labels, classes, aug, tree=None, workers=2, seed=0):
        self.labels, self.tree = list(labels), tree
        super().__init__(paths, batch, aug.size, aug.size, aug, classes, workers, seed)

    def load_batch(self, rng):
        return load_classification_batch(self.paths, self.batch, self.labels, self.classes, self.tree,
                                         self.aug, rng)

    def resize(self, w, h):
        self.aug = replace(self.aug, size=w)
        super().resize(w, h)
