"""Detection and classification of images, as Darknet's `detector test` and `classifier predict` do them."""
from typing import NamedTuple

import numpy as np

from .boxes import (DETECTION_TYPES, NMS_THRESH, BoxArrays, classes_above, do_nms_sort, get_network_boxes,
                    network_boxes, nms_obj_above, pixel_box)
from .cfg import data_path, read_data_cfg
from .cpu.letterbox import letterbox_bgr
from .data.lists import read_names
from .errors import DarknetError
from .gpu.device import to_numpy
from .image import bgr_to_image, letterbox_image, load_image, read_bgr, resize_image
from .video.average import FrameAverage
from .video.pipeline import Pipeline
from .video.source import VideoSource
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


def detection_layers(net):
    """The layers get_network_boxes decodes ([yolo] per scale for YOLOv3, one [region], one [detection])."""
    layers = [layer for layer in net.layers if layer.type in DETECTION_TYPES]
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


class Prepared(NamedTuple):
    """An image made ready for detect_prepared: its letterbox, or on a GPU its bytes (letterboxed there)."""
    data: np.ndarray  # (3, net.h, net.w) float32 letterbox, or (H, W, 3) uint8 BGR when on_gpu
    w: int            # the image's size: the boxes are relative to it
    h: int
    on_gpu: bool = False


def prepare(net, image):
    """Read and fit one image for detect_prepared (the part of detect_images that needs no network run, so a
    pipeline can do it while the network runs the previous one): its letterbox, or YOLOv1's resize. On a GPU,
    paths and 8-bit images stay bytes for a letterboxing detector: the letterbox runs there; on the CPU
    it is made straight from the bytes (cpu/letterbox.py)."""
    if letterboxes(net) and (_is_path(image) or _is_bgr(image)):
        bgr = read_bgr(image) if _is_path(image) else image
        if net.gpu is not None:
            return Prepared(bgr, *image_size(bgr), True)
        return Prepared(letterbox_bgr(bgr, net.w, net.h), *image_size(bgr))
    im = _as_image(image)
    fit = letterbox_image if letterboxes(net) else resize_image
    return Prepared(fit(im, net.w, net.h), im.shape[2], im.shape[1])


class Outputs(NamedTuple):
    """What a forward gave for one image, to be decoded (decode_outputs) while the network runs the next: the
    detection layers' outputs of its batch and its row in them, or on a GPU its detections, decoded
    there."""
    w: int                # the image's size: the boxes are relative to it
    h: int
    layers: dict = None   # {layer index: the batch's output}
    index: int = 0
    dets: list = None


def forward_prepared(net, prepared, thresh=.5, hier_thresh=.5, before_decode=None):
    """The forward half of detect_prepared: the prepared images as one batch; one Outputs per image.

    before_decode(net), when given, runs after the forward and may change the detection layers' outputs
    (video/average.py: demo.c's average over frames); on a GPU the outputs then come to the host.
    """
    sizes = [(p.w, p.h) for p in prepared]
    if all(p.on_gpu for p in prepared) and before_decode is None:
        found = net.gpu.detect([p.data for p in prepared], thresh, hier_thresh)
        return [Outputs(w, h, dets=dets) for dets, (w, h) in zip(found, sizes)]
    if all(p.on_gpu for p in prepared):
        net.gpu.forward_images([p.data for p in prepared])
    else:
        net.forward(np.stack([letterbox_bgr(p.data, net.w, net.h) if p.on_gpu else p.data for p in prepared]))
    if before_decode is not None:
        before_decode(net)
    # No copies: each forward gives these layers new output arrays (and FrameAverage and to_numpy new ones).
    layers = {i: to_numpy(layer.output) for i, layer in enumerate(net.layers) if layer.type in DETECTION_TYPES}
    return [Outputs(w, h, layers, b) for b, (w, h) in enumerate(sizes)]


def decode_outputs(net, outputs, thresh=.5, hier_thresh=.5, nms=NMS_THRESH):
    """The decoding half of detect_prepared: get_network_boxes of one image's Outputs, then do_nms_sort (nms=0:
    none)."""
    dets = outputs.dets
    if dets is None:
        dets = get_network_boxes(net, outputs.index, outputs.w, outputs.h, thresh, hier_thresh, outputs=outputs.layers)
    return do_nms_sort(dets, detection_classes(net), nms) if nms else dets


def frame_detections(net, outputs, thresh, hier_thresh, nms):
    """demo.c's detections of one frame's Outputs: get_network_boxes, do_nms_obj (nms=0: none), and of those the
    ones with a class above thresh, which is all the demo prints, draws and writes (boxes.nms_obj_above: on
    arrays, so that decoding a frame holds Python's lock as little as it can beside the next forward)."""
    if outputs.dets is not None:
        boxes = BoxArrays.of(outputs.dets)
    else:
        boxes = network_boxes(net, outputs.index, outputs.w, outputs.h, thresh, hier_thresh, outputs=outputs.layers)
    return nms_obj_above(boxes, nms, thresh)


def detect_prepared(net, prepared, thresh=.5, hier_thresh=.5, nms=NMS_THRESH, before_decode=None):
    """detect_images on prepared images: run them as one batch, decode every detection layer (get_network_boxes)
    and NMS each (do_nms_sort; nms=0: none). before_decode: as forward_prepared's."""
    return [decode_outputs(net, o, thresh, hier_thresh, nms)
            for o in forward_prepared(net, prepared, thresh, hier_thresh, before_decode)]


