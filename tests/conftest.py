"""Shared test fixtures: where the original Darknet's files are, random weights for any cfg, oracle skips."""
import contextlib
import os
import sys
from pathlib import Path

# No timing-dependent choices in tests (nor a tuning cache written): the fast path's shape rules (cpu/tune.py);
# tests/cpu/test_tune.py turns measuring on where it is the subject.
os.environ["DARKNET_PY_TUNE"] = "0"

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # `import oracle` from any working directory
import oracle  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DARKNET_CFG = Path("/usr/share/darknet/cfg")
DARKNET_DATA = Path("/usr/share/darknet/data")
SHARED = Path(os.environ.get("DARKNET_PY_SHARED", ROOT.parent / "shared"))

needs_oracle = pytest.mark.skipif(not oracle.available(), reason="the original Darknet (apt-get install darknet) is not installed")


def darknet_cfg(name):
    return DARKNET_CFG / f"{name}.cfg"


def project_cfg(name):
    return ROOT / "cfg" / f"{name}.cfg"


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory):
    """random_weights(cfg, seed) -> path of a Darknet .weights file with random but sane values (cached)."""
    from darknet_py.network import Network
    from darknet_py.weights import write_random_weights
    cache = {}
    folder = tmp_path_factory.mktemp("weights")

    def make(cfg, seed=1, confident=False):
        """confident: bias the region's inputs so that objects with probabilities above .5 appear."""
        key = (str(cfg), seed, confident)
        if key not in cache:
            path = folder / f"{Path(cfg).stem}-{seed}{'-confident' * confident}.weights"
            net = Network.from_cfg(cfg)
            write_random_weights(net, path, seed)
            if confident:
                make_confident(net, np.random.default_rng(seed))
                net.save_weights(path)
            cache[key] = path
        return cache[key]
    return make


def make_confident(net, rng):
    """Bias the layers before the detection layers so that objects with probabilities above .5 appear: a few
    likely classes per anchor ([region], [yolo]: whose logistic classes also get a negative bias, or every
    class would be a half), confident boxes for some cells ([detection])."""
    spread = {}
    if any(layer.type == "yolo" for layer in net.layers):  # deep random YOLOv3s grow their activations a lot:
        size = net.w, net.h  # the heads' inputs, measured on a small input (their spread hardly depends on it)
        net.resize(96, 96)
        net.forward(rng.random((1,) + net.input_shape, dtype=np.float32))
        spread = {i: float(np.abs(net.layers[i - 2].output).std())
                  for i, layer in enumerate(net.layers) if layer.type == "yolo"}
        net.resize(*size)
    for i, layer in enumerate(net.layers):
        last = net.layers[i - 1]
        if layer.type in ("region", "yolo"):
            for a in range(layer.num):
                base = a * layer.entries
                last.weights[base:base + layer.entries] *= .5
                for c in rng.choice(layer.classes, 3, replace=False):
                    last.biases[base + layer.coords + 1 + c] += 6  # a few likely classes per anchor
                if layer.type == "region":
                    last.biases[base + layer.coords] += 2.5  # objectness
                    continue
                # [yolo]: every anchor of every cell is a candidate and the classes are independent logistics:
                # unlikely classes, and objectness that varies (so that each threshold keeps some hundreds)
                last.weights[base:base + layer.entries] /= max(1., spread[i])
                last.biases[base + 5:base + layer.entries] -= 4
                last.biases[base + 4] -= 4
                last.weights[base + 4] *= 6
                last.weights[base + 2:base + 4] *= .2  # box sizes exp(tw) within the image
        elif layer.type == "detection":
            cells, n, classes = layer.cells, layer.num, layer.classes
            last.weights *= .1
            last.biases[:cells * classes] = rng.uniform(-.2, .3, cells * classes)
            last.biases[cells * classes:cells * (classes + n)] = rng.uniform(0, 1.5, cells * n)  # confidences
            last.biases[cells * (classes + n):] = rng.uniform(.2, .8, cells * n * 4)  # x, y, sqrt w, sqrt h


