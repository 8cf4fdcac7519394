"""Write darknet-py's own cfg/ files for YOLOv3 (yolov3, yolov3-spp, yolov3-tiny), its Darknet-53 backbone
(darknet53) and YOLOv1 (yolov1, yolov1-tiny): the networks of the original Darknet's cfgs, described block by
block here, each layer with its index and output size as Darknet prints them.

    python tools/zoo_cfgs.py [cfg]      # rewrites cfg/<name>.cfg for the six networks

tests/test_cfg_files.py checks that each says what the original of the same name says.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
YOLOV3_ANCHORS = "10,13, 16,30, 33,23, 30,61, 62,45, 59,119, 116,90, 156,198, 373,326"
TINY_ANCHORS = "10,14, 23,27, 37,58, 81,82, 135,169, 344,319"
SCHEDULE = ["# SGD with momentum and L2 weight decay.", "momentum=0.9", "decay=0.0005", "",
            "# Colour / geometry augmentation used while training.", "angle=0", "saturation=1.5", "exposure=1.5",
            "hue=.1", "", "# Learning-rate schedule: warm-up over the first 1000 batches (lr * (b/1000)^4),",
            "# then x0.1 at 400k and again at 450k.", "learning_rate=0.001", "burn_in=1000", "max_batches=500200",
            "policy=steps", "steps=400000,450000", "scales=.1,.1"]


class Cfg:
    """A cfg being written: sections in order, with the shape (c, h, w) after each layer for the comments."""

    def __init__(self, title, about, net, shape):
        self.lines = [f"# {title} -- darknet-py's own description of the network.", "#"]
        self.lines += [f"# {line}" if line else "#" for line in about]
        self.lines += ["#", "# Layer numbers are the 0-based indices Darknet prints when it loads the net; sizes are",
                       "# width x height x channels at the input size below.", "", "[net]"] + net
        self.shapes = []
        self.shape = shape

    def section(self, kind, note, shape, **options):
        c, h, w = shape
        self.lines += ["", f"# {len(self.shapes)}: {note} -> {w}x{h}x{c}", f"[{kind}]"]
        self.lines += [f"{key}={value}" for key, value in options.items()]
        self.shapes.append(shape)
        self.shape = shape
        return len(self.shapes) - 1

    def comment(self, text):
        self.lines += ["", f"# ---- {text} ----"]

    def conv(self, filters, size, stride=1, bn=True, activation="leaky"):
        _, h, w = self.shape
        options = {"batch_normalize": 1} if bn else {}
        options.update(filters=filters, size=size, stride=stride, pad=1, activation=activation)
        note = f"{size}x{size}/{stride} conv, {filters} filters" + ("" if bn else f", {activation}, no batch norm")
        return self.section("convolutional", note, (filters, -(-h // stride), -(-w // stride)), **options)

    def maxpool(self, size, stride):
        c, h, w = self.shape
        return self.section("maxpool", f"{size}x{size}/{stride} max pool", (c, -(-h // stride), -(-w // stride)),
                            size=size, stride=stride)

    def shortcut(self, back):
        return self.section("shortcut", f"residual: + layer {len(self.shapes) + back}", self.shape,
                            **{"from": back, "activation": "linear"})

    def route(self, *layers):
        index = len(self.shapes)
        sources = [index + i if i < 0 else i for i in layers]
        c = sum(self.shapes[i][0] for i in sources)
        _, h, w = self.shapes[sources[0]]
        joined = " + ".join(f"layer {i}" for i in sources)
        return self.section("route", f"route: {joined}", (c, h, w), layers=",".join(map(str, layers)))

    def upsample(self):
        c, h, w = self.shape
        return self.section("upsample", "2x nearest-neighbour upsample", (c, 2 * h, 2 * w), stride=2)

    def yolo(self, mask, anchors, num):
        return self.section("yolo", f"YOLOv3 detection on anchors {mask} of the {num}", self.shape,
                            mask=mask, anchors=anchors, classes=80, num=num, jitter=.3, ignore_thresh=.7,
                            truth_thresh=1, random=1)

    def text(self):
        return "\n".join(self.lines) + "\n"


def darknet53(cfg):
    """Darknet-53 without its classifier: a 3x3 conv, then five stride-2 stages of residual blocks (1x1 to
    half the filters, 3x3 back, added to the block's input): 1, 2, 8, 8 and 4 blocks. Layers 0-74."""
    cfg.comment("Darknet-53: a 3x3 conv, then five stride-2 stages of residual blocks")
    cfg.conv(32, 3)
    for filters, blocks in ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)):
        cfg.comment(f"stage: {filters} filters, {blocks} residual block{'s' * (blocks > 1)}")
        cfg.conv(filters, 3, stride=2)
        for _ in range(blocks):
            cfg.conv(filters // 2, 1)
            cfg.conv(filters, 3)
            cfg.shortcut(-3)


def yolo_head(cfg, filters, mask, spp=False):
    """Five alternating 1x1/3x3 convs (the SPP block after the third with spp), a 3x3 conv, then the
    255-channel 1x1 prediction (3 anchors x 85) and its [yolo]."""
    cfg.conv(filters, 1)
    cfg.conv(2 * filters, 3)
    cfg.conv(filters, 1)
    if spp:
        cfg.comment("spatial pyramid pooling: 5x5, 9x9 and 13x13 stride-1 max pools of the same map, joined")
        cfg.maxpool(5, 1)
        cfg.route(-2)
        cfg.maxpool(9, 1)
        cfg.route(-4)
        cfg.maxpool(13, 1)
        cfg.route(-1, -3, -5, -6)
        cfg.conv(filters, 1)
    cfg.conv(2 * filters, 3)
    cfg.conv(filters, 1)
    cfg.conv(2 * filters, 3)
    cfg.conv(255, 1, bn=False, activation="linear")
    cfg.yolo(mask, YOLOV3_ANCHORS, 9)


def yolov3(spp=False):
    about = ["Paper: Redmon & Farhadi, \"YOLOv3: An Incremental Improvement\" (2018).",
             "Darknet-53 (layers 0-74), then predictions at three scales, each a [yolo] layer with three of the",
             "nine anchors (pixels of the input): strides 32, 16, 8 - the coarse map for the large anchors. The",
             "finer heads see their previous head's features upsampled 2x and joined with the backbone's map",
             "of that stride (layers 61 and 36)." + (" With a spatial pyramid pooling block in the first head." if spp
                                                    else ""),
             "Input 608x608 (any multiple of 32); classes are independent logistics (80 COCO classes)."]
    if spp:
        net = ["# Inference setting: one image per pass.", "# (To train, the usual values are batch=64 with "
               "subdivisions=16.)", "batch=1", "subdivisions=1"]
    else:
        net = ["# Training setting, as the original: 64 images per batch in 16 passes of 4.", "batch=64",
               "subdivisions=16"]
    net += ["width=608", "height=608", "channels=3", ""] + SCHEDULE
    cfg = Cfg("YOLOv3" + ("-SPP" if spp else "") + " detector, COCO (80 classes)", about, net, (3, 608, 608))
    darknet53(cfg)
    cfg.comment("first head: stride 32, anchors 6-8")
    yolo_head(cfg, 512, "6,7,8", spp)
    for filters, source, mask, stride in ((256, 61, "3,4,5", 16), (128, 36, "0,1,2", 8)):
        cfg.comment(f"head at stride {stride}, anchors {mask}")
        cfg.route(-4)
        cfg.conv(filters, 1)
        cfg.upsample()
        cfg.route(-1, source)
        yolo_head(cfg, filters, mask)
    return cfg


def yolov3_tiny():
    about = ["The small variant of YOLOv3 published with its weights: seven 3x3 conv stages with max pools",
             "(the last at stride 1), a [yolo] on the 13x13 map, then one on 26x26 from the 13x13 features",
             "upsampled and joined with layer 8. Six anchors (pixels of the input), three per scale."]
    net = ["# Inference setting: one image per pass.", "# (To train, the usual values are batch=64 with "
           "subdivisions=2.)", "batch=1", "subdivisions=1", "width=416", "height=416", "channels=3", ""] + SCHEDULE
    cfg = Cfg("Tiny YOLOv3 detector, COCO (80 classes)", about, net, (3, 416, 416))
    cfg.comment("backbone: 3x3 convs, each followed by a max pool")
    for filters in (16, 32, 64, 128, 256, 512):
        cfg.conv(filters, 3)
        cfg.maxpool(2, 1 if filters == 512 else 2)
    cfg.conv(1024, 3)
    cfg.comment("first head: 13x13, anchors 3-5")
    cfg.conv(256, 1)
    cfg.conv(512, 3)
    cfg.conv(255, 1, bn=False, activation="linear")
    cfg.section("yolo", "YOLOv3 detection on anchors 3,4,5 of the 6", cfg.shape, mask="3,4,5",
                anchors=TINY_ANCHORS, classes=80, num=6, jitter=.3, ignore_thresh=.7, truth_thresh=1, random=1)
    cfg.comment("second head: 26x26, anchors 0-2")
    cfg.route(-4)
    cfg.conv(128, 1)
    cfg.upsample()
    cfg.route(-1, 8)
    cfg.conv(256, 3)
    cfg.conv(255, 1, bn=False, activation="linear")
    cfg.section("yolo", "YOLOv3 detection on anchors 0,1,2 of the 6", cfg.shape, mask="0,1,2",
                anchors=TINY_ANCHORS, classes=80, num=6, jitter=.3, ignore_thresh=.7, truth_thresh=1, random=1)
    return cfg


def darknet53_classifier():
    about = ["The ImageNet-1k classifier YOLOv3's backbone comes from (\"YOLOv3: An Incremental Improvement\"):",
             "Darknet-53, a global average pool, a 1x1 conv to the 1000 classes and a softmax. Its first 74",
             "layers' weights are darknet53.conv.74 (darknet-py partial cfg/darknet53.cfg darknet53.weights",
             "darknet53.conv.74 74), the starting point for training YOLOv3."]
    net = ["# Inference setting (to train: batch=128, subdivisions=4).", "batch=1", "subdivisions=1",
           "height=256", "width=256", "channels=3", "", "# Random crops with the shorter side in [128, 448].",
           "min_crop=128", "max_crop=448", "", "# Polynomial decay over 800k batches after a 1000-batch warm-up.",
           "burn_in=1000", "learning_rate=0.1", "policy=poly", "power=4", "max_batches=800000", "momentum=0.9",
           "decay=0.0005", "", "# Augmentation: rotation, hue, saturation, exposure and aspect jitter.", "angle=7",
           "hue=.1", "saturation=.75", "exposure=.75", "aspect=.75"]
    cfg = Cfg("Darknet-53 classifier, ImageNet (1000 classes)", about, net, (3, 256, 256))
    darknet53(cfg)
    cfg.comment("classifier")
    cfg.section("avgpool", "global average pool", (1024, 1, 1))
    cfg.section("convolutional", "1x1 conv to the 1000 classes, linear", (1000, 1, 1), filters=1000, size=1,
                stride=1, pad=1, activation="linear")
    cfg.section("softmax", "softmax", (1000, 1, 1), groups=1)
    return cfg


def detection(cfg, num):
    cfg.section("detection", f"YOLOv1 detection: 7x7 cells, {num} boxes each, 20 classes", cfg.shape, classes=20,
                coords=4, rescore=1, side=7, num=num, softmax=0, sqrt=1, jitter=.2, object_scale=1,
                noobject_scale=.5, class_scale=1, coord_scale=5)


def yolov1():
    about = ["Paper: Redmon, Divvala, Girshick & Farhadi, \"You Only Look Once: Unified, Real-Time Object",
             "Detection\" (CVPR 2016) - the detector YOLO9000's Table 2 starts from. 24 convs (batch-normalized",
             "in this version), a locally connected layer, dropout, and a fully connected layer giving every",
             "cell of a 7x7 grid 20 class probabilities and 3 boxes with their confidences (VOC, 20 classes)."]
    net = ["# Inference setting: one image per pass.", "# (To train, the usual values are batch=64 with "
           "subdivisions=8.)", "batch=1", "subdivisions=1", "height=448", "width=448", "channels=3",
           "momentum=0.9", "decay=0.0005", "saturation=1.5", "exposure=1.5", "hue=.1", "",
           "# Steps: x2.5, x2, x2 early (a warm-up), then x0.1 twice.", "learning_rate=0.0005", "policy=steps",
           "steps=200,400,600,20000,30000", "scales=2.5,2,2,.1,.1", "max_batches=40000"]
    cfg = Cfg("YOLOv1 detector, VOC (20 classes)", about, net, (3, 448, 448))
    cfg.comment("feature extractor")
    cfg.conv(64, 7, stride=2)
    cfg.maxpool(2, 2)
    cfg.conv(192, 3)
    cfg.maxpool(2, 2)
    for filters in (128, 256):
        cfg.conv(filters, 1)
        cfg.conv(2 * filters, 3)
    cfg.maxpool(2, 2)
    for _ in range(4):
        cfg.conv(256, 1)
        cfg.conv(512, 3)
    cfg.conv(512, 1)
    cfg.conv(1024, 3)
    cfg.maxpool(2, 2)
    for _ in range(2):
        cfg.conv(512, 1)
        cfg.conv(1024, 3)
    cfg.comment("detection layers")
    cfg.conv(1024, 3)
    cfg.conv(1024, 3, stride=2)
    cfg.conv(1024, 3)
    cfg.conv(1024, 3)
    c, h, w = cfg.shape
    cfg.section("local", "3x3 locally connected, 256 filters", (256, h, w), size=3, stride=1, pad=1, filters=256,
                activation="leaky")
    cfg.section("dropout", "dropout .5", cfg.shape, probability=.5)
    cfg.section("connected", "fully connected: 7*7*(3*5 + 20) outputs, linear", (1715, 1, 1), output=1715,
                activation="linear")
    detection(cfg, 3)
    return cfg


def yolov1_tiny():
    about = ["The small YOLOv1 published with its weights: six 3x3 conv + max pool",
             "stages, two more convs and a fully connected layer giving every cell of a 7x7 grid 20 class",
             "probabilities and 2 boxes with their confidences (VOC, 20 classes)."]
    net = ["# Inference setting: one image per pass.", "# (To train, the usual values are batch=64 with "
           "subdivisions=8.)", "batch=1", "subdivisions=1", "height=448", "width=448", "channels=3",
           "momentum=0.9", "decay=0.0005", "saturation=.75", "exposure=.75", "hue=.1", "",
           "# Steps: x2.5, x2, x2, x2 early (a warm-up), then x0.1 twice.", "learning_rate=0.0005", "policy=steps",
           "steps=200,400,600,800,20000,30000", "scales=2.5,2,2,2,.1,.1", "max_batches=40000"]
    cfg = Cfg("Tiny YOLOv1 detector, VOC (20 classes)", about, net, (3, 448, 448))
    cfg.comment("3x3 convs, each followed by a max pool")
    for filters in (16, 32, 64, 128, 256, 512):
        cfg.conv(filters, 3)
        cfg.maxpool(2, 2)
    cfg.conv(1024, 3)
    cfg.conv(256, 3)
    cfg.section("connected", "fully connected: 7*7*(2*5 + 20) outputs, linear", (1470, 1, 1), output=1470,
                activation="linear")
    detection(cfg, 2)
    return cfg


CFGS = {"yolov3": yolov3, "yolov3-spp": lambda: yolov3(spp=True), "yolov3-tiny": yolov3_tiny,
        "darknet53": darknet53_classifier, "yolov1": yolov1, "yolov1-tiny": yolov1_tiny}


def main(folder=ROOT / "cfg"):
    for name, make in CFGS.items():
        path = Path(folder) / f"{name}.cfg"
        path.write_text(make().text())
        print(path)


if __name__ == "__main__":
    main(*sys.argv[1:])
