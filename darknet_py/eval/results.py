"""What `detector valid` and `detector recall` write and print (examples/detector.c: print_detector_detections,
print_cocos, validate_detector_recall), from boxes.Detection objects whose boxes are in pixels
(region_detections(..., relative=False)).
"""
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..boxes import box_iou
from ..cfg import basecfg

F32 = np.float32
# detector.c coco_ids: COCO category id of each of the 80 training classes (checked in /usr/bin/darknet).
COCO_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
            31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
            56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
            85, 86, 87, 88, 89, 90)
VALID_THRESH = .005          # validate_detector: get_network_boxes threshold
VALID_NMS = .45              # validate_detector: do_nms_sort threshold
RECALL_THRESH = .001         # validate_detector_recall: objectness threshold for proposals
RECALL_NMS = .4              # validate_detector_recall: do_nms_obj threshold
RECALL_IOU = .5              # validate_detector_recall: a truth is recalled above this IoU
VOC_OUTFILE = "comp4_det_test_"   # validate_detector's default VOC file prefix
COCO_OUTFILE = "coco_results"     # validate_detector's default COCO file name (.json)
# validate_detector_recall's own label rule: no raw/, .png or .JPG replacements there.
RECALL_LABEL_RULES = (("images", "labels"), ("JPEGImages", "labels"), (".jpg", ".txt"), (".JPEG", ".txt"))


# ----------------------------------------------------------------------------------------------------
# `detector valid` output files.

def coco_image_id(path):
    """get_coco_image_id: atoi of the text after the last '_' (else after the last '/')."""
    s = str(path)
    cut = max(s.rfind("_"), s.rfind("/"))
    m = re.match(r"\s*[+-]?\d+", s[cut + 1:])
    return int(m.group()) if m else 0


def _corners(det, plus):
    """xmin, ymin, xmax, ymax as darknet computes them: double arithmetic stored to float."""
    x, y, w, h = (float(v) for v in det.bbox)
    return (float(F32(x - w / 2. + plus)), float(F32(y - h / 2. + plus)),
            float(F32(x + w / 2. + plus)), float(F32(y + h / 2. + plus)))


def voc_lines(image_id, dets, w, h):
    """print_detector_detections: [(class, "id prob xmin ymin xmax ymax")] for every nonzero class prob.

    Corners are 1-based (+1) and clamped to [1, w] x [1, h] (only the lower bound is 1, the upper w/h).
    """
    out = []
    for d in dets:
        xmin, ymin, xmax, ymax = _corners(d, 1.)
        xmin, ymin, xmax, ymax = max(xmin, 1.), max(ymin, 1.), min(xmax, float(w)), min(ymax, float(h))
        for j in np.flatnonzero(d.prob):
            out.append((int(j), "%s %f %f %f %f %f" % (image_id, float(d.prob[j]), xmin, ymin, xmax, ymax)))
    return out


def coco_records(image_path, dets, w, h, coco_ids=COCO_IDS):
    """print_cocos: the JSON text of each nonzero class prob, bbox [x, y, w, h] clamped to the image."""
    image_id = coco_image_id(image_path)
    out = []
    for d in dets:
        xmin, ymin, xmax, ymax = _corners(d, 0.)
        xmin, ymin, xmax, ymax = max(xmin, 0.), max(ymin, 0.), min(xmax, float(w)), min(ymax, float(h))
        bw, bh = float(F32(xmax - xmin)), float(F32(ymax - ymin))
        for j in np.flatnonzero(d.prob):
            out.append('{"image_id":%d, "category_id":%d, "bbox":[%f, %f, %f, %f], "score":%f}'
                       % (image_id, coco_ids[j], xmin, ymin, bw, bh, float(d.prob[j])))
    return out


class VocWriter:
    """validate_detector's VOC output: one `<prefix>/<outfile><name>.txt` file per class."""

    def __init__(self, prefix, names, outfile=VOC_OUTFILE):
        Path(prefix).mkdir(parents=True, exist_ok=True)
        self.files = [open(Path(prefix) / f"{outfile}{name}.txt", "w") for name in names]

    def add(self, image_path, dets, w, h):
        """Write one image's detections (id = the file name without extension, as basecfg)."""
        for j, line in voc_lines(basecfg(image_path), dets, w, h):
            self.files[j].write(line + "\n")

    def close(self):
        for f in self.files:
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class CocoWriter:
    """validate_detector's COCO output `<prefix>/<outfile>.json`: darknet's one-object-per-line list.

    Darknet ends the list by seeking back over the last ",\\n"; with no detection at all that eats the
    opening bracket, so we write an empty list "[\\n]\\n" there instead.
    """

    def __init__(self, prefix, outfile=COCO_OUTFILE, coco_ids=COCO_IDS):
        Path(prefix).mkdir(parents=True, exist_ok=True)
        self.path = Path(prefix) / f"{outfile}.json"
        self.coco_ids = coco_ids
        self.records = []

    def add(self, image_path, dets, w, h):
        self.records += coco_records(image_path, dets, w, h, self.coco_ids)

    def close(self):
        self.path.write_text("[\n" + ",\n".join(self.records) + "\n]\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ----------------------------------------------------------------------------------------------------
# `detector recall`.

def recall_label_path(image_path):
    """validate_detector_recall's label file (images/JPEGImages -> labels, .jpg/.JPEG -> .txt)."""
    s = str(image_path)
    for old, new in RECALL_LABEL_RULES:
        s = s.replace(old, new, 1)
    return s


def box_ious(boxes, truth):
    """box.c box_iou of every (x, y, w, h) row of boxes against one truth box; 0 where both are empty."""
    iou = box_iou(np.asarray(boxes, F32).reshape(-1, 4).T, truth)
    return np.where(np.isnan(iou), F32(0), iou)


@dataclass
class RecallCounter:
    """validate_detector_recall's running counts; add() one image, line(i) is darknet's stderr line."""
    thresh: float = RECALL_THRESH
    iou_thresh: float = RECALL_IOU
    total: int = 0
    correct: int = 0
    proposals: int = 0
    avg_iou: np.float32 = field(default_factory=lambda: F32(0))

    def add(self, dets, truths):
        """dets: the image's detections after do_nms_obj(.4), boxes relative to the image;
        truths: (n, 4+) rows x, y, w, h (relative) from its label file (extra columns ignored)."""
        obj = np.array([d.objectness for d in dets], F32)
        live = obj > F32(self.thresh)
        self.proposals += int(live.sum())
        bboxes = np.array([d.bbox for d in dets], F32).reshape(-1, 4)
        for t in truths:
            self.total += 1
            ious = box_ious(bboxes, np.asarray(t, F32)[:4])
            best = F32(ious[live].max(initial=0))  # darknet's best_iou starts at 0
            self.avg_iou = F32(self.avg_iou + best)
            if best > self.iou_thresh:
                self.correct += 1

    def line(self, i):
        """`%5d %5d %5d\\tRPs/Img: %.2f\\tIOU: %.2f%%\\tRecall:%.2f%%` after image i (0-based)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = float(self.avg_iou * F32(100) / F32(self.total))
        recall = 100. * self.correct / self.total if self.total else float("nan")
        rps = float(F32(self.proposals) / F32(i + 1))
        return "%5d %5d %5d\tRPs/Img: %.2f\tIOU: %.2f%%\tRecall:%.2f%%" % (
            i, self.correct, self.total, rps, iou, recall)
