"""The GPU kernels and the GPU plan, checked on the CPU: kernels/*.cu compiled as C++ (kernel_host.py) run
gpu.Plan on numpy buffers, compared with the reference layers (layers/*.py) layer by layer.

This checks the kernels' arithmetic and indexing, the (C, B, H, W) layout and every launch's arguments
without a GPU. What it cannot check - CuPy, cuBLAS, CUDA's own math functions, graph capture - is
tests/gpu/test_gpu.py's job on a machine with one.
"""
import numpy as np
import pytest

import kernel_host
from conftest import ROOT, conv, project_cfg, relative_error, sane_parameters, section
from darknet_py.layers.activations import activate, gradient
from darknet_py.boxes import region_detections
from darknet_py.gpu.plan import ACTIVATION_CODES, Plan, bn_denominator
from darknet_py.image import letterbox_image
from darknet_py.layers.batchnorm import bn_inference
from darknet_py.network import Network
from darknet_py.wordtree.tree import read_map

pytestmark = pytest.mark.skipif(not kernel_host.available(), reason="needs g++ to build the kernels for the CPU")

TOLERANCE = 1e-5  # of each layer's max |value|: the GEMMs sum in other orders


def reference_outputs(net, x):
    """Every layer's output from the reference layers (layers/*.py), copied."""
    outs = []
    for layer in net.layers:
        x = layer.forward(x, net)
        outs.append(np.array(layer.output, copy=True))
    return outs


def plan_outputs(net, x):
    """Every layer's output from gpu.Plan on the host runner, all buffers poisoned with NaN first."""
    plan = Plan(net, x.shape[0], kernel_host.HostRunner())
    plan.batch_view(plan.input)[...] = x
    for buffer in plan.buffers + [plan.result, plan.cols]:
        buffer.fill(np.nan)
    plan.run()
    plan.set_layer_outputs()
    np.testing.assert_array_equal(plan.result, plan.batch_view(plan.buffers[net.layers.index(net.output_layer)]))
    return plan, [np.array(layer.output) for layer in net.layers]


def check_network(net, x):
    """Compares the plan's layer outputs with the reference layers'; returns the plan."""
    expected = reference_outputs(net, x)
    plan, got = plan_outputs(net, x)
    for i, (layer, ours, ref) in enumerate(zip(net.layers, got, expected)):
        assert ours.shape == ref.shape, f"layer {i} {layer.type}"
        assert relative_error(ours, ref) < TOLERANCE, f"layer {i} {layer.type}: {relative_error(ours, ref)}"
    return plan


def random_input(net, batch, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (batch,) + net.input_shape).astype(np.float32)


def write_cfg(tmp_path, text, name="net.cfg"):
    path = tmp_path / name
    path.write_text(text)
    return path


DETECTOR = """[net]
width={w}
height={h}
channels=3
[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky
[maxpool]
size=2
stride=2
[convolutional]
filters=6
size=3
stride=2
pad=1
groups=2
activation=ramp
[convolutional]
batch_normalize=1
filters=8
size=1
stride=1
activation=logistic
[maxpool]
size=3
stride=1
[reorg]
stride=2
[convolutional]
filters=32
size=5
stride=1
padding=2
activation=tanh
[route]
layers=-1,-2
[convolutional]
filters=2
size=1
stride=1
activation=elu
[route]
layers=-3
[convolutional]
filters={region_filters}
size=1
stride=1
activation=linear
[region]
anchors=1,1,2,2
num=2
classes=3
coords=4
softmax={softmax}
"""


@pytest.mark.parametrize("w,h,batch,softmax", [(32, 32, 1, 1), (48, 32, 3, 1), (40, 24, 2, 0)])
def test_detector_layers(tmp_path, w, h, batch, softmax):
    """Conv (BN, bias, groups, 1x1, strides, padding), maxpools (2/2, 3/1), reorg, route, region."""
    cfg = write_cfg(tmp_path, DETECTOR.format(w=w, h=h, softmax=softmax, region_filters=2 * 8))
    net = sane_parameters(Network.from_cfg(cfg))
    check_network(net, random_input(net, batch))


CLASSIFIER = """[net]
width=12
height=10
channels=3
[convolutional]
batch_normalize=1
filters=4
size=3
stride=2
pad=1
activation=relie
[maxpool]
size=2
stride=2
[batchnorm]
[dropout]
probability=.5
[connected]
output=12
batch_normalize=1
activation=selu
[connected]
output=10
activation=linear
[softmax]
groups=2
temperature=2
[cost]
"""


@pytest.mark.parametrize("batch", [1, 4])
def test_classifier_layers(tmp_path, batch):
    """[batchnorm], [dropout], [connected] (with and without the batch transpose), [softmax] groups and
    temperature, [cost]."""
    net = sane_parameters(Network.from_cfg(write_cfg(tmp_path, CLASSIFIER)))
    check_network(net, random_input(net, batch))


