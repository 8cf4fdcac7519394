"""YOLO9000's joint training at toy scale (the paper's Table 7 idea) on coco128.

    PYTHONPATH=. python tools/coco128_joint.py WORK --mode {detection,joint} [--held-out elephant,umbrella]
                             [--batches 500] [--size 128] [--ratio .5] [--backbone tiny.conv.19]
    PYTHONPATH=. python tools/coco128_joint.py WORK --evaluate WEIGHTS EVAL_CFG

Some classes (--held-out) keep only image-level labels: their boxes are removed from coco128's detection
labels, and their objects become classification-only images (crops of the boxes, label `class 0 0 0 0`).
`detection` trains cfg/tiny-yolo-coco128.cfg (with a flat 80-class WordTree, i.e. a plain softmax, since
Darknet takes the classification-only path only for tree models) on the detection images alone;
`joint` adds the classification images (MixedLoader, --ratio classification images per detection
image; both runs see 16 detection images per batch). The cfg is shrunk to --size pixels (anchors
rescaled) and a short schedule, so that a run takes minutes on a CPU. --evaluate prints VOC AP50 per
held-out class and the mean over the other classes on the 128 images with all their original boxes
(the network read with the cfg's plain softmax: same weights), and how the class head scores the
held-out objects at their cells.
"""
import argparse
import functools
import re
from pathlib import Path

import cv2
import numpy as np

from darknet_py.data.lists import read_labels
from darknet_py.detector import detect_images
from darknet_py.eval.metrics import voc_map
from darknet_py.image import letterbox_size, load_image
from darknet_py.data.mixed import MixedLoader, classification_labels
from darknet_py.network import Network
from darknet_py.train.train_detector import train_detector

COCO = Path("/work/shared/datasets/coco128")
NAMES = Path("/usr/share/darknet/data/coco.names")
CFG = Path(__file__).resolve().parent.parent / "cfg" / "tiny-yolo-coco128.cfg"
CONTEXT = .1         # crops keep 10% of the box size as background on each side
MIN_SIDE = 16        # smallest crop side kept, in pixels
EVAL_THRESH = .005   # validate_detector's threshold and NMS
EVAL_NMS = .45
BURN_IN = 100        # warm-up batches (with 15 the objectness collapsed to ~0 everywhere within 300 batches)
DETECTION_BATCH = 16  # detection images per batch in both runs (the cfg's batch=16, subdivisions=2)
LEARNING_RATE = .001  # .004 after a 10-batch warm-up diverged (NaN at batch 32); .002 collapsed (see BURN_IN)


def coco_images(coco=COCO):
    return sorted((coco / "images" / "train2017").glob("*.jpg"))


