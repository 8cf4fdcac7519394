"""The loops behind `detector valid`, `detector recall` and `detector map` (examples/detector.c).

validate_detector letterboxes each image of the valid list (YOLOv1: resizes, as examples/yolo.c's
validate_yolo), keeps boxes above .005, runs do_nms_sort(.45) and writes VOC comp4 files or COCO json;
validate_detector_recall plain-resizes, keeps proposals above .001 and runs do_nms_obj(.4). Every
detection layer is decoded (get_network_boxes): YOLOv3's three [yolo] layers, YOLOv2's [region], YOLOv1's
[detection]. Darknet runs one image per forward while 4 threads load the next ones; we
run `batch` images per forward (a batch is independent per image at inference) with the same look-ahead.
`map` scores valid's detections against the Darknet labels of the same images (metrics.voc_map and
metrics.coco_map), reading them back from the exact text valid writes, so it equals the devkit and
pycocotools run on valid's files.
"""
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..boxes import do_nms_obj, do_nms_sort, get_network_boxes
from ..data.detection import load_letterboxed, load_resized
from ..data.lists import label_path, read_labels
from ..detector import detection_classes, letterboxes
from . import metrics, results

VALID_BATCH = 8     # images per forward in valid / recall / map (darknet: 1)
LOADER_THREADS = 4  # validate_detector's nthreads: images decoded while the network runs
HIER_THRESH = .5    # validate_detector / _recall pass hier_thresh .5 to get_network_boxes


def batched_detections(net, paths, thresh, letterbox=True, class_map=None, batch=VALID_BATCH):
    """Yield (path, detections, image width, image height) for each path, in order.

    letterbox=True is validate_detector (LETTERBOX_DATA; boxes in image pixels); False is
    validate_detector_recall (resize_image; get_network_boxes(net, sized.w, sized.h, ..., relative=1),
    so boxes stay relative and the letterbox correction is a no-op). A YOLOv1 is resized either way.
    """
    pixels = letterbox
    load = load_letterboxed if letterbox and letterboxes(net) else load_resized
    chunks = [paths[i:i + batch] for i in range(0, len(paths), batch)]
    with ThreadPoolExecutor(LOADER_THREADS, thread_name_prefix="darknet-valid") as pool:
        pending = [pool.submit(load, p, net.w, net.h) for p in chunks[0]] if chunks else []
        for k, chunk in enumerate(chunks):
            loaded = [f.result() for f in pending]
            nxt = chunks[k + 1] if k + 1 < len(chunks) else []
            pending = [pool.submit(load, p, net.w, net.h) for p in nxt]  # load ahead while this runs
            net.forward(np.stack([x for x, _, _ in loaded]))
            for b, (path, (_, w, h)) in enumerate(zip(chunk, loaded)):
                box_w, box_h = (w, h) if pixels else (net.w, net.h)
                dets = get_network_boxes(net, b, box_w, box_h, thresh, HIER_THRESH, relative=not pixels,
                                         class_map=class_map)
                yield path, dets, w, h


def valid_detections(net, paths, class_map=None, batch=VALID_BATCH):
    """validate_detector's detections: (path, dets after do_nms_sort(.45), w, h) per image, in pixels."""
    classes = len(class_map) if class_map is not None else detection_classes(net)
    for path, dets, w, h in batched_detections(net, paths, results.VALID_THRESH, True, class_map, batch):
        yield path, do_nms_sort(dets, classes, results.VALID_NMS), w, h


def recall_lines(net, paths, batch=VALID_BATCH):
    """validate_detector_recall's line after each image (the counts are cumulative)."""
    counter = results.RecallCounter()
    for i, (path, dets, _, _) in enumerate(batched_detections(net, paths, results.RECALL_THRESH, False,
                                                              batch=batch)):
        # do_nms_obj(dets, nboxes, 1, .4): classes=1, only objectness matters for recall
        counter.add(do_nms_obj(dets, 1, results.RECALL_NMS), read_labels(results.recall_label_path(path))[:, 1:])
        yield counter.line(i)


# ----------------------------------------------------------------------------------------------------
# mAP of the valid list.

def voc_truths(index, labels, w, h):
    """Label rows (class x y w h, relative) as the devkit's 1-based corners, clamped like valid's boxes.

    voc_label.py wrote x = ((xmin + xmax)/2 - 1)/w, w = (xmax - xmin)/w: the inverse adds 1, as
    print_detector_detections does to the detections.
    """
    rows = []
    for c, x, y, bw, bh in np.asarray(labels, float):
        rows.append((index, int(c), max(x * w - bw * w / 2 + 1, 1.), max(y * h - bh * h / 2 + 1, 1.),
                     min(x * w + bw * w / 2 + 1, float(w)), min(y * h + bh * h / 2 + 1, float(h))))
    return rows