# Oracle agreement, of each layer's max |value| in float32. TOLERANCE holds for every layer run on the
# oracle's own inputs (isolated_errors, isolated_training_errors): worst measured 4.7e-6 (yolov2 608, layer 23),
# training steps 4.4e-6 (a connected layer's weight updates), the same with OpenBLAS's Haswell (AVX2) and
# SkylakeX (AVX-512) kernels and numpy's AVX2 / AVX-512 loops.
TOLERANCE = 1e-5
# A whole network run end to end piles those roundings up through its layers, and where they fall depends on
# the CPU (OpenBLAS's kernels and numpy's loops sum in other orders on AVX2 and AVX-512), on the fast path's
# choices (Winograd vs im2col) and on how its work is split over threads. Measured over
# tests/layers/test_layers_oracle.py's networks, random weights, on an AMD EPYC Zen 4 (issue 11): worst
# 1.08e-5 with the AVX-512 code switched off and 1 thread, 1.003e-5 with 2 (yolov2-voc 352 batch 2, the region
# layer after 30 convs, fast path; an AVX2 EPYC failed CI with the same 1.0026e-5 at 1e-5), 9.0e-6 with AVX-512
# (1 or 2 threads). The bound leaves 1.85x over the worst.
CHAINED_TOLERANCE = 2e-5


def relative_error(ours, ref):
    """max |ours - ref| / max |ref|, the per-layer agreement measure (NaN anywhere counts as a failure)."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    if np.isnan(ours).any() or np.isnan(ref).any():
        return np.inf
    return float(np.abs(ours - ref).max() / max(float(np.abs(ref).max()), 1e-30))


def sane_parameters(net, seed=0):
    """write_random_weights' values, in memory."""
    from darknet_py.weights import fan_in
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        if hasattr(layer, "weights"):
            layer.weights[...] = rng.normal(0, np.sqrt(2.0 / fan_in(layer)), layer.weights.shape)
            layer.biases[...] = rng.normal(0, .1, layer.biases.shape)
        if getattr(layer, "batch_normalize", 0) or layer.type == "batchnorm":
            layer.scales[...] = rng.uniform(.5, 1.5, layer.scales.shape)
            layer.rolling_mean[...] = rng.normal(0, .1, layer.rolling_mean.shape)
            layer.rolling_variance[...] = rng.uniform(.5, 1.5, layer.rolling_variance.shape)
    return net


def section(kind, **options):
    """A cfg section as text: [kind] then key=value lines in the order given."""
    return f"[{kind}]\n" + "".join(f"{key}={value}\n" for key, value in options.items())


def conv(filters, size=3, stride=1, activation="leaky", batch_normalize=1, **options):
    """A padded [convolutional] section."""
    return section("convolutional", batch_normalize=batch_normalize, filters=filters, size=size, stride=stride,
                   pad=1, activation=activation, **options)


def maxpool(size=2, stride=2):
    return section("maxpool", size=size, stride=stride)


def chained_errors(net, x, ref, fast=True):
    """Network.forward end to end on x (the fast CPU path, or the reference layers with fast=False) against
    oracle.layer_outputs' ref: [(layer index, type, relative_error of its output)], [cost] layers left out."""
    from darknet_py.cpu import engine
    saved = os.environ.get(engine.REFERENCE_VAR)
    os.environ[engine.REFERENCE_VAR] = "0" if fast else "1"
    try:
        net.forward(x)
    finally:
        os.environ.pop(engine.REFERENCE_VAR)
        if saved is not None:
            os.environ[engine.REFERENCE_VAR] = saved
    assert [layer.type for layer in net.layers] == [kind for kind, _ in ref]
    return [(i, kind, relative_error(np.asarray(layer.output).reshape(expected.shape), expected))
            for i, (layer, (kind, expected)) in enumerate(zip(net.layers, ref)) if kind != "cost"]


