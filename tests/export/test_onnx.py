"""ONNX export: ONNX Runtime, OpenVINO and OpenCV run the exported graph with darknet-py's numbers.

Every layer's value is a graph output (export_onnx(every_layer=True)) and each engine's agrees with
darknet-py's (itself checked against the original Darknet elsewhere) within 1e-5 of the layer's largest
|value|; the decoded graph gives darknet-py's detection list; a dynamic batch runs at 1 and 3.
"""
import json
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import ROOT, conv, project_cfg, relative_error, section

from darknet_py.detector import detect_images, labels
from darknet_py.errors import CfgError
from darknet_py.image import letterbox_image, load_image
from darknet_py.network import Network
from darknet_py.weights import write_random_weights

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
ov = pytest.importorskip("openvino")
cv2 = pytest.importorskip("cv2")

from darknet_py.export.graph import Graph, value_info  # noqa: E402
from darknet_py.export.layers import build  # noqa: E402
from darknet_py.export.onnx import export_onnx  # noqa: E402

TOLERANCE = 1e-5
IMAGES = [ROOT / "data" / name for name in ("dog.jpg", "eagle.jpg")] + [ROOT / "data" / "dog.jpg"]


def run_onnxruntime(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def run_openvino(path, feeds):
    # f32: on CPUs with AVX512_BF16 (Zen 4, Sapphire Rapids) OpenVINO's default precision is bfloat16
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    results = compiled(feeds)
    return {name: results[o] for o in compiled.outputs for name in o.get_names()}  # a tensor may have several


def run_opencv(path, feeds):
    net = cv2.dnn.readNetFromONNX(str(path))
    names = list(net.getUnconnectedOutLayersNames())
    net.setInput(feeds["images"])
    return dict(zip(names, net.forward(names)))


ENGINES = {"onnxruntime": run_onnxruntime, "openvino": run_openvino, "opencv": run_opencv}


def assert_every_layer_agrees(net, path, x, engines=ENGINES):
    """Each engine's value of every layer within TOLERANCE of darknet-py's (after net.forward(x))."""
    for engine in engines:
        outputs = ENGINES[engine](path, {"images": x})
        for i, layer in enumerate(net.layers):
            if layer.type == "cost":
                continue
            ours = np.asarray(layer.output)
            error = relative_error(outputs[f"layer_{i}"].reshape(ours.shape), ours)
            assert error < TOLERANCE, f"{engine}: layer {i} [{layer.type}] differs by {error:.2g}"


def exported(tmp_path, cfg, seed=1, side=None, **options):
    net = Network.from_cfg(cfg)
    write_random_weights(net, tmp_path / "random.weights", seed)
    if side:
        net.resize(side, side)
    path = tmp_path / "model.onnx"
    export_onnx(net, path, **options)
    onnx.checker.check_model(str(path))
    return net, path


@pytest.mark.parametrize("name,side", [("yolov2-tiny", 416), ("yolov2", 320), ("yolov2-voc", 288),
                                       ("yolo9000", 320), ("darknet19", 224), ("tiny", 224)])
def test_networks_agree_at_every_layer(tmp_path, name, side):
    net, path = exported(tmp_path, project_cfg(name), side=side, every_layer=True)
    x = np.random.default_rng(0).random((1,) + net.input_shape, dtype=np.float32)
    net.forward(x)
    assert_every_layer_agrees(net, path, x)


ACTIVATIONS = ["logistic", "loggy", "relu", "elu", "selu", "relie", "ramp", "leaky", "tanh", "plse", "stair",
               "hardtan", "lhtan", "linear"]
TREE = "a -1\nb -1\nc 0\nd 0\ne 0\nf 1\ng 1\nh 6\ni 6\n"  # groups of 2, 3, 2, 2 nodes


def small_net(tmp_path, body, w=20, h=16, c=3):
    (tmp_path / "small.tree").write_text(TREE)
    cfg = tmp_path / "small.cfg"
    cfg.write_text(section("net", width=w, height=h, channels=c) + body.replace("TREE", str(tmp_path / "small.tree")))
    return cfg


LAYER_CFGS = {
    # a grouped conv, a strided conv without BN, a 5x5 with explicit padding
    "convolutional": conv(8, 3, 2, "leaky", groups=1) + conv(8, 3, 1, "relu", groups=4)
                     + section("convolutional", filters=6, size=5, stride=1, padding=2, activation="linear"),
    # Darknet's padding: 2x2/1 keeps the size, 3x3/2 on odd maps, an explicit odd padding
    "maxpool": conv(4) + section("maxpool", size=2, stride=1) + section("maxpool", size=3, stride=2)
               + section("maxpool", size=3, stride=1, padding=3) + section("maxpool", size=2, stride=2),
    "reorg": conv(8) + section("reorg", stride=2) + section("reorg", stride=2, reverse=1)
             + section("reorg", stride=1, flatten=1) + section("reorg", stride=1, flatten=1, reverse=1)
             + section("reorg", stride=1, extra=7),
    "route_shortcut": conv(8) + conv(8) + section("route", layers="-1,-2") + conv(8, 1)
                      + section("shortcut", **{"from": -4}, activation="leaky")
                      + section("shortcut", **{"from": -2}, alpha=.5, beta=2, activation="linear")
                      + conv(4, 3, 2) + section("shortcut", **{"from": -2}, activation="linear")
                      + conv(12, 1, 1) + section("shortcut", **{"from": -4}, activation="linear")
                      + section("route", layers="-5")  # full size again: then a half-size source, sampled
                      + section("shortcut", **{"from": -2}, alpha=.5, activation="leaky"),
    "batchnorm_avgpool": conv(8, batch_normalize=0) + section("batchnorm") + section("avgpool"),
    "connected_dropout_softmax": conv(4) + section("connected", output=12, batch_normalize=1, activation="leaky")
                                 + section("dropout", probability=.25) + section("connected", output=10,
                                                                                  activation="linear")
                                 + section("softmax", groups=2, temperature=2) + section("cost", type="sse"),
    "tree_softmax": conv(4) + section("connected", output=12, activation="linear")
                    + section("softmax", tree="TREE", temperature=.5),
    "region_softmax": conv(2 * 9, 1, activation="linear", batch_normalize=0)
                      + section("region", anchors="1,2,3,4", classes=4, coords=4, num=2, softmax=1),
    "region_logistic": conv(2 * 9, 1, activation="linear", batch_normalize=0)
                       + section("region", anchors="1,2,3,4", classes=4, coords=4, num=2),
    "region_background": conv(2 * 9, 1, activation="linear", batch_normalize=0)
                         + section("region", classes=4, coords=4, num=2, background=1, softmax=1),
    "region_tree": conv(3 * 14, 1, activation="linear", batch_normalize=0)
                   + section("region", anchors="1,2,3,4,5,6", classes=9, coords=4, num=3, softmax=1, tree="TREE"),
}


@pytest.mark.parametrize("kind", LAYER_CFGS)
def test_every_layer_type(tmp_path, kind):
    net, path = exported(tmp_path, small_net(tmp_path, LAYER_CFGS[kind]), seed=3, batch=2, every_layer=True)
    x = np.random.default_rng(1).normal(size=(2,) + net.input_shape).astype(np.float32)
    net.forward(x)
    assert_every_layer_agrees(net, path, x)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation(tmp_path, activation):
    body = conv(8, 3, 1, activation) + section("connected", output=6, activation=activation)
    net, path = exported(tmp_path, small_net(tmp_path, body, 12, 10), seed=4, every_layer=True)
    x = np.random.default_rng(2).normal(size=(1,) + net.input_shape).astype(np.float32) * 3
    net.forward(x)
    assert_every_layer_agrees(net, path, x, ["onnxruntime", "openvino"])


def test_dynamic_batch_runs_at_1_and_3(tmp_path):
    net, path = exported(tmp_path, project_cfg("yolov2-tiny-voc"), side=224, batch="dynamic")
    x = np.random.default_rng(3).random((3,) + net.input_shape, dtype=np.float32)
    for engine in ("onnxruntime", "openvino"):
        for batch in (1, 3):
            ours = np.asarray(net.forward(x[:batch]))
            out = ENGINES[engine](path, {"images": x[:batch]})["output"]
            assert out.shape == ours.shape and relative_error(out, ours) < TOLERANCE, (engine, batch)


def test_fixed_batch_is_in_the_graph(tmp_path):
    _, path = exported(tmp_path, project_cfg("tiny"), side=64, batch=4)
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [4, 3, 64, 64]


def confident_voc(tmp_path, random_weights, side):
    net = Network.from_cfg(project_cfg("yolov2-tiny-voc"))
    net.load_weights(random_weights(project_cfg("yolov2-tiny-voc"), seed=2, confident=True))
    net.resize(side, side)
    return net


def found_rows(net, images, thresh):
    """darknet-py's detection list: (batch, class, probability, (left, top, right, bottom)) per object."""
    dets, names = detect_images(net, images, thresh), [str(k) for k in range(20)]
    return [(b, int(f.name), f.prob, f.box) for b, (d, im) in enumerate(zip(dets, images))
            for f in labels(d, names, im.shape[2], im.shape[1], thresh)]


def same_pixel(ours, corner):
    """draw_detections' int() of the corner (toward zero), or a corner within 1e-3 of a whole pixel."""
    return int(corner) == ours or (abs(corner - round(corner)) < 1e-3 and abs(round(corner) - ours) <= 1)


def same_detections(ours, rows, sizes):
    """Every detection of ours matches one row (batch, left, top, right, bottom, class, prob) and none is
    left: same batch and class, probability within 1e-5, pixel box as draw_detections truncates it (a
    corner within 1e-3 of a whole pixel may fall on either side), each corner clamped into its image
    (width, height) as boxes.pixel_box clamps it."""
    left = [list(r) for r in rows]
    for b, k, prob, box in ours:
        w, h = sizes[b]
        match = [r for r in left if int(r[0]) == b and int(r[5]) == k and abs(r[6] - prob) < 1e-5
                 and all(same_pixel(v, min(max(c, 0), size - 1))
                         for v, c, size in zip(box, r[1:5], (w, h, w, h)))]
        assert match, f"no row for detection {(b, k, prob, box)}"
        left.remove(match[0])
    assert not left, f"{len(left)} rows darknet-py does not give, e.g. {left[0]}"


@pytest.mark.parametrize("thresh", [.25, .5])
def test_decoded_detections_equal_ours(tmp_path, random_weights, thresh):
    net = confident_voc(tmp_path, random_weights, 288)
    path = tmp_path / "decoded.onnx"
    export_onnx(net, path, batch="dynamic", decode_boxes=True, thresh=thresh, nms=.45)
    onnx.checker.check_model(str(path))
    images = [load_image(p) for p in IMAGES]
    feeds = {"images": np.stack([letterbox_image(im, net.w, net.h) for im in images]),
             "image_size": np.array([[im.shape[2], im.shape[1]] for im in images], np.int64)}
    ours = found_rows(net, images, thresh)
    assert len({b for b, *_ in ours}) == 3, "every image should have detections"
    for engine in ("onnxruntime", "openvino"):
        same_detections(ours, ENGINES[engine](path, feeds)["detections"], feeds["image_size"])


def test_metadata(tmp_path, random_weights):
    net = confident_voc(tmp_path, random_weights, 416)
    names = (ROOT / "data" / "voc.names").read_text().split()
    model = export_onnx(net, tmp_path / "m.onnx", decode_boxes=True, names=names)
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["names"]) == names and props["classes"] == "20"
    assert json.loads(props["anchors"]) == pytest.approx(net.layers[-1].biases.tolist())
    assert props["input"].startswith("RGB, float32 0..1") and props["input_size"] == "416x416"
    assert json.loads(props["decode"])["thresh"] == .5


