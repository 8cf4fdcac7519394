"""The train / held-out split of coco128 that cfg/coco128.data names.

    PYTHONPATH=. python tools/coco128_split.py [--root /work/shared/datasets/coco128] [--out data/coco128]
        [--train 100] [--seed 0]

Writes <out>/train.txt and <out>/test.txt (Darknet image lists, one absolute path a line; labels are
found beside them by data.label_path). The images are shuffled by a seeded generator, so the split is the
same on every machine; <out> is under data/, which git ignores.
"""
import argparse
from pathlib import Path

import numpy as np

DEFAULT_ROOT = "/work/shared/datasets/coco128"
DEFAULT_OUT = "data/coco128"
DEFAULT_TRAIN = 100  # of the 128 images; the other 28 are held out


def split(root, out, n_train=DEFAULT_TRAIN, seed=0):
    """Write the two lists; returns (train paths, test paths)."""
    images = sorted(str(p.resolve()) for p in (Path(root) / "images" / "train2017").glob("*.jpg"))
    if len(images) <= n_train:
        raise SystemExit(f"{root}: {len(images)} images, need more than {n_train}")
    order = np.random.default_rng(seed).permutation(len(images))
    train = sorted(images[i] for i in order[:n_train])
    test = sorted(images[i] for i in order[n_train:])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, paths in (("train.txt", train), ("test.txt", test)):
        (out / name).write_text("".join(p + "\n" for p in paths))
    return train, test


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=DEFAULT_ROOT, help="coco128 folder (images/train2017, labels/train2017)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="folder for train.txt and test.txt")
    ap.add_argument("--train", type=int, default=DEFAULT_TRAIN, help="images in the training list")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    train, test = split(args.root, args.out, args.train, args.seed)
    print(f"{args.out}/train.txt: {len(train)} images, {args.out}/test.txt: {len(test)} images")


if __name__ == "__main__":
    main()