def isolated_errors(net, x, ref, fast=False):
    """Each layer run alone on the oracle's inputs: [(layer index, what ran, relative_error of its output)].

    Layer i gets x = the oracle's output of layer i-1 (the network input for layer 0), and every earlier
    layer's `.output` is the oracle's, so a [route] or [shortcut] reads the oracle's arrays too. Rounding
    then cannot pile up from layer to layer: each layer is held to the per-layer tolerance on its own.
    fast: convolutions run their fast CPU method (cpu/conv.py), as Network.forward picks it, with a
    fused [maxpool] checked from the conv's own output; other layers run their reference forward there too.
    ref: oracle.layer_outputs' list of (type, array).
    """
    from darknet_py.cpu import blas, engine, threads
    expected = [np.array(a, np.float32).reshape((len(x),) + layer.out_shape) for layer, (_, a) in zip(net.layers, ref)]
    fast_engine = engine._Engine() if fast else None
    errors = []
    with blas.single_threaded() if fast else contextlib.nullcontext():
        for i, layer in enumerate(net.layers):
            inp = np.array(x if i == 0 else expected[i - 1], np.float32)  # a copy: [cost] may write into it
            op = fast_engine.op(net, i, inp, threads.thread_count()) if fast else None
            if op is None:
                layer.forward(inp, net)
            else:
                op(inp, fast_engine.scratch, threads.thread_count())
            if layer.type != "cost":  # [cost] outputs only its loss, which inference leaves at 0
                ran = layer.type if op is None else type(op).__name__
                errors.append((i, ran, relative_error(layer.output, expected[i])))
            if op is not None and op.pool is not None:  # the fused maxpool, from this conv's own output
                errors.append((i + 1, "maxpool fused", relative_error(op.pool.output, expected[i + 1])))
            layer.output = expected[i]  # what the layers after it read
    return errors


def assert_matches(net, x, ref):
    """Every layer within TOLERANCE on the oracle's inputs, on the reference layers and on the fast path, and
    within CHAINED_TOLERANCE end to end through Network.forward (the fast path). Returns the worst of each."""
    worst = {}
    for path, errors in (("end to end", chained_errors(net, x, ref)),
                         ("reference", isolated_errors(net, x, ref, False)),
                         ("fast path", isolated_errors(net, x, ref, True))):
        bound = CHAINED_TOLERANCE if path == "end to end" else TOLERANCE
        for i, kind, error in errors:
            assert error < bound, f"{path}: layer {i} {kind} {error:.3g}"
        worst[path] = max(error for _, _, error in errors)
    return worst


UPDATED = {"weight_updates": "weights", "bias_updates": "biases", "scale_updates": "scales"}


def isolated_training_errors(net, x, truth, dump):
    """One training step (train_datum) layer by layer on the oracle's inputs: [(layer, type, what, error)].

    dump: oracle.trace's stages of the same step. Forward: layer i gets the oracle's output of layer i-1 (and
    the earlier layers' outputs, for [route]/[shortcut]) and its output and, for a loss layer, its delta are
    compared. Backward: layer i's delta, the deltas it adds into and its *_updates are set to the oracle's just
    before layer i's backward, which then runs on the oracle's outputs; those deltas and updates are compared
    with the oracle's right after it. Update: the SGD step from the oracle's updates, compared
    with the weights the oracle saved after it, both as values and as the change from the weights before;
    batch-norm's rolling statistics after the forward.
    """
    from darknet_py.network import Network
    from darknet_py.train.sgd import update_arguments, update_due, update_network
    batch = len(x)
    backward = any(dump["before"])  # oracle.trace with steps=0 dumps the forward only
    net.load_weights(dump["before.weights"])
    net.seen += net.minibatch if backward else 0
    net.train, net.truth, net.input = True, truth, x
    shaped = lambda a, i: np.array(a, np.float32).reshape((batch,) + net.layers[i].out_shape)
    out = [shaped(a, i) for i, a in enumerate(dump["out"])]
    errors = []
    for i, layer in enumerate(net.layers):
        layer.delta = np.zeros_like(out[i])
        layer.forward(np.array(x if i == 0 else out[i - 1], np.float32), net)
        errors.append((i, layer.type, "output", relative_error(layer.output, out[i])))
        if dump["fwd"][i] is not None and dump["fwd"][i].any():  # the delta a loss layer's forward computes
            errors.append((i, layer.type, "loss delta", relative_error(layer.delta, shaped(dump["fwd"][i], i))))
        layer.output = out[i]
    for i in reversed(range(len(net.layers) if backward else 0)):
        layer = net.layers[i]
        if layer.stopbackward:
            break
        for j, before in dump["before"][i].items():
            net.layers[j].delta = shaped(before, j)
        for name, (before, _) in dump["updates"][i].items():
            setattr(layer, name, before.reshape(getattr(layer, UPDATED[name]).shape).copy())
        layer.backward(out[i - 1] if i else x, net.layers[i - 1].delta if i else None, net)
        for j, expected in dump["after"][i].items():
            errors.append((j, net.layers[j].type, f"delta from layer {i}",
                           relative_error(net.layers[j].delta, shaped(expected, j))))
        for name, (_, expected) in dump["updates"][i].items():
            errors.append((i, layer.type, name, relative_error(getattr(layer, name).ravel(), expected)))
    saved = Network.from_cfg(net.path).load_weights(dump["final.weights"])
    start = Network.from_cfg(net.path).load_weights(dump["before.weights"])
    for i, (layer, theirs) in enumerate(zip(net.layers, saved.layers)):
        for name in ("rolling_mean", "rolling_variance"):  # batch statistics folded in by the forward
            if getattr(layer, "batch_normalize", 0) or layer.type == "batchnorm":
                errors.append((i, layer.type, name, relative_error(getattr(layer, name), getattr(theirs, name))))
    if backward and update_due(net):
        for i, layer in enumerate(net.layers):
            for name, (_, expected) in dump["updates"][i].items():
                getattr(layer, name)[...] = expected.reshape(getattr(layer, name).shape)
        update_network(net, *update_arguments(net))
        for i, (layer, theirs, was) in enumerate(zip(net.layers, saved.layers, start.layers)):
            for updates, name in UPDATED.items():
                if updates in dump["updates"][i]:
                    ours, expected, before = (getattr(t, name) for t in (layer, theirs, was))
                    errors.append((i, layer.type, name, relative_error(ours, expected)))
                    errors.append((i, layer.type, f"{name} step", relative_error(ours - before, expected - before)))
    return errors


