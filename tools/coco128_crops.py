"""Cut coco128's labelled boxes into a small classification set laid out for Darknet's `classifier train`.

    PYTHONPATH=. python tools/coco128_crops.py OUT [--coco DIR] [--names coco.names] [--min-side 24]
                                                   [--min-count 12] [--max-count 40] [--valid-every 4]

Each box at least --min-side pixels on both sides becomes OUT/{train,valid}/<name>/<image>_<k>.jpg
(with CONTEXT of its size added around it); the label strings are "/<name>/", so Darknet's rule "the
label found in the path" (fill_truth) names each crop. The split is stratified: every
--valid-every-th crop of each class (in image order) is held out, so each class is in both splits; two
different objects of one photo may fall in different splits. Classes with fewer than --min-count
crops are left out; a class with more (person) keeps its first --max-count, so that guessing the
commonest class stays a low baseline. Writes OUT/labels.list, OUT/train.list, OUT/valid.list and
OUT/crops.data.
"""
import argparse
from collections import Counter
from pathlib import Path

import cv2

COCO = Path("/work/shared/datasets/coco128")
NAMES = Path("/usr/share/darknet/data/coco.names")
CONTEXT = .1  # fraction of the box size added on each side, as a little background around the object


def boxes(coco, min_side):
    """(image path, index in image, class, (x0, y0, x1, y1) pixels) of every box large enough."""
    for label in sorted((coco / "labels" / "train2017").glob("*.txt")):
        image = coco / "images" / "train2017" / (label.stem + ".jpg")
        h, w = cv2.imread(str(image)).shape[:2]
        for k, line in enumerate(label.read_text().splitlines()):
            c, x, y, bw, bh = (float(v) for v in line.split())
            if bw * w < min_side or bh * h < min_side:
                continue
            pad_w, pad_h = bw * (.5 + CONTEXT), bh * (.5 + CONTEXT)
            box = (max(0, int((x - pad_w) * w)), max(0, int((y - pad_h) * h)),
                   min(w, int((x + pad_w) * w)), min(h, int((y + pad_h) * h)))
            yield image, k, int(c), box


def cut_crops(out, coco=COCO, names_path=NAMES, min_side=24, min_count=12, max_count=40, valid_every=4):
    """Write the crops and list files; returns the path of OUT/crops.data."""
    out = Path(out)
    names = [n.strip().replace(" ", "_") for n in names_path.read_text().splitlines() if n.strip()]
    found = list(boxes(Path(coco), min_side))
    counts = Counter(c for _, _, c, _ in found)
    kept = [c for c in sorted(counts) if counts[c] >= min_count]
    seen = Counter()
    lists = {"train": [], "valid": []}
    cache = {}
    for image, k, c, (x0, y0, x1, y1) in found:
        if c not in kept or seen[c] >= max_count:
            continue
        split = "valid" if seen[c] % valid_every == valid_every - 1 else "train"
        seen[c] += 1
        if image not in cache:
            cache = {image: cv2.imread(str(image))}
        dest = out / split / names[c] / f"{image.stem}_{k}.jpg"
        dest.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dest), cache[image][y0:y1, x0:x1])
        lists[split].append(str(dest.resolve()))
    (out / "labels.list").write_text("".join(f"/{names[c]}/\n" for c in kept))
    for split, paths in lists.items():
        (out / f"{split}.list").write_text("".join(p + "\n" for p in paths))
    data = out / "crops.data"
    data.write_text(f"classes={len(kept)}\ntrain={out.resolve()}/train.list\nvalid={out.resolve()}/valid.list\n"
                    f"labels={out.resolve()}/labels.list\nbackup={out.resolve()}\ntop=5\n")
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--coco", default=str(COCO))
    ap.add_argument("--names", default=str(NAMES))
    ap.add_argument("--min-side", type=int, default=24)
    ap.add_argument("--min-count", type=int, default=12)
    ap.add_argument("--max-count", type=int, default=40)
    ap.add_argument("--valid-every", type=int, default=4)
    a = ap.parse_args()
    data = cut_crops(a.out, Path(a.coco), Path(a.names), a.min_side, a.min_count, a.max_count, a.valid_every)
    print(data)


if __name__ == "__main__":
    main()
