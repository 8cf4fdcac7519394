"""video/average.py: demo.c's average of the detection layers' outputs over its last frames, from zeroed slots."""
from types import SimpleNamespace

import numpy as np

from darknet_py.video.average import FrameAverage

F32 = np.float32


def network(*outputs):
    """A stand-in with a conv layer (not averaged) and region layers holding the given (batch, ...) outputs."""
    conv = SimpleNamespace(type="convolutional", output=np.ones((len(outputs[0]), 4), F32))
    return SimpleNamespace(layers=[conv] + [SimpleNamespace(type="region", output=np.array(o, F32)) for o in outputs])


def demo_c(frames, window=3):
    """remember_network + avg_predictions as demo.c computes them, frame by frame, in float32."""
    slots = [np.zeros_like(frames[0]) for _ in range(window)]
    out = []
    for n, f in enumerate(frames):
        slots[n % window] = f
        avg = np.zeros_like(f)
        for s in slots:  # fill_cpu, then axpy_cpu(1./demo_frame) slot by slot
            avg += F32(1. / window) * s
        out.append(avg)
    return out


def test_three_frames_from_zeroed_slots_in_slot_order():
    rng = np.random.default_rng(0)
    frames = [rng.random(6, dtype=F32) for _ in range(7)]
    average = FrameAverage()
    got = []
    for f in frames:
        net = network([f], [2 * f])
        average(net)
        got.append(net.layers[1].output[0])
        np.testing.assert_array_equal(net.layers[2].output[0], demo_c([2 * g for g in frames[:len(got)]])[-1])
        assert (net.layers[0].output == 1).all()
    assert all(np.array_equal(a, b) for a, b in zip(got, demo_c(frames)))  # bit for bit
    np.testing.assert_allclose(got[0], frames[0] / 3, rtol=1e-6)  # the first frame: a third of its output


def test_a_batch_is_frames_in_order():
    rng = np.random.default_rng(1)
    frames = rng.random((5, 6), dtype=F32)
    net = network(frames.copy())
    FrameAverage(2)(net)
    assert all(np.array_equal(a, b) for a, b in zip(net.layers[1].output, demo_c(list(frames), 2)))


def test_one_frame_is_no_average():
    frames = np.random.default_rng(2).random((3, 6), dtype=F32)
    net = network(frames.copy())
    FrameAverage(1)(net)
    np.testing.assert_array_equal(net.layers[1].output, frames)