def test_refusals_are_one_line(tmp_path):
    big_pad = small_net(tmp_path, conv(4) + section("maxpool", size=2, stride=2, padding=6))
    with pytest.raises(CfgError, match=r"small.cfg:\d+: \[maxpool\] cannot be exported to ONNX: .*pads") as e:
        export_onnx(Network.from_cfg(big_pad), tmp_path / "m.onnx")
    assert "\n" not in str(e.value)
    with pytest.raises(CfgError, match="-decode cannot export a \\[softmax\\] output"):
        export_onnx(Network.from_cfg(project_cfg("tiny")), tmp_path / "m.onnx", decode_boxes=True)
    with pytest.raises(CfgError, match="-decode cannot export a WordTree"):
        export_onnx(Network.from_cfg(project_cfg("yolo9000")), tmp_path / "m.onnx", decode_boxes=True)


def test_cpu_tree_layout_is_refused(tmp_path, monkeypatch):
    from darknet_py.layers.region import RegionLayer
    monkeypatch.setattr(RegionLayer, "darknet_cpu_tree_layout", True)
    net = Network.from_cfg(small_net(tmp_path, LAYER_CFGS["region_tree"]))
    with pytest.raises(CfgError, match="darknet_cpu_tree"):
        export_onnx(net, tmp_path / "m.onnx")