def detect_images(net, images, thresh=.5, hier_thresh=.5, nms=NMS_THRESH):
    """Letterbox each image to the network size (resize for YOLOv1), run them as one batch, decode every
    detection layer (get_network_boxes) and NMS each image.

    images: paths, (H, W, 3) uint8 BGR arrays (cv2.imread's) or (3, H, W) float32 RGB images. On a GPU
    (Network.to) paths and 8-bit images go up as bytes; letterbox, forward and decoding run there and only
    the detections come back (gpu/engine.py: GpuEngine.detect). Returns one list of boxes.Detection per image, in
    Darknet's order after do_nms_sort, boxes relative to the image (test_detector:
    get_network_boxes(..., relative=1) then do_nms_sort(.45)).
    """
    return detect_prepared(net, [prepare(net, im) for im in images], thresh, hier_thresh, nms)


def above(dets, thresh):
    """(detection, class) for each class with prob > thresh, in Darknet's print order (draw_detections)."""
    return [(d, j) for d, classes in classes_above(dets, thresh) for j in classes]


def labels(dets, names, im_w, im_h, thresh=.5):
    """Found objects in Darknet's print order: each detection, each class with prob > thresh."""
    return [Found(names[j], float(d.prob[j]), pixel_box(d.bbox, im_w, im_h)) for d, j in above(dets, thresh)]


def detect(net, image, names, thresh=.5, hier_thresh=.5, nms=NMS_THRESH):
    """Objects in one image (a path, an (H, W, 3) uint8 BGR or a (3, H, W) float32 RGB array) as a list of Found."""
    im = read_bgr(image) if _is_path(image) else image
    dets = detect_images(net, [im], thresh, hier_thresh, nms)[0]
    return labels(dets, names, *image_size(im), thresh)


class Prediction(NamedTuple):
    """One class of classify(..., names=...): its index, its name, its probability."""
    index: int
    name: str
    prob: float


def classify(net, image, top=5, names=None):
    """predict_classifier: letterbox, forward, leaf probabilities for tree models, top-k as Darknet's top_k.

    Returns [(class index, probability)] best first, or with `names` (a list) [Prediction(index, name, prob)];
    ties keep the lower index first, as top_k does.
    """
    im = _as_image(image)
    probs = to_numpy(net.forward(letterbox_image(im, net.w, net.h)[None]))[0].ravel().copy()
    tree = getattr(net.output_layer, "tree", None)
    if tree is not None:
        hierarchy_predictions(probs[:tree.n], tree, only_leaves=True)
    order = np.argsort(-probs, kind="stable")[:top]
    if names is not None:
        return [Prediction(int(i), names[i] if i < len(names) else str(i), float(probs[i])) for i in order]
    return [(int(i), float(probs[i])) for i in order]


def read_class_names(names):
    """Class names from a list, a .names file, or a .data file (its names=)."""
    if names is None or not isinstance(names, (str, bytes)) and not hasattr(names, "__fspath__"):
        return names
    if str(names).endswith(".data"):
        return read_names(data_path(read_data_cfg(names).get("names", "data/names.list"), names))
    return read_names(names)


class Detector:
    """A detector loaded once, then called on images and videos; what it finds carries the class names.

        det = Detector(dn.load("cfg/yolov2-tiny.cfg", "weights/yolov2-tiny.weights"), "data/coco.names", thresh=.25)
        det("data/dog.jpg")                          # [Found(name, prob, (left, top, right, bottom)), ...]
        for index, frame, found in det.video("street.mp4"):
            ...

    names: a list, a .names or a .data file; None: the class numbers. An image is a path, an (H, W, 3) uint8 BGR
    frame or a (3, H, W) float32 RGB image (detect_images); the detections are detect_images's.
    """

    def __init__(self, net, names=None, thresh=.5, hier_thresh=.5, nms=NMS_THRESH):
        self.net = net
        self.names = read_class_names(names) or [str(c) for c in range(detection_classes(net))]
        self.thresh, self.hier_thresh, self.nms = thresh, hier_thresh, nms

    def __call__(self, image):
        return self.batch([image])[0]

    def batch(self, images):
        """Several images in one forward: a list of Found per image."""
        images = [read_bgr(im) if _is_path(im) else im for im in images]
        results = detect_images(self.net, images, self.thresh, self.hier_thresh, self.nms)
        return [labels(dets, self.names, *image_size(im), self.thresh) for im, dets in zip(images, results)]

    def video(self, source, batch=1, avgframes=1, skip=0):
        """Yield (frame index, (H, W, 3) uint8 BGR frame, [Found]) for each frame of a video file, stream URL,
        camera (an int) or image sequence (frames/%06d.jpg), decoding, letterboxing and detecting in
        concurrent threads (video/pipeline.py). batch: frames per forward. avgframes: demo.c's average of the
        network outputs over that many frames (video/average.py). skip: detect one frame in skip+1, the others
        carry the last detections. A live source yields its newest frames, dropping those there was no time for.
        """
        average = FrameAverage(avgframes) if avgframes > 1 else None
        source = source if isinstance(source, VideoSource) else VideoSource(source)

        def detect(prepared):
            return forward_prepared(self.net, prepared, self.thresh, self.hier_thresh, average)

        def decode(outputs):  # in a stage of its own: the next forward does not wait for it
            return decode_outputs(self.net, outputs, self.thresh, self.hier_thresh, self.nms)
        for item in Pipeline(source, lambda bgr: prepare(self.net, bgr), detect, batch, skip, decode=decode).run():
            frame = item.frame
            yield frame.index, frame.bgr, labels(item.result, self.names, *image_size(frame.bgr), self.thresh)
