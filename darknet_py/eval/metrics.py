"""Detector metrics: the VOC devkit's AP (11-point VOC2007 and the area under the curve of VOC2010+) and
pycocotools' COCOeval (AP@[.5:.95] with 101 recall points); tests/eval/test_evaluate.py checks the COCO
numbers against pycocotools itself.
"""
import numpy as np

VOC_IOU = .5                 # PASCAL VOC: a detection matches a truth with IoU > .5
VOC07_RECALLS = np.arange(0., 1.1, .1)  # VOC2007 11-point recall levels, computed as voc_eval.py does
COCO_IOUS = np.linspace(.5, .95, 10)   # COCOeval iouThrs
COCO_RECALLS = np.linspace(0, 1, 101)  # COCOeval recThrs
COCO_MAX_DETS = 100          # COCOeval maxDets (the AP numbers use the largest, 100 per image)


def voc_ap(recall, precision, use_07_metric=True):
    """VOC AP of a precision/recall curve: VOC2007's 11-point interpolation (mean over r in 0, .1, ..., 1
    of the max precision at recall >= r), or VOC2010+'s exact area under the monotone envelope.

    The 11 points are np.arange(0, 1.1, .1) as in darknet's scripts/voc_eval.py (py-faster-rcnn), whose
    .30000000000000004 and .7000000000000001 exclude a recall of exactly 3/10 or 7/10.
    """
    recall, precision = np.asarray(recall, float), np.asarray(precision, float)
    if use_07_metric:
        return float(np.sum([precision[recall >= t].max(initial=0) / 11. for t in VOC07_RECALLS]))
    mrec = np.concatenate([[0.], recall, [1.]])
    mpre = np.concatenate([[0.], precision, [0.]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def _areas(b, plus_one):
    """Areas of (n, 4) corner boxes; plus_one counts pixels inclusively (VOC devkit)."""
    return (b[:, 2] - b[:, 0] + plus_one) * (b[:, 3] - b[:, 1] + plus_one)


def _intersections(d, g, plus_one):
    """(len(d), len(g)) intersection areas of corner boxes (x1, y1, x2, y2)."""
    iw = np.minimum(d[:, None, 2], g[None, :, 2]) - np.maximum(d[:, None, 0], g[None, :, 0]) + plus_one
    ih = np.minimum(d[:, None, 3], g[None, :, 3]) - np.maximum(d[:, None, 1], g[None, :, 1]) + plus_one
    return np.clip(iw, 0, None) * np.clip(ih, 0, None)


def _iou_matrix(dets, gts, plus_one):
    """IoU of corner boxes: rows dets, columns gts."""
    d, g = np.asarray(dets, float).reshape(-1, 4), np.asarray(gts, float).reshape(-1, 4)
    inter = _intersections(d, g, plus_one)
    return inter / (_areas(d, plus_one)[:, None] + _areas(g, plus_one)[None, :] - inter)


def voc_class_ap(dets, gts, iou_thresh=VOC_IOU, use_07_metric=True, plus_one=True):
    """The VOC devkit's AP for one class.

    dets: [(image_id, score, x1, y1, x2, y2)]; gts: [(image_id, x1, y1, x2, y2, difficult)] (difficult
    optional). Detections in score order match the unmatched truth of best IoU in their image when
    that IoU > iou_thresh; a match to a `difficult` truth counts neither way; plus_one=True is the
    devkit's inclusive pixel convention (w = x2 - x1 + 1) for darknet's 1-based comp4 files.
    Returns (ap, recall, precision); ap is nan when the class has no non-difficult truth.
    """
    by_image = {}
    for g in gts:
        by_image.setdefault(g[0], []).append(g)
    boxes = {k: np.array([g[1:5] for g in v], float) for k, v in by_image.items()}
    difficult = {k: np.array([len(g) > 5 and bool(g[5]) for g in v]) for k, v in by_image.items()}
    taken = {k: np.zeros(len(v), bool) for k, v in by_image.items()}
    npos = sum(int((~d).sum()) for d in difficult.values())
    order = sorted(range(len(dets)), key=lambda i: -dets[i][1])
    tp, fp = np.zeros(len(order)), np.zeros(len(order))
    for rank, i in enumerate(order):
        image_id, _, *box = dets[i]
        if image_id not in boxes:
            fp[rank] = 1
            continue
        ious = _iou_matrix([box], boxes[image_id], 1. if plus_one else 0.)[0]
        best = int(np.argmax(ious))
        if ious[best] > iou_thresh:
            if difficult[image_id][best]:
                continue
            if taken[image_id][best]:
                fp[rank] = 1
            else:
                tp[rank] = taken[image_id][best] = 1
        else:
            fp[rank] = 1
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    if npos == 0:
        return float("nan"), tp * np.nan, tp * np.nan
    recall = tp / npos
    precision = tp / np.maximum(tp + fp, np.finfo(float).eps)
    return voc_ap(recall, precision, use_07_metric), recall, precision


def voc_map(dets, gts, classes, iou_thresh=VOC_IOU, use_07_metric=True, plus_one=True):
    """Per-class VOC AP and their mean over classes with truths.

    dets: [(image_id, class, score, x1, y1, x2, y2)]; gts: [(image_id, class, x1, y1, x2, y2[, difficult])].
    Returns (mAP, [AP per class, nan where a class has no truth]).
    """
    aps = []
    for c in range(classes):
        cd = [(d[0], *d[2:7]) for d in dets if d[1] == c]
        cg = [(g[0], *g[2:]) for g in gts if g[1] == c]
        aps.append(voc_class_ap(cd, cg, iou_thresh, use_07_metric, plus_one)[0])
    scored = [a for a in aps if not np.isnan(a)]
    return (float(np.mean(scored)) if scored else float("nan")), aps


def _coco_image_matches(d_boxes, g_boxes, g_crowd, ious_thrs):
    """COCOeval.evaluateImg for one image and category, area 'all': per IoU threshold, which of the
    score-ordered detections are matched to a real truth (tp) and which only to a crowd one (ignored)."""
    n_d = len(d_boxes)
    matched = np.zeros((len(ious_thrs), n_d), bool)
    ignored = np.zeros((len(ious_thrs), n_d), bool)
    if n_d == 0 or len(g_boxes) == 0:
        return matched, ignored
    gorder = np.argsort(g_crowd, kind="mergesort")  # real truths first, crowd last
    g_boxes, g_crowd = g_boxes[gorder], g_crowd[gorder]
    ious = _iou_matrix(d_boxes, g_boxes, 0.)
    if g_crowd.any():
        # a crowd region's "IoU" is the intersection over the detection's own area
        d_area = _areas(d_boxes, 0.)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            crowd_iou = np.where(d_area > 0, _intersections(d_boxes, g_boxes, 0.) / d_area, 0)
        ious[:, g_crowd] = crowd_iou[:, g_crowd]
    for t, thr in enumerate(ious_thrs):
        used = np.zeros(len(g_boxes), bool)
        for di in range(n_d):
            best_iou, best = min(thr, 1 - 1e-10), -1
            for gi in range(len(g_boxes)):
                if used[gi] and not g_crowd[gi]:
                    continue
                # once matched to a real truth, stop at the crowd ones
                if best > -1 and not g_crowd[best] and g_crowd[gi]:
                    break
                if ious[di, gi] < best_iou:
                    continue
                best_iou, best = ious[di, gi], gi
            if best == -1:
                continue
            used[best] = True
            matched[t, di] = not g_crowd[best]
            ignored[t, di] = bool(g_crowd[best])
    return matched, ignored


def coco_map(dets, gts, max_dets=COCO_MAX_DETS):
    """COCOeval's bbox AP (area 'all', maxDets 100): AP@[.5:.95], AP@.5, AP@.75 and per-category AP.

    dets: [(image_id, category, score, x, y, w, h)]; gts: [(image_id, category, x, y, w, h[, iscrowd])],
    boxes in COCO's [x, y, w, h] pixels. Per image and category the top max_dets detections by score
    are matched greedily; precision is made monotone and read at 101 recall points (0 past the last
    recall reached); categories without real truths are left out of the mean.
    Returns {"AP": ..., "AP50": ..., "AP75": ..., "per_class": {category: AP@[.5:.95]}}.
    """
    to_corners = lambda b: np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]], float)
    dgroups, ggroups = {}, {}
    for d in dets:
        dgroups.setdefault((d[1], d[0]), []).append((d[2], to_corners(d[3:7])))
    for g in gts:
        crowd = bool(g[6]) if len(g) > 6 else False
        ggroups.setdefault((g[1], g[0]), []).append((to_corners(g[2:6]), crowd))
    categories = sorted({k[0] for k in ggroups} | {k[0] for k in dgroups})
    images = sorted({k[1] for k in ggroups} | {k[1] for k in dgroups})
    precision = {}
    for c in categories:
        scores, matched, ignored, n_real = [], [], [], 0
        for im in images:
            ds = dgroups.get((c, im), [])
            order = np.argsort([-s for s, _ in ds], kind="mergesort")[:max_dets]
            d_boxes = np.array([ds[i][1] for i in order]).reshape(-1, 4)
            gs = ggroups.get((c, im), [])
            g_boxes = np.array([b for b, _ in gs]).reshape(-1, 4)
            g_crowd = np.array([cr for _, cr in gs], bool)
            n_real += int((~g_crowd).sum())
            m, ig = _coco_image_matches(d_boxes, g_boxes, g_crowd, COCO_IOUS)
            scores += [ds[i][0] for i in order]
            matched.append(m)
            ignored.append(ig)
        if n_real == 0:
            continue
        order = np.argsort(-np.array(scores, float), kind="mergesort")
        m = np.concatenate(matched, 1)[:, order]
        ig = np.concatenate(ignored, 1)[:, order]
        tps = np.cumsum(m & ~ig, 1).astype(float)
        fps = np.cumsum(~m & ~ig, 1).astype(float)
        q = np.zeros((len(COCO_IOUS), len(COCO_RECALLS)))
        for t in range(len(COCO_IOUS)):
            rc = tps[t] / n_real
            pr = tps[t] / np.maximum(tps[t] + fps[t], np.spacing(1))
            pr = np.maximum.accumulate(pr[::-1])[::-1]
            inds = np.searchsorted(rc, COCO_RECALLS, side="left")
            ok = inds < len(pr)
            q[t, ok] = pr[inds[ok]]
        precision[c] = q
    if not precision:
        nan = float("nan")
        return {"AP": nan, "AP50": nan, "AP75": nan, "per_class": {}}
    stack = np.stack(list(precision.values()))
    return {"AP": float(stack.mean()), "AP50": float(stack[:, 0].mean()), "AP75": float(stack[:, 5].mean()),
            "per_class": {c: float(q.mean()) for c, q in precision.items()}}
