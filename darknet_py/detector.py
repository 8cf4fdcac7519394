"""Detection and classification of images, as Darknet's `detector test` and `classifier predict` do them."""
from typing import NamedTuple

import numpy as np

from .boxes import NMS_THRESH, do_nms_sort, get_network_boxes, pixel_box
from .errors import DarknetError
from .gpu.device import to_numpy
from .image import bgr_to_image, letterbox_image, load_image, read_bgr, resize_image
from .wordtree.tree import hierarchy_predictions


class Found(NamedTuple):
    """One labelled object: class name, probability, (left, top, right, bottom) in image pixels."""
    name: str
    prob: float
    box: tuple


def _is_path(image):
    return isinstance(image, (str, bytes)) or hasattr(image, "__fspath__")


def _is_bgr(image):
    """An (H, W, 3) uint8 BGR array, as cv2.imread gives."""
    return isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def _as_image(image):
    """A path, an (H, W, 3) uint8 BGR array or a (3, H, W) float32 RGB image -> the float image."""
    if _is_path(image):
        return load_image(image)
    return bgr_to_image(image) if _is_bgr(image) else image


def image_size(image):
    """(width, height) of an (H, W, 3) uint8 BGR array or a (3, H, W) float image."""
    return (image.shape[1], image.shape[0]) if _is_bgr(image) else (image.shape[2], image.shape[1])


DETECTION_LAYERS = ("yolo", "region", "detection")  # the layer types get_network_boxes decodes


def detection_layers(net):
    """The layers get_network_boxes decodes ([yolo] per scale for YOLOv3, one [region], one [detection])."""
    layers = [layer for layer in net.layers if layer.type in DETECTION_LAYERS]
    if not layers:
        raise DarknetError(f"{net.path}: no [yolo], [region] or [detection] layer: this network is not a detector")
    return layers


def detection_classes(net):
    """The number of class probabilities of each detection (make_network_boxes: the last layer's classes)."""
    return detection_layers(net)[-1].classes


def letterboxes(net):
    """Whether the detector's input is a letterbox (test_detector, valid) or a plain resize: YOLOv1's
    [detection] boxes carry no letterbox correction, so its images are resized as examples/yolo.c does."""
    return all(layer.type != "detection" for layer in detection_layers(net))


def detect_images(net, images, thresh=.5, hier_thresh=.5, nms=NMS_THRESH):
    """Letterbox each image to the network size (resize for YOLOv1), run them as one batch, decode every
    detection layer (get_network_boxes) and NMS each image.

    images: paths, (H, W, 3) uint8 BGR arrays (cv2.imread's) or (3, H, W) float32 RGB images. On a GPU
    (Network.to) paths and 8-bit images go up as bytes; letterbox, forward and decoding run there and only
    the detections come back (gpu/engine.py: GpuEngine.detect). Returns one list of boxes.Detection per image, in
    Darknet's order after do_nms_sort, boxes relative to the image (test_detector:
    get_network_boxes(..., relative=1) then do_nms_sort(.45)).
    """
    classes = detection_classes(net)
    if net.gpu is not None and letterboxes(net) and all(_is_path(im) or _is_bgr(im) for im in images):
        results = net.gpu.detect([read_bgr(im) if _is_path(im) else im for im in images], thresh, hier_thresh)
    else:
        images = [_as_image(im) for im in images]
        fit = letterbox_image if letterboxes(net) else resize_image
        net.forward(np.stack([fit(im, net.w, net.h) for im in images]))
        results = [get_network_boxes(net, b, im.shape[2], im.shape[1], thresh, hier_thresh)
                   for b, im in enumerate(images)]
    return [do_nms_sort(dets, classes, nms) if nms else dets for dets in results]


def labels(dets, names, im_w, im_h, thresh=.5):
    """Found objects in Darknet's print order: each detection, each class with prob > thresh."""
    return [Found(names[j], float(d.prob[j]), pixel_box(d.bbox, im_w, im_h))
            for d in dets for j in np.flatnonzero(d.prob > thresh)]


def detect(net, image, names, thresh=.5, hier_thresh=.5, nms=NMS_THRESH):
    """Objects in one image (a path, an (H, W, 3) uint8 BGR or a (3, H, W) float32 RGB array) as a list of Found."""
    im = read_bgr(image) if _is_path(image) else image
    dets = detect_images(net, [im], thresh, hier_thresh, nms)[0]
    return labels(dets, names, *image_size(im), thresh)


def classify(net, image, top=5):
    """predict_classifier: letterbox, forward, leaf probabilities for tree models, top-k as Darknet's top_k.

    Returns [(class index, probability)] best first; ties keep the lower index first, as top_k does.
    """
    im = _as_image(image)
    probs = to_numpy(net.forward(letterbox_image(im, net.w, net.h)[None]))[0].ravel().copy()
    tree = getattr(net.output_layer, "tree", None)
    if tree is not None:
        hierarchy_predictions(probs[:tree.n], tree, only_leaves=True)
    order = np.argsort(-probs, kind="stable")[:top]
    return [(int(i), float(probs[i])) for i in order]
