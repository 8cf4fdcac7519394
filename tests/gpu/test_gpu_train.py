"""GPU training (gpu/train.py) against the CPU training path (layers/*.py, train/sgd.py, which matches
libdarknet's train_network_datum): layer outputs and deltas of one step, then every parameter after
several updates. Each test runs twice: with the kernels compiled as C++ on the CPU (kernel_host.HostRunner,
always) and with CuPy on a GPU (skipped without one)."""
import copy

import numpy as np
import pytest

import kernel_host
from conftest import conv, project_cfg, relative_error, sane_parameters, section
from darknet_py.gpu import device
from darknet_py.gpu.device import to_numpy
from darknet_py.data.classification import fill_hierarchy
from darknet_py.gpu.train import GpuTrainer, TrainPlan
from darknet_py.network import Network
from darknet_py.train.sgd import train_datum


@pytest.fixture(params=["host", "gpu"])
def runner(request):
    if request.param == "host":
        if not kernel_host.available():
            pytest.skip("needs g++ to build the kernels for the CPU")
        return kernel_host.HostRunner()
    if device.gpu_count() == 0:
        pytest.skip("no CUDA device")
    from darknet_py.gpu.plan import CupyRunner
    return CupyRunner()


def train_on(net, runner):
    """`net` trained by the GPU training plan on `runner`: a GpuTrainer in the place of GpuEngine's
    training half (Network.forward_backward and Network.parameters go to it)."""
    net.gpu = GpuTrainer(net, runner)
    return net.gpu


TOLERANCE = 2e-5  # of each array's max |value|: GEMMs and per-channel sums add in other orders
UPDATES_TOLERANCE = 1e-4  # momentum-accumulated gradients, sums of many cancelling terms (the GPU's 1e-4)

NET = section("net", batch="{batch}", subdivisions="{subdivisions}", width=32, height=32, channels=3,
              learning_rate=.01, momentum=.9, decay=.0005)

# Every layer type of YOLOv2 with a training kernel, a grouped convolution (trained by its CPU layer), a
# stopbackward and a per-layer learning rate; the region's classes are either softmax or a WordTree.
DETECTOR = (NET + conv(8) + section("maxpool", size=2, stride=2)
            + conv(16) + section("maxpool", size=2, stride=2)
            + conv(16, activation="relu", batch_normalize=0, stopbackward="{stop}")
            + section("maxpool", size=2, stride=1)
            + section("route", layers=-4) + section("reorg", stride=2) + section("route", layers="-1,-3")
            + conv(12, stride=2, groups=2)
            + conv(16, activation="logistic", learning_rate=.5)
            + conv("{filters}", size=1, activation="linear", batch_normalize=0)
            + section("region", anchors="1,1,2.5,1.5", num=2, classes="{classes}", coords=4, softmax=1) + "{tree}\n")

CLASSIFIER = (NET + conv(8) + section("maxpool", size=2, stride=2)
              + conv(5, size=1, activation="linear", batch_normalize=0) + section("avgpool")
              + section("softmax", groups=1) + "{tree}\n")

# A five-node WordTree (two groups under the root, one under each of its first two nodes).
TREE = "a -1\nb -1\nc 0\nd 0\ne 1\n"


def build(tmp_path, text, seed=0, **keys):
    path = tmp_path / "net.cfg"
    path.write_text(text.format(**keys))
    return sane_parameters(Network.from_cfg(path), seed)


def detector_keys(tmp_path, tree=False, stop=0):
    if not tree:
        return dict(filters=16, classes=3, tree="", stop=stop)
    (tmp_path / "five.tree").write_text(TREE)
    return dict(filters=20, classes=5, tree=f"tree={tmp_path / 'five.tree'}", stop=stop)


def detector_batch(net, rng):
    """Images and 30-box truth rows (x, y, w, h, class), 1-3 boxes per image."""
    b, classes = net.minibatch, net.output_layer.classes
    x = rng.uniform(0, 1, (b,) + net.input_shape).astype(np.float32)
    truth = np.zeros((b, 30 * 5), np.float32)
    for i in range(b):
        for j in range(rng.integers(1, 4)):
            truth[i, 5 * j:5 * j + 5] = [*rng.uniform(.2, .8, 2), *rng.uniform(.1, .5, 2), rng.integers(0, classes)]
    return x, truth


def classifier_batch(net, rng):
    """Images and one-hot labels over 5 classes; with a tree, fill_hierarchy's truths (ancestors 1, the
    groups off the label's path SECRET_NUM)."""
    b, tree = net.minibatch, net.output_layer.tree
    x = rng.uniform(0, 1, (b,) + net.input_shape).astype(np.float32)
    truth = np.eye(5, dtype=np.float32)[rng.integers(0, 5, b)]
    if tree is not None:
        for row in truth:
            fill_hierarchy(row, tree)
    return x, truth


