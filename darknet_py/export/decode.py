"""`-decode`: the region layer's boxes, the letterbox undone and NonMaxSuppression, inside the graph.

What detect_images does after the forward (boxes.py): get_region_detections (box = (col + x)/w, ...,
exp(tw)*anchor/w; prob = objectness*P(class) where both exceed thresh, else 0), correct_region_boxes
(Darknet's integer new_w/new_h of the letterbox) and do_nms_sort (per class, greedy, IoU > nms). ONNX's
NonMaxSuppression is the same greedy walk per class; boxes it keeps come out as
(batch, left, top, right, bottom, class, probability) rows, the box in pixels of the original image,
clamped to it as draw_detections does (not truncated to integers).
"""
import numpy as np
from onnx import TensorProto

from .graph import F32, value_info

SIZE_INPUT = "image_size"  # (B, 2) int64: each original image's width and height
DETECTIONS = "detections"


def decode(g, layer, x, net_w, net_h, thresh, nms, batch):
    """Graph ops from the region output x (B, num*entries, h, w) to the detections; returns the
    (extra inputs, outputs) value infos."""
    _, h, w = layer.out_shape
    num, entries = layer.num, layer.entries
    r = g.op("Transpose", g.reshape(x, [-1, num, entries, h * w]), perm=[0, 1, 3, 2])  # (B, num, hw, entries)
    boxes = region_boxes(g, layer, r, w, h)                                           # (B, num*hw, 4)
    boxes, size = correct_boxes(g, boxes, net_w, net_h)
    probs = class_probs(g, layer, r, thresh)                                          # (B, classes, num*hw)
    count = num * h * w
    keep = g.op("NonMaxSuppression", boxes, probs, g.ints([count]), g.const([nms]), g.const([thresh]),
                center_point_box=1, hint="nms")                                       # (K, 3): b, class, box
    batch_class, box_index = g.slice(keep, 1, 0, 2), g.slice(keep, 1, 2, 3)
    picked = g.op("GatherND", pixel_corners(g, boxes, size), g.op("Concat", g.slice(keep, 1, 0, 1), box_index, axis=1))
    prob = g.op("Unsqueeze", g.op("GatherND", probs, keep), g.ints([1]))
    as_float = g.op("Cast", batch_class, to=TensorProto.FLOAT)
    g.op("Concat", g.slice(as_float, 1, 0, 1), picked, g.slice(as_float, 1, 1, 2), prob, axis=1, hint=DETECTIONS)
    return [value_info(SIZE_INPUT, [batch, 2], TensorProto.INT64)], [value_info(DETECTIONS, ["detections", 7])]


def region_boxes(g, layer, r, w, h):
    """get_region_box: ((col + x)/w, (row + y)/h, exp(tw)*anchor_w/w, exp(th)*anchor_h/h), anchor-major."""
    num = layer.num
    cells = np.stack(np.meshgrid(np.arange(w), np.arange(h)), axis=-1).reshape(1, 1, h * w, 2).astype(F32)
    grid = np.array([w, h], F32)
    anchors = (layer.biases[:2 * num].reshape(num, 2).astype(np.float64) / grid).astype(F32).reshape(1, num, 1, 2)
    xy = g.op("Div", g.op("Add", g.slice(r, 3, 0, 2), g.const(cells)), g.const(grid))
    wh = g.op("Mul", g.op("Exp", g.slice(r, 3, 2, 4)), g.const(anchors))
    return g.reshape(g.op("Concat", xy, wh, axis=3), [-1, num * h * w, 4])


def correct_boxes(g, boxes, net_w, net_h):
    """correct_region_boxes with Darknet's integer letterbox size: new_w = net_w, new_h = im_h*net_w/im_w
    when net_w/im_w < net_h/im_h (floats), else the other way round. Returns the boxes and the image
    sizes as floats (B, 1, 2)."""
    size = g.op("Unsqueeze", g.op("Cast", SIZE_INPUT, to=TensorProto.FLOAT), g.ints([1]))  # (B, 1, 2)
    im_w, im_h = g.slice(size, 2, 0, 1), g.slice(size, 2, 1, 2)
    width_bound = g.op("Less", g.op("Div", g.const(net_w), im_w), g.op("Div", g.const(net_h), im_h))
    integer = g.op("Unsqueeze", SIZE_INPUT, g.ints([1]))
    iw, ih = g.slice(integer, 2, 0, 1), g.slice(integer, 2, 1, 2)
    new_w = g.op("Where", width_bound, g.ints(net_w), g.op("Div", g.op("Mul", iw, g.ints(net_h)), ih))
    new_h = g.op("Where", width_bound, g.op("Div", g.op("Mul", ih, g.ints(net_w)), iw), g.ints(net_h))
    new = g.op("Cast", g.op("Concat", new_w, new_h, axis=2), to=TensorProto.FLOAT)  # (B, 1, 2)
    net = g.const([net_w, net_h])
    shrink = g.op("Div", new, net)                                   # new_w/net_w, new_h/net_h
    offset = g.op("Div", g.op("Div", g.op("Sub", net, new), g.const(2)), net)
    xy = g.op("Div", g.op("Sub", g.slice(boxes, 2, 0, 2), offset), shrink)
    wh = g.op("Mul", g.slice(boxes, 2, 2, 4), g.op("Div", net, new))
    return g.op("Concat", xy, wh, axis=2), size


def pixel_corners(g, boxes, size):
    """draw_detections' left, top, right, bottom: (x -+ w/2) * image size, clamped to the image."""
    half = g.op("Div", g.slice(boxes, 2, 2, 4), g.const(2))
    low = g.op("Mul", g.op("Sub", g.slice(boxes, 2, 0, 2), half), size)
    high = g.op("Mul", g.op("Add", g.slice(boxes, 2, 0, 2), half), size)
    return g.op("Concat", g.op("Max", low, g.const(0)), g.op("Min", high, g.op("Sub", size, g.const(1))), axis=2)


def class_probs(g, layer, r, thresh):
    """(B, classes, boxes): objectness * P(class) where objectness and the product both exceed thresh."""
    first_class = layer.coords + (0 if layer.background else 1)
    classes = g.slice(r, 3, first_class, first_class + layer.classes)          # (B, num, hw, classes)
    if layer.background:
        scaled = classes
        confident = g.op("Greater", scaled, g.const(thresh))
    else:
        objectness = g.slice(r, 3, layer.coords, layer.coords + 1)
        scaled = g.op("Mul", objectness, classes)
        confident = g.op("And", g.op("Greater", objectness, g.const(thresh)),
                         g.op("Greater", scaled, g.const(thresh)))
    probs = g.op("Where", confident, scaled, g.const(0))
    flat = g.reshape(probs, [0, -1, layer.classes])
    return g.op("Transpose", flat, perm=[0, 2, 1], hint="scores")