def coco_truths(index, labels, w, h):
    """Label rows as COCO [x, y, w, h] pixel boxes (not crowd)."""
    return [(index, int(c), (x - bw / 2) * w, (y - bh / 2) * h, bw * w, bh * h)
            for c, x, y, bw, bh in np.asarray(labels, float)]


def voc_dets(index, dets, w, h):
    """The comp4 lines valid writes for this image, read back as (image, class, score, corners)."""
    return [(index, j, *(float(v) for v in line.split()[1:])) for j, line in results.voc_lines(str(index), dets, w, h)]


def coco_dets(index, dets, w, h, classes):
    """The coco_results.json records valid writes, read back as (image, class, score, x, y, w, h)."""
    out = []
    for text in results.coco_records("", dets, w, h, tuple(range(classes))):
        r = json.loads(text)
        out.append((index, r["category_id"], r["score"], *r["bbox"]))
    return out


@dataclass
class MapResult:
    """mAP numbers: per-class APs (nan where a class has no truth) and their means over classes with truths."""
    iou: float
    voc07: float
    voc: float
    coco: dict
    aps07: list
    aps: list
    truths: np.ndarray   # per class
    dets: np.ndarray     # per class (detections valid would write)


class MapCounter:
    """Collects one image at a time, then scores: VOC2007 11-point and area-under-curve AP at `iou`
    (devkit conventions on valid's comp4 corners) and COCO AP@[.5:.95] on valid's json boxes."""

    def __init__(self, classes, iou=metrics.VOC_IOU):
        self.classes, self.iou = classes, iou
        self.voc_d, self.voc_g, self.coco_d, self.coco_g = [], [], [], []
        self.images = 0

    def add(self, dets, labels, w, h):
        """dets: one image's detections after do_nms_sort, in pixels; labels: its (n, 5) label rows."""
        i = self.images
        self.images += 1
        self.voc_d += voc_dets(i, dets, w, h)
        self.coco_d += coco_dets(i, dets, w, h, self.classes)
        self.voc_g += voc_truths(i, labels, w, h)
        self.coco_g += coco_truths(i, labels, w, h)

    def result(self):
        voc07, aps07 = metrics.voc_map(self.voc_d, self.voc_g, self.classes, self.iou, use_07_metric=True)
        voc, aps = metrics.voc_map(self.voc_d, self.voc_g, self.classes, self.iou, use_07_metric=False)
        count = lambda rows: np.bincount([r[1] for r in rows], minlength=self.classes)
        return MapResult(self.iou, voc07, voc, metrics.coco_map(self.coco_d, self.coco_g), aps07, aps,
                         count(self.voc_g), count(self.voc_d))


def map_table(result, names):
    """The per-class table (classes with truths) and the summary lines `detector map` prints."""
    lines = [f"{'id':>3}  {'class':<20} {'truths':>6} {'dets':>7}  {'AP07':>7}  {'AP':>7}  {'AP[.5:.95]':>10}"]
    for c in range(len(result.aps)):
        if result.truths[c] == 0:
            continue
        name = names[c] if c < len(names) else str(c)
        coco = result.coco["per_class"].get(c, float("nan"))
        lines.append(f"{c:>3}  {name[:20]:<20} {result.truths[c]:>6} {result.dets[c]:>7}  "
                     f"{result.aps07[c]:7.4f}  {result.aps[c]:7.4f}  {coco:10.4f}")
    iou = f"{result.iou:g}"
    lines += [f"classes with truths: {int((result.truths > 0).sum())} of {len(result.aps)}",
              f"mAP@{iou} (VOC2007 11-point): {result.voc07:.4f}",
              f"mAP@{iou} (area under curve): {result.voc:.4f}",
              f"COCO AP@[.5:.95]: {result.coco['AP']:.4f}  AP@.5: {result.coco['AP50']:.4f}  "
              f"AP@.75: {result.coco['AP75']:.4f}"]
    return lines


def map_of_valid(net, paths, iou=metrics.VOC_IOU, class_map=None, batch=VALID_BATCH, progress=None):
    """Run validate_detector over paths and score against each image's label file (label_path rule).
    progress(images done, images) after each image."""
    classes = len(class_map) if class_map is not None else detection_classes(net)
    counter = MapCounter(classes, iou)
    for i, (path, dets, w, h) in enumerate(valid_detections(net, paths, class_map, batch)):
        counter.add(dets, read_labels(label_path(path), classes), w, h)
        if progress:
            progress(i + 1, len(paths))
    return counter.result()