def check_step(host, cpu, x, truth, runner):
    """One TrainPlan step of `host` (a copy of `cpu` before cpu's step) on a minibatch of 2, every buffer
    poisoned first: each layer's output and delta as the CPU path's. Returns the plan."""
    plan = TrainPlan(host, 2, runner, {})
    for buffer in plan.buffers + plan.deltas:
        buffer.fill(np.nan)  # every element must be written (deltas are zeroed by train_forward)
    host.train, host.truth = True, truth
    plan.train_forward(x)
    plan.train_backward()
    for i, (ours, ref) in enumerate(zip(host.layers, cpu.layers)):
        assert relative_error(to_numpy(ours.output), ref.output) < TOLERANCE, f"layer {i} {ref.type} output"
        delta = to_numpy(plan.batch_view(plan.deltas[i]))
        assert relative_error(delta, ref.delta) < TOLERANCE, f"layer {i} {ref.type} delta"
    return plan


@pytest.mark.parametrize("tree", [False, True])
def test_one_step_outputs_and_deltas_equal_the_cpu_path(tmp_path, tree, runner):
    cpu = build(tmp_path, DETECTOR, batch=2, subdivisions=1, **detector_keys(tmp_path, tree))
    host = copy.deepcopy(cpu)
    x, truth = detector_batch(cpu, np.random.default_rng(1))
    cpu.forward(x, train=True, truth=truth)
    cpu.backward()

    plan = check_step(host, cpu, x, truth, runner)
    assert host.layers[-1].cost == pytest.approx(cpu.layers[-1].cost, rel=1e-5)
    for i, p in plan.params.items():
        ref = cpu.layers[i]
        for name in ("weight_updates", "bias_updates", "scale_updates", "rolling_variance"):
            if getattr(ref, name, None) is not None:
                assert relative_error(to_numpy(getattr(p, name)), getattr(ref, name)) < TOLERANCE, f"layer {i} {name}"


@pytest.mark.parametrize("text, make_batch, keys", [
    (DETECTOR, detector_batch, dict(subdivisions=1)),
    (DETECTOR, detector_batch, dict(subdivisions=2, stop=1)),  # layers 0-4 stay as they are
    (DETECTOR, detector_batch, dict(subdivisions=1, tree=True)),
    (CLASSIFIER, classifier_batch, dict(subdivisions=1, tree="")),
    (CLASSIFIER, classifier_batch, dict(subdivisions=1, tree=True))])
def test_training_steps_give_the_cpu_parameters(tmp_path, text, make_batch, keys, runner):
    if text is DETECTOR:
        keys = dict(keys, **detector_keys(tmp_path, keys.pop("tree", False), keys.pop("stop", 0)))
    elif keys["tree"]:
        keys["tree"] = detector_keys(tmp_path, tree=True)["tree"]
    cpu = build(tmp_path, text, batch=4, **keys)
    start = copy.deepcopy(cpu)
    host = copy.deepcopy(cpu)
    trainer = train_on(host, runner)
    rng = np.random.default_rng(2)
    for _ in range(4):
        x, truth = make_batch(cpu, rng)
        expected = train_datum(cpu, x, truth)
        assert train_datum(host, x, truth) == pytest.approx(expected, rel=1e-4)
    assert host.seen == cpu.seen == 4 * cpu.minibatch
    trainer.download()
    for i, (ours, ref) in enumerate(zip(host.layers, cpu.layers)):
        for name in ("weights", "biases", "scales", "rolling_mean", "rolling_variance", "weight_updates"):
            if getattr(ref, name, None) is not None:
                limit = UPDATES_TOLERANCE if name.endswith("updates") else TOLERANCE
                assert relative_error(getattr(ours, name), getattr(ref, name)) < limit, f"layer {i} {name}"
    if cpu.layers[4].stopbackward:  # backward_network stops there: nothing below learns (weights decay only)
        np.testing.assert_array_equal(cpu.layers[2].scales, start.layers[2].scales)


# YOLOv3's layer types with training kernels: residual shortcuts (alpha, beta, onto and from larger maps),
# upsample with a scale and a downsample, two [yolo] losses on the host; and YOLOv1's, which train by their
# CPU layers on host copies: [local], [connected], [detection] (without [dropout], whose GPU mask is drawn
# over the plan's (C, B, H, W) layout, so not the CPU's for B > 1).
YOLO3 = (NET + conv(8) + conv(8, size=1) + conv(8)
         + section("shortcut", activation="leaky", alpha=.5, beta=2, **{"from": -3})
         + conv(12, stride=2) + section("shortcut", activation="linear", **{"from": -2})
         + section("upsample", stride=2, scale=.5) + section("shortcut", activation="linear", **{"from": -2})
         + section("upsample", stride=-2) + conv(14, size=1, activation="linear", batch_normalize=0)
         + section("yolo", mask="2,3", anchors="4,4, 9,9, 14,14, 20,20", classes=2, num=4)
         + section("route", layers=-3) + section("upsample", stride=2) + section("route", layers="-1,3")
         + conv(14, size=1, activation="linear", batch_normalize=0)
         + section("yolo", mask="0,1", anchors="4,4, 9,9, 14,14, 20,20", classes=2, num=4))