def prepare(work, held_out, size, batch, batches, coco=COCO, names_path=NAMES, cfg=CFG):
    """Write the detection set (held-out boxes removed), the classification set (held-out crops), a flat
    tree, the training cfg (with the tree), the evaluation cfg (plain softmax, same weights) and the .data
    file under `work`; returns (data, training cfg, evaluation cfg, class image paths)."""
    work = Path(work).resolve()
    names = [n.strip() for n in names_path.read_text().splitlines() if n.strip()]
    held = {names.index(n) for n in held_out}
    for d in ("det/images", "det/labels", "cls/images", "cls/labels", "backup"):
        (work / d).mkdir(parents=True, exist_ok=True)
    det, cls = [], []
    for image in coco_images(coco):
        labels = read_labels(coco / "labels" / "train2017" / (image.stem + ".txt"))
        link = work / "det" / "images" / image.name
        if not link.exists():
            link.symlink_to(image)
        keep = [r for r in labels if int(r[0]) not in held]
        (work / "det" / "labels" / (image.stem + ".txt")).write_text(
            "".join(f"{int(c)} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, x, y, w, h in keep))
        det.append(str(link))
        pixels = None
        for k, (c, x, y, w, h) in enumerate(labels):
            if int(c) not in held:
                continue
            pixels = cv2.imread(str(image)) if pixels is None else pixels
            ih, iw = pixels.shape[:2]
            if w * iw < MIN_SIDE or h * ih < MIN_SIDE:
                continue
            pw, ph = w * (.5 + CONTEXT), h * (.5 + CONTEXT)
            crop = pixels[max(0, int((y - ph) * ih)):int((y + ph) * ih), max(0, int((x - pw) * iw)):int((x + pw) * iw)]
            dest = work / "cls" / "images" / f"{image.stem}_{k}.jpg"
            cv2.imwrite(str(dest), crop)
            (work / "cls" / "labels" / f"{image.stem}_{k}.txt").write_text(classification_labels([c]))
            cls.append(str(dest))
    (work / "det.list").write_text("".join(p + "\n" for p in det))
    tree = work / "coco80.tree"
    tree.write_text("".join(f"{n.replace(' ', '_')} -1\n" for n in names))  # one group: a plain softmax
    text = short_run_cfg(Path(cfg).read_text(), size, batch, batches)
    eval_cfg, joint_cfg = work / "eval.cfg", work / "tiny-yolo-coco128-joint.cfg"
    eval_cfg.write_text(text)
    joint_cfg.write_text(text.replace("[region]\n", f"[region]\ntree={tree}\n", 1))
    data = work / "det.data"
    data.write_text(f"classes=80\ntrain={work}/det.list\nnames={names_path}\nbackup={work}/backup\n")
    return data, joint_cfg, eval_cfg, cls


def short_run_cfg(text, size, batch, batches):
    """The detector cfg at size x size (anchors rescaled to the new grid), `batch` images per batch, and
    this experiment's learning rate, warm-up and steps (the rate / 10 at 80% and 90% of the batches)."""
    old = int(re.search(r"(?m)^width=(\d+)$", text).group(1))
    anchors = [float(a) for a in re.search(r"(?m)^anchors=(.*)$", text).group(1).split(",")]
    scaled = ",".join(f"{a * size / old:.4f}" for a in anchors)
    for key, value in (("width", size), ("height", size), ("batch", batch), ("learning_rate", LEARNING_RATE),
                       ("burn_in", BURN_IN), ("anchors", scaled), ("policy", "steps"),
                       ("steps", f"{batches * 8 // 10},{batches * 9 // 10}"), ("scales", ".1,.1")):
        text = re.sub(rf"(?m)^{key}=.*$", f"{key}={value}", text, count=1)
    return text


def train(work, mode, held_out, batches, size, ratio, backbone, seed=0):
    """One run: `detection` on batches of DETECTION_BATCH detection images; `joint` on batches holding as
    many detection images plus DETECTION_BATCH*ratio classification-only ones. Returns (weights, eval cfg)."""
    batch = DETECTION_BATCH if mode == "detection" else round(DETECTION_BATCH * (1 + ratio))
    data, cfg, eval_cfg, cls = prepare(work, held_out, size, batch, batches)
    print(f"{len(cls)} classification-only images of {', '.join(held_out)}")
    kwargs = {"loader_class": functools.partial(MixedLoader, class_paths=cls, ratio=ratio)} if mode == "joint" else {}
    final = train_detector(str(data), str(cfg), backbone, clear=True, max_batches=batches, seed=seed,
                           progress=False, **kwargs)
    out = Path(work) / "backup" / f"{mode}.weights"
    Path(final).replace(out)
    return out, eval_cfg


def evaluate(weights, held_out, cfg, coco=COCO, names_path=NAMES, batch=8):
    """VOC AP50 (area under the curve) per held-out class and the mean over the other classes present;
    and, for the held-out objects, the class head's view at the cell holding each box centre: the mean
    P(true class) (best anchor) and how often the most confident anchor's top class is the true one."""
    names = [n.strip() for n in names_path.read_text().splitlines() if n.strip()]
    held = [names.index(n) for n in held_out]
    net = Network.from_cfg(cfg)
    net.load_weights(weights)
    region = net.output_layer
    images = coco_images(coco)
    dets, gts, p_true, top1 = [], [], [], []
    for start in range(0, len(images), batch):
        chunk = images[start:start + batch]
        pixels = [load_image(p) for p in chunk]
        found_all = detect_images(net, pixels, EVAL_THRESH, .5, EVAL_NMS)
        out = np.asarray(region.output).reshape(len(chunk), region.num, -1, region.out_shape[1], region.out_shape[2])
        for b, (path, im, found) in enumerate(zip(chunk, pixels, found_all)):
            h, w = im.shape[1:]
            for d in found:
                x, y, bw, bh = d.bbox
                box = ((x - bw / 2) * w, (y - bh / 2) * h, (x + bw / 2) * w, (y + bh / 2) * h)
                dets += [(path.stem, int(j), float(d.prob[j]), *box) for j in np.flatnonzero(d.prob)]
            new_w, new_h = letterbox_size(w, h, net.w, net.h)
            for c, x, y, bw, bh in read_labels(coco / "labels" / "train2017" / (path.stem + ".txt")):
                gts.append((path.stem, int(c), (x - bw / 2) * w, (y - bh / 2) * h, (x + bw / 2) * w, (y + bh / 2) * h))
                if int(c) in held:
                    i = int((x * new_w + (net.w - new_w) / 2) / net.w * out.shape[4])
                    j = int((y * new_h + (net.h - new_h) / 2) / net.h * out.shape[3])
                    cell = out[b, :, :, j, i]  # (anchors, 5 + classes)
                    p_true.append(float(cell[:, 5 + int(c)].max()))
                    top1.append(int(np.argmax(cell[np.argmax(cell[:, 4]), 5:])) == int(c))
    _, aps = voc_map(dets, gts, len(names), use_07_metric=False, plus_one=False)
    others = [a for c, a in enumerate(aps) if c not in held and not np.isnan(a)]
    return {names[c]: aps[c] for c in held}, float(np.mean(others)), float(np.mean(p_true)), float(np.mean(top1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work")
    ap.add_argument("--mode", choices=("detection", "joint"))
    ap.add_argument("--evaluate", nargs=2, metavar=("WEIGHTS", "CFG"))
    ap.add_argument("--held-out", default="elephant,umbrella,teddy bear,carrot,bowl")
    ap.add_argument("--batches", type=int, default=500)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--ratio", type=float, default=.5)
    ap.add_argument("--backbone", default="tiny.conv.19")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    held_out = a.held_out.split(",")
    weights, cfg = a.evaluate or train(a.work, a.mode, held_out, a.batches, a.size, a.ratio, a.backbone, a.seed)
    held_aps, others, p_true, top1 = evaluate(weights, held_out, cfg)
    print(f"{weights}: AP50 " + ", ".join(f"{n} {ap * 100:.1f}" for n, ap in held_aps.items())
          + f"; mean AP50 of the other classes {others * 100:.1f}; held-out objects: mean P(true class) at their"
          f" cell {p_true:.3f}, top-1 class there {top1:.3f}")


if __name__ == "__main__":
    main()