# ------------------------------------------------------------------------------ small detector, videos

SAMPLE_IMAGES = ("dog", "eagle", "giraffe", "horses", "person", "kite", "scream")  # Darknet's data/*.jpg
SMALL_SIDE = 160  # yolov2-tiny at 160x160: a forward in milliseconds, same weights as at 416


def small_network(name, tmp_path_factory, random_weights):
    """(cfg, weights): our cfg `name` at 160x160 with confident random weights (objects above .5 appear)."""
    import re
    text = project_cfg(name).read_text()
    for key in ("width", "height"):
        text = re.sub(rf"(?m)^{key}=\d+", f"{key}={SMALL_SIDE}", text)
    cfg = tmp_path_factory.mktemp("small") / f"{name}-{SMALL_SIDE}.cfg"
    cfg.write_text(text)
    return cfg, random_weights(project_cfg(name), seed=7, confident=True)


@pytest.fixture(scope="session")
def small_detector(tmp_path_factory, random_weights):
    """yolov2-tiny at 160x160 (small_network)."""
    return small_network("yolov2-tiny", tmp_path_factory, random_weights)


@pytest.fixture(scope="session")
def small_yolov3(tmp_path_factory, random_weights):
    """yolov3-tiny at 160x160 (small_network): two [yolo] scales."""
    return small_network("yolov3-tiny", tmp_path_factory, random_weights)


def run_cli(capsys, *args):
    """darknet-py in this process: (exit status, stdout, stderr)."""
    from darknet_py.cli import main
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def cli_output(capsys, *args):
    """stdout of a darknet-py command run in this process, which must succeed."""
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err[-2000:]
    return out


def sample_frames(count, size=(320, 240)):
    """count (H, W, 3) uint8 BGR frames cycling through Darknet's sample images, resized to size (w, h)."""
    import cv2
    images = [cv2.resize(cv2.imread(str(DARKNET_DATA / f"{name}.jpg")), size) for name in SAMPLE_IMAGES]
    return [images[i % len(images)] for i in range(count)]


def write_video(path, frames, fps=10, fourcc="MJPG"):
    """frames through OpenCV's VideoWriter; skips the test where this build has no such codec."""
    import cv2
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    if not writer.isOpened():
        pytest.skip(f"OpenCV cannot write {fourcc} {Path(path).suffix} here")
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def read_video(path):
    """(frames, fps, (width, height)) as OpenCV reads the file back."""
    import cv2
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    size = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    return frames, fps, size
