"""Our cfg/ files build the networks of the originals, and print Darknet's layer table."""
import shutil
import subprocess

import numpy as np
import pytest

from conftest import DARKNET_CFG, ROOT, darknet_cfg, project_cfg
from darknet_py.network import Network

NAMES = ["yolov2", "yolov2-tiny", "yolov2-voc", "yolov2-tiny-voc", "yolo9000", "darknet19", "darknet19_448", "tiny",
         "yolov3", "yolov3-spp", "yolov3-tiny", "darknet53", "yolov1", "yolov1-tiny"]
PARAMS = {"yolov2": 50.98e6, "yolov2-tiny": 11.24e6, "yolov2-voc": 50.68e6, "yolov2-tiny-voc": 15.87e6,
          "yolo9000": 48.81e6}  # darknet-facts.md 3.11


def parameter_count(net):
    return sum(a.size for layer in net.layers for a in
               (getattr(layer, k, None) for k in ("weights", "biases", "scales")) if a is not None)


@pytest.mark.parametrize("name", NAMES)
def test_project_cfg_builds_the_original_network(name):
    if not darknet_cfg(name).exists():
        pytest.skip("original cfgs not installed")
    ours, theirs = Network.from_cfg(project_cfg(name)), Network.from_cfg(darknet_cfg(name))
    assert [(l.type, l.in_shape, l.out_shape) for l in ours.layers] == \
           [(l.type, l.in_shape, l.out_shape) for l in theirs.layers]
    assert parameter_count(ours) == parameter_count(theirs)
    if name in PARAMS:
        assert parameter_count(ours) == pytest.approx(PARAMS[name], rel=2e-3)


@pytest.mark.parametrize("name,size,bflops", [("yolov2", 416, 29.46), ("yolov2", 608, 62.94),
                                              ("yolov2-tiny", 416, 5.41), ("yolo9000", 544, 49.06)])
def test_bflops_as_darknet_counts_them(name, size, bflops):
    net = Network.from_cfg(project_cfg(name))
    net.resize(size, size)
    assert round(net.bflops, 2) == pytest.approx(bflops, abs=0.011)


@pytest.mark.skipif(shutil.which("darknet") is None, reason="the original Darknet is not installed")
@pytest.mark.parametrize("name", NAMES)
def test_layer_table_equals_darknets(name):
    res = subprocess.run(["darknet", "detector", "test", str(DARKNET_CFG / "coco.data"), str(darknet_cfg(name))],
                         input="", capture_output=True, text=True, cwd=ROOT)
    table = [line for line in res.stderr.splitlines() if line.startswith("layer ") or line[:5].strip().isdigit()]
    assert Network.from_cfg(project_cfg(name)).summary().splitlines() == table


def test_resize_to_every_multiple_of_32():
    net = Network.from_cfg(project_cfg("yolov2"))
    for w, h in [(288, 288), (320, 608), (608, 352)]:
        net.resize(w, h)
        assert net.layers[-1].out_shape == (425, h // 32, w // 32)


def test_resize_that_changes_a_connected_input_is_refused(tmp_path):
    """Darknet's resize_network refuses [connected] ("Cannot resize this type of layer"): its weights fix the
    input size. The network stays as it was; a connected after a global avgpool resizes fine."""
    from darknet_py.errors import CfgError
    head = "[net]\nwidth=16\nheight=16\nchannels=3\n[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\n"
    (tmp_path / "flat.cfg").write_text(head + "[connected]\noutput=5\n")
    (tmp_path / "pooled.cfg").write_text(head + "[avgpool]\n[connected]\noutput=5\n")
    net = Network.from_cfg(tmp_path / "flat.cfg")
    with pytest.raises(CfgError, match=r"flat\.cfg:10: cannot resize: \[connected\] takes 1024 inputs, the new "
                                       r"size gives it 32x32x4 = 4096"):
        net.resize(32, 32)
    assert (net.w, net.h, net.layers[0].out_shape) == (16, 16, (4, 16, 16))
    assert net.forward(np.zeros((1, 3, 16, 16), np.float32)).shape == (1, 5, 1, 1)
    pooled = Network.from_cfg(tmp_path / "pooled.cfg")
    pooled.resize(32, 32)
    assert pooled.forward(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 5, 1, 1)