YOLO1 = (NET + conv(8) + section("maxpool", size=2, stride=2) + conv(8, stride=2)
         + section("local", filters=6, size=3, stride=1, pad=1, activation="leaky")
         + section("connected", output=4 * 4 * (2 * 5 + 2), activation="linear")
         + section("detection", classes=2, coords=4, rescore=1, side=4, num=2, sqrt=1, coord_scale=5,
                   noobject_scale=.5))


def zoo_batch(net, rng):
    """[yolo]'s 90-box truth rows or [detection]'s grid, from a few random boxes per image."""
    layer = net.output_layer
    if layer.type == "yolo":
        x, truth = detector_batch(net, rng)
        return x, np.pad(truth, ((0, 0), (0, 60 * 5)))
    x = rng.uniform(0, 1, (net.minibatch,) + net.input_shape).astype(np.float32)
    truth = np.zeros((net.minibatch, layer.cells, 1 + layer.classes + 4), np.float32)
    for row in truth:
        for cell in rng.choice(layer.cells, 3, replace=False):
            row[cell, 0] = row[cell, 1 + rng.integers(layer.classes)] = 1
            row[cell, -4:] = *rng.uniform(0, 1, 2), *rng.uniform(.1, .6, 2)
    return x, truth.reshape(net.minibatch, -1)


@pytest.mark.parametrize("text", [YOLO3, YOLO1], ids=["yolov3", "yolov1"])
def test_yolov3_and_yolov1_layers_train_as_on_the_cpu(tmp_path, text, runner):
    """One step's outputs and deltas, then every parameter after four updates, as the CPU path's."""
    cpu = build(tmp_path, text, batch=2, subdivisions=1)
    host = copy.deepcopy(cpu)
    rng = np.random.default_rng(4)
    x, truth = zoo_batch(cpu, rng)
    cpu.forward(x, train=True, truth=truth)
    cpu.backward()
    check_step(host, cpu, x, truth, runner)
    cpu = build(tmp_path, text, batch=4, subdivisions=2)
    host = copy.deepcopy(cpu)
    trainer = train_on(host, runner)
    for _ in range(4):
        x, truth = zoo_batch(cpu, rng)
        expected = train_datum(cpu, x, truth)
        assert train_datum(host, x, truth) == pytest.approx(expected, rel=1e-4)
    trainer.download()
    for i, (ours, ref) in enumerate(zip(host.layers, cpu.layers)):
        for name in ("weights", "biases", "scales", "rolling_mean", "rolling_variance"):
            if getattr(ref, name, None) is not None:
                assert relative_error(getattr(ours, name), getattr(ref, name)) < TOLERANCE, f"layer {i} {name}"


@pytest.mark.parametrize("name, side", [("yolov2", 64), ("yolov2-tiny", 96), ("darknet19", 64),
                                        ("yolov3-tiny", 64)])
def test_paper_networks_train_as_on_the_cpu(name, side, runner):
    """Two updates of the paper's networks at a small size: every parameter as the CPU path's."""
    cpu = sane_parameters(Network.from_cfg(project_cfg(name)))
    cpu.resize(side, side)
    cpu.minibatch, cpu.subdivisions = 2, 1
    host = copy.deepcopy(cpu)
    trainer = train_on(host, runner)
    rng = np.random.default_rng(3)
    for _ in range(2):
        if cpu.output_layer.type == "region":
            x, truth = detector_batch(cpu, rng)
        elif cpu.output_layer.type == "yolo":
            x, truth = zoo_batch(cpu, rng)
        else:
            x = rng.uniform(0, 1, (2,) + cpu.input_shape).astype(np.float32)
            truth = np.eye(cpu.output_layer.inputs, dtype=np.float32)[rng.integers(0, 1000, 2)]
        assert train_datum(host, x, truth) == pytest.approx(train_datum(cpu, x, truth), rel=1e-4)
    trainer.download()
    for i, (ours, ref) in enumerate(zip(host.layers, cpu.layers)):
        for name in ("weights", "biases", "scales", "rolling_mean", "rolling_variance"):
            if getattr(ref, name, None) is not None:
                assert relative_error(getattr(ours, name), getattr(ref, name)) < TOLERANCE, f"layer {i} {name}"
