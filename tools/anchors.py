"""Dimension clusters for a dataset (YOLO9000 paper, Figure 2 and Table 1).

    PYTHONPATH=. python tools/anchors.py LABEL_DIR [--size 416] [--k 5] [--curve 1-9] [--seed 0]

Prints the K anchors in [region] `anchors=` form (grid cells at --size), their average IoU, the average
IoU of Faster R-CNN's 9 hand-picked anchors, and the avg IoU vs K curve.
"""
import argparse

from darknet_py import anchors as A


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("labels", help="directory of Darknet label files (class x y w h)")
    ap.add_argument("--size", type=int, default=416, help="network input side (default 416)")
    ap.add_argument("--k", type=int, default=5, help="number of clusters (default 5)")
    ap.add_argument("--curve", default="1-9", help="K range for the Figure 2 curve, e.g. 1-9 ('' to skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", choices=("kmeans++", "random"), default="kmeans++")
    args = ap.parse_args()

    boxes = A.label_sizes(A.label_files(args.labels), args.size, args.size)
    print(f"{len(boxes)} boxes, sizes in {args.size // A.STRIDE}x{args.size // A.STRIDE} grid cells")
    anchors, iou = A.kmeans_anchors(boxes, args.k, args.seed, args.init, n_init=5)
    print(f"anchors = {A.format_anchors(anchors)}")
    print(f"avg IoU, {args.k} IoU clusters: {100 * iou:.1f}")
    sse = A.kmeans_anchors(boxes, args.k, args.seed, args.init, n_init=5, metric="sse")[1]
    print(f"avg IoU, {args.k} SSE clusters: {100 * sse:.1f}")
    hand = A.avg_iou(boxes, A.hand_picked_anchors(args.size, args.size))
    print(f"avg IoU, 9 hand-picked (Faster R-CNN) anchors: {100 * hand:.1f}")
    if args.curve:
        lo, hi = (int(v) for v in args.curve.split("-"))
        for k, kiou, _ in A.iou_curve(boxes, range(lo, hi + 1), args.seed, args.init):
            print(f"K={k}  avg IoU {100 * kiou:.1f}")


if __name__ == "__main__":
    main()
