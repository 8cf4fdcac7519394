"""The .weights format: both headers, round trips, Darknet reading ours, and files that don't fit."""
import errno
import os
import shutil
import subprocess

import numpy as np
import pytest

import darknet_py as dn
import oracle
from conftest import SHARED, darknet_cfg, needs_oracle, project_cfg
from darknet_py import cli
from darknet_py import weights as weights_module
from darknet_py.errors import WeightsError
from darknet_py.network import Network
from darknet_py.train.sgd import update_network

TINY = SHARED / "weights" / "tiny.weights"


def test_round_trip_is_byte_identical(tmp_path, random_weights):
    first = random_weights(darknet_cfg("yolov2-tiny"))
    again = tmp_path / "again.weights"
    Network.from_cfg(darknet_cfg("yolov2-tiny")).load_weights(first).save_weights(again)
    assert again.read_bytes() == first.read_bytes()


@needs_oracle
def test_darknet_saves_what_we_save(tmp_path, random_weights):
    cfg = darknet_cfg("yolov2")
    ours = random_weights(cfg)
    theirs = tmp_path / "theirs.weights"
    oracle.save_weights(cfg, ours, theirs)
    assert theirs.read_bytes() == ours.read_bytes()


def test_old_header_with_32_bit_seen():
    """tiny.weights is version 0.1.0: a 4-byte seen (16-byte header)."""
    if not TINY.exists():
        pytest.skip("tiny.weights not found")
    net = Network.from_cfg(project_cfg("tiny")).load_weights(TINY)
    assert net.weights_version == (0, 1, 0) and net.seen == 204800000


@needs_oracle
def test_old_header_saved_in_darknets_new_form(tmp_path):
    """Loading a 0.1 file and saving gives exactly what Darknet's own save gives (0.2.0, 8-byte seen)."""
    if not TINY.exists():
        pytest.skip("tiny.weights not found")
    ours, theirs = tmp_path / "ours.weights", tmp_path / "theirs.weights"
    Network.from_cfg(project_cfg("tiny")).load_weights(TINY).save_weights(ours)
    oracle.save_weights(darknet_cfg("tiny"), TINY, theirs)
    assert ours.read_bytes() == theirs.read_bytes()
    assert ours.stat().st_size == TINY.stat().st_size + 4


@pytest.mark.parametrize("cut", [1, 4, 1000])
def test_truncated_file_states_sizes(tmp_path, random_weights, cut):
    good = random_weights(darknet_cfg("yolov2-tiny")).read_bytes()
    bad = tmp_path / "short.weights"
    bad.write_bytes(good[:-cut])
    with pytest.raises(WeightsError, match=f"expected {len(good)} bytes .* got {len(good) - cut}"):
        Network.from_cfg(darknet_cfg("yolov2-tiny")).load_weights(bad)


def test_too_long_file_is_an_error(tmp_path, random_weights):
    good = random_weights(darknet_cfg("yolov2-tiny")).read_bytes()
    bad = tmp_path / "long.weights"
    bad.write_bytes(good + b"\0" * 8)
    with pytest.raises(WeightsError, match=f"got {len(good) + 8}"):
        Network.from_cfg(darknet_cfg("yolov2-tiny")).load_weights(bad)


def test_four_byte_header_confusion_is_caught(tmp_path, random_weights):
    """A 0.2 header claiming an 8-byte seen on a file written with a 4-byte one: caught, and explained."""
    good = random_weights(darknet_cfg("yolov2-tiny")).read_bytes()
    bad = tmp_path / "confused.weights"
    bad.write_bytes(good[:16] + good[20:])  # header says 0.2.0 but seen is 4 bytes
    with pytest.raises(WeightsError, match="4 bytes off"):
        Network.from_cfg(darknet_cfg("yolov2-tiny")).load_weights(bad)


def test_garbage_header(tmp_path):
    bad = tmp_path / "tiny.weights"
    bad.write_bytes(b"\1\2\3")
    with pytest.raises(WeightsError, match="too short"):
        Network.from_cfg(darknet_cfg("yolov2-tiny")).load_weights(bad)


