"""Detection training data as Darknet prepares it (src/data.c), in numpy, and the background loaders.

load_detection_image follows the current pjreddie path `train_detector -> DETECTION_DATA ->
load_data_detection`: a canvas filled with .5, the image placed with a jittered aspect ratio at a random
offset, an HSV distortion, a horizontal flip, and the label boxes moved to match (augment.py), in
libdarknet's rand() order. load_region_image is YOLOv1's (examples/yolo.c train_yolo -> REGION_DATA ->
load_data_region): a jittered crop resized to the network, flipped, distorted, and the boxes written
into the [detection] layer's grid of cells (fill_truth_region).
"""
import queue
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..cpu.letterbox import letterbox_bgr
from ..image import crop_image, load_image, read_bgr, resize_image
from .augment import (
    TRUTH_FIELDS,
    Augment,
    DarknetRandom,
    correct_boxes,
    fill_truth_detection,
    place_image,
    rand_uniform,
    random_distort_image,
    randomize_boxes,
)
from .lists import REGION_LABEL_PATH_RULES, label_path, read_labels

F32 = np.float32
CANVAS_FILL = .5             # load_data_detection: fill_image(sized, .5) before place_image
NUM_BOXES = 30               # region layer `max` default: truths per image (l.truths = 30*(coords+1))
MIN_REGION_SIDE = .005       # fill_truth_region drops boxes with w or h below this (a double literal)


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


def load_detection_batch(paths, n, w, h, aug, rng, num_boxes=NUM_BOXES, classes=None,
                         load_image_truth=load_detection_image, truth_size=None):
    """data.c load_data_detection: n images drawn with replacement (rand()%m, get_random_paths), then
    augmented in order. Returns x (n, 3, h, w) float32 and truth (n, num_boxes*5) float32.
    load_image_truth, truth_size: another per-image loader and its truth length (load_data_region's)."""
    picks = [paths[rng.rand() % len(paths)] for _ in range(n)]
    x = np.empty((n, 3, h, w), F32)
    truth = np.empty((n, truth_size or num_boxes * TRUTH_FIELDS), F32)
    for i, p in enumerate(picks):
        x[i], truth[i] = load_image_truth(p, w, h, aug, rng, num_boxes, classes)
    return x, truth


def load_region_image(path, w, h, aug, rng, side, classes):
    """One image of data.c load_data_region (YOLOv1): x (3, h, w) float32 and the (side*side*(5+classes),)
    grid truth. rand() order as libdarknet's: the four crop offsets, flip, the distortion, randomize_boxes."""
    orig = load_image(path)
    labels = read_labels(label_path(path, REGION_LABEL_PATH_RULES), classes)
    _, oh, ow = orig.shape
    dw, dh = int(ow * F32(aug.jitter)), int(oh * F32(aug.jitter))
    pleft, pright = int(rand_uniform(rng, -dw, dw)), int(rand_uniform(rng, -dw, dw))
    ptop, pbot = int(rand_uniform(rng, -dh, dh)), int(rand_uniform(rng, -dh, dh))
    swidth, sheight = ow - pleft - pright, oh - ptop - pbot
    sx, sy = F32(swidth) / F32(ow), F32(sheight) / F32(oh)
    flip = rng.rand() % 2
    sized = resize_image(crop_image(orig, pleft, ptop, swidth, sheight), w, h)
    if flip:
        sized = sized[:, :, ::-1]
    sized = random_distort_image(sized, aug.hue, aug.saturation, aug.exposure, rng)
    # ((float)pleft/ow)/sx and 1./sx, as the -Ofast build computes them: pleft/(ow*sx) and a float 1/sx
    dx, dy = F32(pleft) / (F32(ow) * sx), F32(ptop) / (F32(oh) * sy)
    truth = fill_truth_region(labels, rng, classes, side, flip, dx, dy, F32(1) / sx, F32(1) / sy)
    return np.ascontiguousarray(sized), truth


def fill_truth_region(labels, rng, classes, side, flip, dx, dy, sx, sy):
    """data.c fill_truth_region: the boxes shuffled and moved with the image, each written into its cell as
    is-object, one-hot class, x, y (offsets in the cell), w, h; the first box of a cell wins, boxes with w
    or h below .005 are dropped."""
    labels = labels.copy()
    randomize_boxes(labels, rng)
    boxes = correct_boxes(labels, dx, dy, sx, sy, flip)
    truth = np.zeros((side * side, 5 + classes), F32)
    for (x, y, bw, bh), label in zip(boxes, labels[:, 0].astype(int)):
        if float(bw) < MIN_REGION_SIDE or float(bh) < MIN_REGION_SIDE:
            continue
        col, row = int(x * F32(side)), int(y * F32(side))
        cell = truth[col + row * side]
        if cell[0]:
            continue
        cell[0] = 1
        if label < classes:
            cell[1 + label] = 1
        cell[1 + classes:] = x * F32(side) - F32(col), y * F32(side) - F32(row), bw, bh
    return truth.reshape(-1)


def load_letterboxed(path, w, h):
    """LETTERBOX_DATA (validate_detector): (image letterboxed to w x h, original width, original height)."""
    bgr = read_bgr(path)
    return letterbox_bgr(bgr, w, h), bgr.shape[1], bgr.shape[0]


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


class RegionLoader(DetectionLoader):
    """YOLOv1's batches (load_data_region) with DetectionLoader's threads; num_boxes is the [detection]
    layer's side, as train_yolo passes it."""

    def load_batch(self, rng):
        side = self.num_boxes
        return load_detection_batch(self.paths, self.batch, self.w, self.h, self.aug, rng, side, self.classes,
                                    load_region_image, side * side * (5 + self.classes))