TREE = "a -1\nb -1\nc -1\na1 0\na2 0\nb1 1\nb2 1\nb3 1\n"
TREE_NET = """[net]
width=8
height=6
channels=3
[convolutional]
filters=48
size=3
stride=1
pad=1
activation=leaky
[shortcut]
from=0
activation=linear
[reorg]
stride=2
reverse=1
[avgpool]
[softmax]
tree={tree}
[route]
layers=0
[convolutional]
filters=26
size=1
stride=1
activation=linear
[region]
anchors=1,1,2,2
num=2
classes=8
coords=4
tree={tree}
"""


@pytest.mark.parametrize("batch", [1, 3])
def test_tree_layers(tmp_path, batch):
    """WordTree softmax in [softmax] and [region], [avgpool], reverse [reorg], [shortcut]."""
    tree = write_cfg(tmp_path, TREE, "t.tree")
    net = sane_parameters(Network.from_cfg(write_cfg(tmp_path, TREE_NET.format(tree=tree))))
    assert check_network(net, random_input(net, batch)).capturable


# YOLOv3's layer types: a residual [shortcut] with alpha and beta, one of a larger map (stride 2) and one
# onto a larger map (sample 2), upsample with a scale, a downsample, route, two [yolo] scales; with
# local=1 a [local] (no kernel: it runs its own forward on the plan's buffers).
YOLO3_NET = "[net]\nwidth={w}\nheight={h}\nchannels=3\n" + (
    conv(8) + conv(8, size=1) + conv(8) + section("shortcut", activation="leaky", alpha=.5, beta=2, **{"from": -3})
    + conv(12, stride=2) + section("shortcut", activation="linear", **{"from": -2})
    + section("upsample", stride=2, scale=.5) + section("shortcut", activation="linear", **{"from": -2})
    + section("upsample", stride=-2) + "{local}" + conv(14, size=1, activation="linear", batch_normalize=0)
    + section("yolo", mask="2,3", anchors="4,4, 6,6, 9,9, 12,12", classes=2, num=4)
    + section("route", layers=-3) + section("upsample", stride=2) + section("route", layers="-1,3")
    + conv(14, size=1, activation="linear", batch_normalize=0)
    + section("yolo", mask="0,1", anchors="4,4, 6,6, 9,9, 12,12", classes=2, num=4))


@pytest.mark.parametrize("w,h,batch,local", [(16, 16, 1, 0), (24, 16, 3, 0), (16, 16, 2, 1)])
def test_yolov3_layers(tmp_path, w, h, batch, local):
    text = YOLO3_NET.format(w=w, h=h, local=section("local", filters=12, size=3, stride=1, pad=1,
                                                       activation="leaky") if local else "")
    net = sane_parameters(Network.from_cfg(write_cfg(tmp_path, text)))
    assert check_network(net, random_input(net, batch)).capturable == (not local)


@pytest.mark.parametrize("name,size,batch", [("yolov2-tiny", (64, 64), 2), ("yolov2", (96, 64), 2),
                                             ("yolo9000", (64, 64), 2), ("darknet19", (64, 64), 2),
                                             ("yolov3-tiny", (64, 64), 2), ("yolov3", (64, 64), 1)])
def test_paper_networks(name, size, batch, random_weights):
    """The paper's networks and YOLOv3, every layer in kernels (so the GPU captures them as one graph)."""
    if name == "yolo9000" and not (ROOT / "data" / "9k.tree").exists():
        pytest.skip("needs data/9k.tree (make data)")
    cfg = project_cfg(name)
    net = Network.from_cfg(cfg).load_weights(random_weights(cfg))
    net.resize(*size)
    assert check_network(net, random_input(net, batch)).capturable


@pytest.mark.parametrize("name", ACTIVATION_CODES)
def test_epilogue_activations(name):
    rng = np.random.default_rng(1)
    channels, spatial = 3, 50
    x = rng.uniform(-6, 6, (channels, spatial)).astype(np.float32)
    x[0, :7] = [-4, 4, 0, -1, 1, 2.5, -2.5]  # the activations' breakpoints
    biases = rng.normal(0, .1, channels).astype(np.float32)
    y = x.copy()
    kernel_host.HostRunner().launch("epilogue.cu", "bias_activate_forward", y.size, y, biases, channels, spatial,
                                    ACTIVATION_CODES.index(name))
    expected = activate(name, x + biases[:, None])
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ACTIVATION_CODES)
def test_activation_gradients(name):
    """activate_backward: delta *= the gradient at the activated output, as activations.py's GRADIENT."""
    rng = np.random.default_rng(3)
    y = activate(name, rng.uniform(-6, 6, 200).astype(np.float32))
    y[:8] = [-1, 1, 0, 1e-3, -1e-3, 4, -4, .5]  # the gradients' breakpoints
    delta = rng.normal(0, 1, y.size).astype(np.float32)
    got = delta.copy()
    kernel_host.HostRunner().launch("epilogue.cu", "activate_backward", y.size, y, got, y.size,
                                    ACTIVATION_CODES.index(name))
    np.testing.assert_allclose(got, delta * gradient(name, y), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["linear", "leaky"])