def test_partial_keeps_first_layers_and_resets_seen(tmp_path, random_weights):
    full = random_weights(darknet_cfg("yolov2-tiny"))
    out = tmp_path / "first8.weights"
    assert cli.main(["partial", str(darknet_cfg("yolov2-tiny")), str(full), str(out), "8"]) == 0
    part = Network.from_cfg(darknet_cfg("yolov2-tiny"))
    assert part.load_weights(out, allow_partial=True) is part and part.seen == 0
    whole = Network.from_cfg(darknet_cfg("yolov2-tiny")).load_weights(full)
    for a, b in zip(part.layers[:8], whole.layers[:8]):
        if hasattr(a, "weights"):
            np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.array_equal(part.layers[13].weights, whole.layers[13].weights)
    with pytest.raises(WeightsError):  # a backbone is not a whole network
        Network.from_cfg(darknet_cfg("yolov2-tiny")).load_weights(out)


def test_partial_file_ending_mid_layer_is_refused(tmp_path, random_weights):
    full = random_weights(darknet_cfg("yolov2-tiny")).read_bytes()
    bad = tmp_path / "mid.weights"
    bad.write_bytes(full[:20 + 4 * 100])
    with pytest.raises(WeightsError, match="expected"):
        Network.from_cfg(darknet_cfg("yolov2-tiny")).load_weights(bad, allow_partial=True)


def test_transposed_connected_weights(tmp_path):
    """Version numbers above 1000 mean connected weights are stored transposed (Darknet's transpose flag)."""
    cfg = tmp_path / "fc.cfg"
    cfg.write_text("[net]\nwidth=2\nheight=2\nchannels=3\n[connected]\noutput=5\nactivation=linear\n")
    net = Network.from_cfg(cfg)
    w = np.arange(5 * 12, dtype=np.float32).reshape(5, 12)
    path = tmp_path / "t.weights"
    with open(path, "wb") as f:
        np.asarray([0, 1001, 0], "<i4").tofile(f)
        np.asarray([0], "<i4").tofile(f)      # 0*10+1001 >= 2 but minor >= 1000: 4-byte seen
        np.zeros(5, "<f4").tofile(f)
        w.T.astype("<f4").tofile(f)
    net.load_weights(path)
    np.testing.assert_array_equal(net.layers[0].weights, w)


def test_per_layer_load_options(tmp_path, random_weights):
    """dontload skips a layer in the file, dontloadscales reads no batchnorm values, numload the first filters;
    saving still writes every layer whole (save_convolutional_weights)."""
    full = Network.from_cfg(darknet_cfg("yolov2-tiny")).load_weights(random_weights(darknet_cfg("yolov2-tiny")))
    cfg = tmp_path / "net.cfg"
    cfg.write_text("[net]\nwidth=8\nheight=8\nchannels=3\n"
                   "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\npad=1\nactivation=leaky\n"
                   "[convolutional]\nfilters=6\nsize=1\nactivation=linear\n")
    source = Network.from_cfg(cfg)
    for layer in source.layers:
        layer.weights[...] = np.arange(layer.weights.size).reshape(layer.weights.shape)
        layer.biases[...] = 7
    plain = tmp_path / "plain.weights"
    source.save_weights(plain)
    assert plain.stat().st_size == 20 + 4 * (4 * 4 + 4 * 27 + 6 + 6 * 4)
    cut = tmp_path / "cut.weights"
    cut.write_bytes(plain.read_bytes()[:20] + plain.read_bytes()[20 + 4 * 4 * 4 + 4 * 4 * 27:])
    skipping = Network.from_cfg(cfg)
    skipping.layers[0].dontload = 1
    skipping.load_weights(cut)
    np.testing.assert_array_equal(skipping.layers[1].weights, source.layers[1].weights)
    assert skipping.layers[0].biases[0] == 0
    no_scales = tmp_path / "noscales.weights"
    data = plain.read_bytes()
    no_scales.write_bytes(data[:20 + 16] + data[20 + 16 * 4:])
    reader = Network.from_cfg(cfg)
    reader.layers[0].dontloadscales = 1
    reader.load_weights(no_scales)
    np.testing.assert_array_equal(reader.layers[0].weights, source.layers[0].weights)
    np.testing.assert_array_equal(reader.layers[0].scales, 1)
    again = tmp_path / "again.weights"
    reader.save_weights(again)
    assert again.stat().st_size == plain.stat().st_size
    assert full.layers[0].dontload == 0


