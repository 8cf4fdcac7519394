"""YOLO9000's joint training data: batches that mix detection images with classification-only images.

Darknet trains YOLO9000 on one list holding both kinds (combine9k.data); a classification image's label
file has `class 0 0 0 0` lines, which correct_boxes turns into the 999999 truths that make the region
loss backprop only the class tree (layers/region_loss.py: class_only). Both kinds go through
load_data_detection's augmentation. The paper oversamples COCO "so that ImageNet is only larger by a
factor of 4:1"; MixedLoader fixes that mix per batch instead of leaving it to random draws from one
list: `ratio` classification images for every detection image.
"""
import numpy as np

from .augment import Augment
from .detection import NUM_BOXES, DetectionLoader, load_detection_batch

PAPER_RATIO = 4.  # YOLO9000 section 4: ImageNet (classification) images per COCO (detection) image


def detection_count(batch, ratio):
    """Detection images in a batch of `batch` with `ratio` classification images per detection image:
    round(batch / (1 + ratio)), at least one."""
    return max(1, round(batch / (1. + ratio)))


def classification_labels(class_ids):
    """A classification-only label file's text: one `class 0 0 0 0` line per class id (x = y = 0)."""
    return "".join(f"{int(c)} 0 0 0 0\n" for c in class_ids)


class MixedLoader(DetectionLoader):
    """DetectionLoader over two lists: each batch holds detection_count(batch, ratio) images drawn from
    `paths` (detection labels) and the rest from `class_paths` (classification-only labels), shuffled.
    Same interface (next(), resize(), close()) and the same per-batch seeding."""

    def __init__(self, paths, batch, w, h, aug=None, classes=None, workers=2, seed=0, num_boxes=NUM_BOXES,
                 *, class_paths, ratio=PAPER_RATIO):
        self.class_paths, self.ratio = list(class_paths), ratio
        super().__init__(paths, batch, w, h, aug or Augment(), classes, workers, seed, num_boxes)

    def load_batch(self, rng):
        n = detection_count(self.batch, self.ratio)
        parts = [load_detection_batch(self.paths, n, self.w, self.h, self.aug, rng, self.num_boxes, self.classes)]
        if self.batch > n:
            parts.append(load_detection_batch(self.class_paths, self.batch - n, self.w, self.h, self.aug, rng,
                                              self.num_boxes, self.classes))
        x, truth = np.concatenate([x for x, _ in parts]), np.concatenate([t for _, t in parts])
        # Shuffle (Fisher-Yates on rand()), so each minibatch of a subdivided batch holds both kinds, as
        # draws from one mixed list would, and batchnorm sees the same mix in every minibatch.
        order = np.arange(self.batch)
        for i in range(self.batch - 1, 0, -1):
            j = rng.rand() % (i + 1)
            order[[i, j]] = order[[j, i]]
        return x[order], truth[order]