def test_batchnorm_epilogue_is_bit_exact(name):
    """The CPU formula (x - mean) / (sqrt(var) + 1e-6) * scale + bias, rounded as layers/batchnorm.py;
    leaky as Darknet's C computes it (.1*x in double, rounded once - numpy's float32 .1*x can differ by
    an ulp)."""
    rng = np.random.default_rng(2)
    b, c, hw = 2, 5, 7
    x = rng.normal(0, 3, (b, c, hw)).astype(np.float32)
    scales, biases, mean = (rng.normal(1, .3, c).astype(np.float32) for _ in range(3))
    var = rng.uniform(0, 2, c).astype(np.float32)
    var[0] = 0
    y = np.ascontiguousarray(x.transpose(1, 0, 2))
    kernel_host.HostRunner().launch("epilogue.cu", "batchnorm_activate_forward", y.size, y, mean, bn_denominator(var),
                                    scales, biases, c, b * hw, ACTIVATION_CODES.index(name))
    expected = bn_inference(x.copy(), scales, biases, mean, var)
    if name == "leaky":
        expected = np.where(expected > 0, expected, (.1 * expected.astype(np.float64)).astype(np.float32))
    np.testing.assert_array_equal(y.transpose(1, 0, 2), expected)


@pytest.mark.parametrize("im_w,im_h,w,h", [(53, 37, 64, 48), (37, 53, 32, 32), (20, 20, 20, 20), (9, 40, 16, 24),
                                           (64, 48, 17, 13)])
def test_letterbox_is_bit_exact(tmp_path, im_w, im_h, w, h):
    """uint8 BGR bytes -> letterboxed (3, h, w) RGB as image.py's load_image + letterbox_image, bit for bit."""
    cfg = write_cfg(tmp_path, f"[net]\nwidth={w}\nheight={h}\nchannels=3\n[maxpool]\nsize=1\nstride=1\n")
    net = Network.from_cfg(cfg)
    plan = Plan(net, 2, kernel_host.HostRunner())
    plan.input.fill(np.nan)
    rng = np.random.default_rng(im_w)
    images = [rng.integers(0, 256, (im_h, im_w, 3), dtype=np.uint8) for _ in range(2)]
    for i, bgr in enumerate(images):
        plan.letterbox(bgr, i)
    for i, bgr in enumerate(images):
        im = (bgr[:, :, ::-1].transpose(2, 0, 1) / 255.).astype(np.float32)  # image.load_image's conversion
        np.testing.assert_array_equal(plan.batch_view(plan.input)[i], letterbox_image(im, w, h))


def decode_cases(tmp_path, random_weights):
    """(network, class map) pairs: a softmax region, a logistic one, and YOLO9000's tree with coco9k.map."""
    cases = []
    for softmax in (1, 0):
        cfg = write_cfg(tmp_path, DETECTOR.format(w=40, h=32, softmax=softmax, region_filters=2 * 8), f"d{softmax}.cfg")
        cases.append((sane_parameters(Network.from_cfg(cfg), seed=softmax), None))
    if (ROOT / "data" / "9k.tree").exists():
        cfg = project_cfg("yolo9000")
        net = Network.from_cfg(cfg).load_weights(random_weights(cfg, confident=True))
        net.resize(64, 64)
        cases.append((net, read_map(ROOT / "data" / "coco9k.map")))
    return cases


@pytest.mark.parametrize("relative", [True, False])
def test_region_decode_gives_region_detections(tmp_path, random_weights, relative):
    """gpu.Plan.decode (get_region_detections + correct_region_boxes on the device, only live detections
    returned) against boxes.region_detections on the same region output, for letterboxes of two sizes."""
    sizes = [(50, 40), (33, 61)]
    for net, class_map in decode_cases(tmp_path, random_weights):
        plan = Plan(net, len(sizes), kernel_host.HostRunner())
        plan.batch_view(plan.input)[...] = random_input(net, len(sizes))
        plan.run()
        plan.set_layer_outputs()
        assert plan.can_decode(class_map)
        for thresh in (.5, .2, .005):
            got = plan.detections(sizes, thresh, class_map, relative)
            for b, (im_w, im_h) in enumerate(sizes):
                ref = region_detections(net.output_layer, b, im_w, im_h, net.w, net.h, thresh, .5, relative, class_map)
                assert len(got[b]) == len(ref)
                live = [k for k, d in enumerate(ref) if d.objectness]
                assert [k for k, d in enumerate(got[b]) if d.objectness] == live
                assert live or thresh > .4  # the low thresholds keep some
                for k in live:
                    assert got[b][k].objectness == ref[k].objectness
                    np.testing.assert_array_equal(got[b][k].bbox, ref[k].bbox)
                    np.testing.assert_array_equal(got[b][k].prob, ref[k].prob)


def test_region_decode_leaves_top_prediction_trees_to_the_host(tmp_path):
    tree = write_cfg(tmp_path, TREE, "t.tree")
    net = sane_parameters(Network.from_cfg(write_cfg(tmp_path, TREE_NET.format(tree=tree))))
    plan = Plan(net, 1, kernel_host.HostRunner())
    assert not plan.can_decode(None) and plan.can_decode(list(range(8)))