def test_stopbackward_and_layer_learning_rate(tmp_path):
    cfg = tmp_path / "net.cfg"
    cfg.write_text("[net]\nwidth=4\nheight=4\nchannels=1\nlearning_rate=.1\n"
                   "[convolutional]\nfilters=2\nsize=3\npad=1\nactivation=linear\nstopbackward=1\n"
                   "[convolutional]\nfilters=1\nsize=1\nactivation=linear\nlearning_rate=0\n"
                   "[connected]\noutput=2\nactivation=linear\n[cost]\n")
    net = Network.from_cfg(cfg)
    before = [layer.weights.copy() for layer in net.layers[:3]]
    x = np.random.default_rng(0).random((2, 1, 4, 4), dtype=np.float32)
    net.forward(x, train=True, truth=np.ones((2, 2), np.float32))
    net.backward()
    update_network(net, .1, .9, .0005, 2)
    # stopbackward: no gradient reached it, only the weight decay every layer takes (lr * decay)
    np.testing.assert_allclose(net.layers[0].weights, before[0] * (1 - .1 * .0005), rtol=1e-6)
    assert np.array_equal(net.layers[1].weights, before[1])   # learning_rate=0 in its section
    assert not np.array_equal(net.layers[2].weights, before[2])


def test_nonfinite_values_are_refused_unless_asked(tmp_path, random_weights):
    """A diverged run's file (NaN, inf) is refused with the first layer and the count; allow_nonfinite loads it
    for inspection; huge but finite values load."""
    cfg = project_cfg("yolov2-tiny")
    net = Network.from_cfg(cfg).load_weights(random_weights(darknet_cfg("yolov2-tiny")))
    net.layers[4].weights.reshape(-1)[:3] = [np.nan, np.inf, 3e38]
    net.layers[13].biases[0] = -np.inf
    net.save_weights(tmp_path / "diverged.weights")
    message = r"diverged\.weights: 3 NaN or infinite values, the first 2 in layer 4 \(convolutional\)"
    with pytest.raises(WeightsError, match=message):
        dn.load(cfg, tmp_path / "diverged.weights", device="cpu")
    inspected = dn.load(cfg, tmp_path / "diverged.weights", device="cpu", allow_nonfinite=True)
    assert np.isnan(inspected.layers[4].weights).sum() == 1 and inspected.layers[4].weights.reshape(-1)[2] == 3e38
    inspected.layers[4].weights.reshape(-1)[:2] = 0
    inspected.layers[13].biases[0] = 0
    inspected.save_weights(tmp_path / "huge.weights")
    assert Network.from_cfg(cfg).load_weights(tmp_path / "huge.weights").layers[4].weights.max() == np.float32(3e38)


def test_full_disk_names_the_path_and_leaves_no_file(tmp_path, monkeypatch):
    """A failed write (a full disk: ENOSPC, here from a stand-in) is an error with the path and the reason; the
    temp file goes and an older file under the real name stays whole."""
    net = Network.from_cfg(project_cfg("tiny"))
    path = tmp_path / "w.weights"
    net.save_weights(path)
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(weights_module.os, "fsync", full)
    with pytest.raises(WeightsError, match=rf"{path}: cannot write weights: No space left on device$"):
        net.save_weights(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["w.weights"]


@pytest.mark.skipif(shutil.which("darknet") is None, reason="the original Darknet is not installed")
def test_partial_of_darknet53_is_darknet53_conv_74(tmp_path, random_weights):
    """`partial cfg/darknet53.cfg darknet53.weights darknet53.conv.74 74`: the file /usr/bin/darknet's partial
    writes, byte for byte, of the size pjreddie's darknet53.conv.74 has, and the first 74 layers of YOLOv3."""
    full = random_weights(project_cfg("darknet53"))
    ours, theirs = tmp_path / "ours.conv.74", tmp_path / "darknet53.conv.74"
    assert cli.main(["partial", str(project_cfg("darknet53")), str(full), str(ours), "74"]) == 0
    subprocess.run(["darknet", "partial", str(darknet_cfg("darknet53")), str(full), str(theirs), "74"],
                   capture_output=True, check=True)
    assert ours.read_bytes() == theirs.read_bytes()
    assert ours.stat().st_size == 162482580
    yolo = Network.from_cfg(project_cfg("yolov3"))
    assert yolo.load_weights(ours, allow_partial=True).seen == 0
    donor = Network.from_cfg(project_cfg("darknet53")).load_weights(full)
    for a, b in zip(yolo.layers[:74], donor.layers[:74]):
        assert a.type == b.type
        if a.type == "convolutional":
            np.testing.assert_array_equal(a.weights, b.weights)
