"""A Network as an ONNX model (`darknet-py export onnx <cfg> <weights> <out.onnx>`).

The graph takes `images`, (B, c, h, w) float32 as network_predict takes them (RGB, 0..1, letterboxed to
the network size by letterbox_image), and gives the output layer's values (every [yolo] layer's, for
YOLOv3-style networks), or with decode=True the detections (decode.py). Batch-norm is folded into the
convolutions; each layer type's ONNX form is in layers.py. The batch is fixed, or "dynamic" (a free
`batch` dimension). What the graph expects and gives is written into the model's metadata.
"""
import json

import onnx
from onnx import helper

from ..errors import DarknetError
from .decode import DETECTIONS, SIZE_INPUT, decode
from .graph import Graph, value_info
from .layers import NotExportable, build

OPSET = 13       # NonMaxSuppression, Softmax over any axis, Resize; read by every runtime we test
IR_VERSION = 8
INPUT = "images"
INPUT_CONVENTION = ("RGB, float32 0..1, NCHW, letterboxed as Darknet's letterbox_image: resized keeping the "
                    "aspect ratio (bilinear), centred on a 0.5 grey canvas of the network size")


def output_layers(net):
    """The layers whose values the graph gives: every [yolo] layer, else get_network_output's layer."""
    yolo = [i for i, layer in enumerate(net.layers) if layer.type == "yolo"]
    return yolo or [net.layers.index(net.output_layer)]


def export_onnx(net, path, batch=1, decode_boxes=False, thresh=.5, nms=.45, names=None, every_layer=False):
    """Write `net` (at its current size: Network.resize first for another) to `path` as ONNX.

    batch: an int, or "dynamic". decode_boxes: the graph also takes `image_size` (B, 2) int64 (each
    original image's width, height) and gives `detections` (K, 7) rows of batch index, left, top, right,
    bottom (pixels of the original image), class, probability, after Darknet's thresholds and NMS.
    names: class names for the metadata. every_layer: every layer's value is an output too (`layer_<i>`),
    for checking a runtime layer by layer. Raises DarknetError naming the cfg line of a layer that has no
    ONNX form. Returns the onnx.ModelProto written.
    """
    g = Graph()
    batch_dim = "batch" if batch == "dynamic" else int(batch)
    wanted = output_layers(net)
    values = []
    x = INPUT
    for i, layer in enumerate(net.layers[:max(wanted) + 1]):
        g.prefix = f"l{i}_"  # node names say which layer they compute
        try:
            x = build(g, layer, x, values)
        except NotExportable as e:
            raise layer.error(f"[{layer.type}] cannot be exported to ONNX: {e}") from None
        values.append(x)
    g.prefix = ""
    inputs = [value_info(INPUT, [batch_dim, *net.input_shape])]
    if decode_boxes:
        region = net.layers[wanted[-1]]
        if region.type != "region" or region.tree is not None:
            what = "a WordTree [region]" if region.type == "region" else f"a [{region.type}] output"
            raise region.error(f"-decode cannot export {what}: only a [region] with softmax or logistic classes")
        extra_inputs, outputs = decode(g, region, values[wanted[-1]], net.w, net.h, thresh, nms, batch_dim)
        inputs += extra_inputs
    else:
        outputs = [named_output(g, values[i], "output" if len(wanted) == 1 else f"output_{i}",
                                [batch_dim, *net.layers[i].out_shape]) for i in wanted]
    if every_layer:
        outputs += [named_output(g, v, f"layer_{i}", [batch_dim, *layer.out_shape])
                    for i, (v, layer) in enumerate(zip(values, net.layers))]
    graph = helper.make_graph(g.nodes, f"darknet-py {net.path}", inputs, outputs, g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="darknet-py")
    model.ir_version = IR_VERSION
    helper.set_model_props(model, metadata(net, wanted, decode_boxes, thresh, nms, names))
    try:
        onnx.save(model, str(path))
    except OSError as e:
        raise DarknetError(f"{path}: cannot write: {e.strerror}") from None
    return model


def named_output(g, value, name, shape):
    g.op("Identity", value, hint=name)
    return value_info(name, shape)


def metadata(net, wanted, decode_boxes, thresh, nms, names):
    """What a deployer needs to feed the graph and read its outputs, as string metadata."""
    head = net.layers[wanted[-1]]
    props = {"darknet_cfg": str(net.path), "input": INPUT_CONVENTION, "input_size": f"{net.w}x{net.h}"}
    if names is not None:
        props["names"] = json.dumps(list(names))
    if head.type in ("region", "yolo"):
        props["classes"] = str(head.classes)
        props["anchors"] = json.dumps([float(v) for v in head.biases])
        props["layout"] = ("output (B, anchors*(5+classes), h, w): per anchor x, y (logistic), w, h (raw), "
                           "objectness, classes (after the layer's activations)")
    if head.type == "yolo":
        props["masks"] = json.dumps([[int(m) for m in net.layers[i].mask] for i in wanted])
    if decode_boxes:
        props["decode"] = json.dumps({"thresh": thresh, "nms": nms, "inputs": [INPUT, SIZE_INPUT],
                                      DETECTIONS: "batch, left, top, right, bottom, class, probability"})
    return props
