"""The GPU path (gpu/plan.py and gpu/engine.py on CuPy) against the CPU reference layers, layer by layer, on
the paper's networks.

Skipped without CuPy or a CUDA device. Every buffer is filled with NaN before each run, so an element a
kernel fails to write shows up as a failure rather than as a stale value.
"""
import numpy as np
import pytest

from conftest import DARKNET_DATA, ROOT, project_cfg, relative_error
from darknet_py.gpu import device
from darknet_py.boxes import do_nms_sort, region_detections
from darknet_py.image import letterbox_image, load_image
from darknet_py.network import Network

cupy = pytest.importorskip("cupy")
pytestmark = pytest.mark.skipif(device.gpu_count() == 0, reason="no CUDA device")

TOLERANCE = 1e-4  # of each layer's max |value|: cuBLAS sums in other orders than numpy's BLAS
CASES = [("yolov2", (416, 416), 1), ("yolov2", (608, 352), 2), ("yolov2-tiny", (416, 416), 1),
         ("yolov2-tiny", (320, 320), 3), ("yolo9000", (416, 416), 1), ("yolo9000", (288, 288), 2),
         ("darknet19", (224, 224), 1), ("darknet19", (256, 256), 3), ("yolov3", (416, 416), 1),
         ("yolov3-spp", (608, 352), 2), ("yolov3-tiny", (416, 416), 2)]


def data_file(name):
    """A Darknet data file from the checkout's data/ (make data) or the installed Darknet's."""
    local = ROOT / "data" / name
    return local if local.exists() else DARKNET_DATA / name


def reference_outputs(net, x):
    outs = []
    for layer in net.layers:
        x = layer.forward(x, net)
        outs.append(np.array(device.to_numpy(layer.output), copy=True))
    return outs


def gpu_run(net, x, graphs=True):
    """Run x through net on GPU 0 with every buffer poisoned first; returns the engine."""
    net.to(0)
    net.gpu.graphs = graphs
    plan = net.gpu.prepare(x.shape[0])
    for buffer in plan.buffers + [plan.result, plan.cols]:
        buffer.fill(np.nan)
    net.forward(x)
    return net.gpu


@pytest.mark.parametrize("name,size,batch", CASES)
def test_layers_match_the_cpu(name, size, batch, random_weights):
    if name == "yolo9000" and not (ROOT / "data" / "9k.tree").exists():
        pytest.skip("needs data/9k.tree (make data)")
    cfg = project_cfg(name)
    net = Network.from_cfg(cfg).load_weights(random_weights(cfg))
    net.resize(*size)
    x = np.random.default_rng(batch).uniform(0, 1, (batch,) + net.input_shape).astype(np.float32)
    expected = reference_outputs(net, x)
    engine = gpu_run(net, x)
    assert engine.graph is not None, engine.graph_error
    for i, (layer, ref) in enumerate(zip(net.layers, expected)):
        ours = device.to_numpy(layer.output)
        assert relative_error(ours, ref) < TOLERANCE, f"layer {i} {layer.type}: {relative_error(ours, ref)}"


def test_graph_and_eager_runs_agree(random_weights):
    cfg = project_cfg("yolov2-tiny")
    net = Network.from_cfg(cfg).load_weights(random_weights(cfg))
    x = np.random.default_rng(0).uniform(0, 1, (2,) + net.input_shape).astype(np.float32)
    eager = gpu_run(net, x, graphs=False)
    assert eager.graph is None
    first = np.array(net.output_layer.output, copy=True)
    graphed = gpu_run(net, x, graphs=True)
    assert graphed.graph is not None, graphed.graph_error
    np.testing.assert_array_equal(net.output_layer.output, first)
    for _ in range(3):  # replays reuse the same buffers
        np.testing.assert_array_equal(net.forward(x), first)


def test_letterbox_on_the_gpu_is_bit_exact():
    cv2 = pytest.importorskip("cv2")
    path = data_file("dog.jpg")
    if not path.exists():
        pytest.skip(f"needs {path}")
    net = Network.from_cfg(project_cfg("yolov2-tiny")).to(0)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    plan = net.gpu.prepare(2)
    plan.input.fill(np.nan)
    with cupy.cuda.Device(0):
        plan.letterbox(cupy.asarray(bgr), 1)
    expected = letterbox_image(load_image(path), net.w, net.h)
    np.testing.assert_array_equal(device.to_numpy(plan.batch_view(plan.input)[1]), expected)


def test_forward_images_equals_forward_of_the_letterbox(random_weights):
    """GpuEngine.forward_images (bytes letterboxed on the GPU) gives what forward gives for the CPU letterbox."""
    cv2 = pytest.importorskip("cv2")
    paths = [data_file(name) for name in ("dog.jpg", "eagle.jpg")]
    if not all(p.exists() for p in paths):
        pytest.skip("needs data/dog.jpg and data/eagle.jpg (make data)")
    cfg = project_cfg("yolov2-tiny")
    net = Network.from_cfg(cfg).load_weights(random_weights(cfg)).to(0)
    x = np.stack([letterbox_image(load_image(p), net.w, net.h) for p in paths])
    expected = np.array(net.forward(x), copy=True)
    got = net.gpu.forward_images([cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths])
    np.testing.assert_array_equal(got, expected)


def detections(net, x, im_w, im_h):
    region = net.layers[-1]
    dets = region_detections(region, 0, im_w, im_h, net.w, net.h, .25)
    do_nms_sort(dets, region.classes, .45)
    return [(int(np.argmax(d.prob)), d.bbox) for d in dets if d.prob.max() > 0]