def run_builder(layer, x):
    """One layer's ONNX form (layers.build) run by ONNX Runtime on x."""
    g = Graph()
    y = build(g, layer, "images", [])
    g.op("Identity", y, hint="out")
    graph = onnx.helper.make_graph(g.nodes, "one", [value_info("images", x.shape)],
                                   [onnx.helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, None)],
                                   g.initializers)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": x})[0]


# [upsample] and [yolo] come with issue 13: until then their builders are checked on stand-in layers with
# pjreddie's field names, against upsample_cpu and forward_yolo_layer written out here.
def test_upsample_builder():
    x = np.random.default_rng(5).normal(size=(2, 3, 4, 6)).astype(np.float32)
    up = SimpleNamespace(type="upsample", stride=2, scale=1.5, reverse=0, in_shape=(3, 4, 6))
    expected = x.repeat(2, axis=2).repeat(2, axis=3) * np.float32(1.5)
    assert np.array_equal(run_builder(up, x), expected)
    down = SimpleNamespace(type="upsample", stride=-2, scale=1, reverse=1, in_shape=(3, 4, 6))
    assert relative_error(run_builder(down, x), x.reshape(2, 3, 2, 2, 3, 2).sum(axis=(3, 5))) < 1e-6


def test_yolo_builder():
    x = np.random.default_rng(6).normal(size=(2, 3 * 7, 5, 4)).astype(np.float32)
    layer = SimpleNamespace(type="yolo", mask=[0, 1, 2], classes=2, in_shape=(21, 5, 4), out_shape=(21, 5, 4))
    expected = x.reshape(2, 3, 7, 5, 4).copy()
    for entries in (slice(0, 2), slice(4, 7)):
        expected[:, :, entries] = 1 / (1 + np.exp(-expected[:, :, entries]))
    assert relative_error(run_builder(layer, x), expected.reshape(x.shape)) < 1e-6