def test_detections_are_identical(random_weights):
    """yolov2 with confident random weights: the same boxes and classes from the GPU as from the CPU."""
    path = data_file("dog.jpg")
    if not path.exists():
        pytest.skip(f"needs {path}")
    cfg = project_cfg("yolov2")
    net = Network.from_cfg(cfg).load_weights(random_weights(cfg, confident=True))
    im = load_image(path)
    x = letterbox_image(im, net.w, net.h)[None]
    net.forward(x)
    cpu = detections(net, x, im.shape[2], im.shape[1])
    assert cpu, "the confident weights should give detections"
    net.to(0).forward(x)
    gpu = detections(net, x, im.shape[2], im.shape[1])
    assert [c for c, _ in gpu] == [c for c, _ in cpu]
    np.testing.assert_allclose([b for _, b in gpu], [b for _, b in cpu], rtol=1e-4, atol=1e-5)


def test_detect_on_the_gpu_equals_the_cpu(random_weights):
    """detect_images with the net on the GPU (bytes up, letterbox, forward and decode there, only the
    detections back) gives the CPU path's classes, probabilities and boxes."""
    from darknet_py.detector import detect_images
    paths = [data_file(name) for name in ("dog.jpg", "eagle.jpg")]
    if not all(p.exists() for p in paths):
        pytest.skip("needs data/dog.jpg and data/eagle.jpg (make data)")
    cfg = project_cfg("yolov2")
    net = Network.from_cfg(cfg).load_weights(random_weights(cfg, confident=True))
    cpu = detect_images(net, paths, .25)
    gpu = detect_images(net.to(0), paths, .25)
    for ours, ref in zip(gpu, cpu):
        live = [(k, d) for k, d in enumerate(ref) if d.prob.max() > 0]
        assert live, "the confident weights should give detections"
        assert [k for k, d in enumerate(ours) if d.prob.max() > 0] == [k for k, _ in live]
        for k, d in live:
            np.testing.assert_allclose(ours[k].prob, d.prob, rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(ours[k].bbox, d.bbox, rtol=1e-4, atol=1e-5)


def test_fast_mode_is_close_to_float32_and_leaves_the_setting_alone(random_weights):
    """half=True (TF32 GEMMs): the output within 2e-2 of float32's largest value (bench_gpu.py prints the
    figure), and CuPy's float32 compute type is what it was afterwards."""
    from cupy._core import _routines_linalg as linalg
    before = linalg.get_compute_type(np.float32)
    cfg = project_cfg("yolov2")
    net = Network.from_cfg(cfg).load_weights(random_weights(cfg))
    x = np.random.default_rng(0).uniform(0, 1, (1,) + net.input_shape).astype(np.float32)
    exact = np.array(net.to(0).forward(x), copy=True)
    fast = np.array(net.to(0, half=True).forward(x), copy=True)
    assert 0 < relative_error(fast, exact) < 2e-2
    assert linalg.get_compute_type(np.float32) == before


def test_select_device():
    assert device.select_device(None) == 0
    assert device.select_device("cpu") == "cpu"
    assert device.device_from_flags(nogpu=True) == "cpu"
    assert device.device_from_flags(gpus="0,1") == 0
    net = Network.from_cfg(project_cfg("yolov2-tiny")).to(None)
    assert net.gpu is not None
    assert net.to("cpu").gpu is None


def test_yolov3_detections_on_the_gpu_equal_the_cpu(random_weights):
    """detect_images of YOLOv3 on the GPU (its three [yolo] layers decoded on the host from the device's
    outputs) gives the CPU path's detections."""
    from darknet_py.detector import detect_images
    path = data_file("dog.jpg")
    if not path.exists():
        pytest.skip("needs data/dog.jpg (make data)")
    cfg = project_cfg("yolov3-tiny")
    net = Network.from_cfg(cfg).load_weights(random_weights(cfg, seed=7, confident=True))
    cpu = detect_images(net, [path], .25)[0]
    gpu = detect_images(net.to(0), [path], .25)[0]
    assert cpu and len(gpu) == len(cpu)
    for ours, ref in zip(gpu, cpu):
        np.testing.assert_allclose(ours.prob, ref.prob, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(ours.bbox, ref.bbox, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("avgframes", [1, 3])
def test_video_on_the_gpu_equals_the_cpu(small_detector, tmp_path, avgframes):
    """Detector.video (demo's pipeline) with the network on the GPU: frames up as bytes, decoded there (with the
    frame average, the outputs come to the host first); the same objects as on the CPU."""
    from conftest import sample_frames, write_video
    from darknet_py.detector import Detector
    clip = write_video(tmp_path / "clip.avi", sample_frames(6))
    cpu = Detector(Network.from_cfg(small_detector[0]).load_weights(small_detector[1]), ROOT / "data/coco.names")
    gpu = Detector(Network.from_cfg(small_detector[0]).load_weights(small_detector[1]).to(0), ROOT / "data/coco.names")
    expected = list(cpu.video(clip, avgframes=avgframes))
    got = list(gpu.video(clip, batch=2, avgframes=avgframes))
    assert [i for i, _, _ in got] == [i for i, _, _ in expected] == list(range(6))
    for (_, _, ours), (_, _, theirs) in zip(got, expected):
        assert [f.name for f in ours] == [f.name for f in theirs]
        np.testing.assert_allclose([f.prob for f in ours], [f.prob for f in theirs], atol=1e-4)
