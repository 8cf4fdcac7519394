"""The cfg parser: Darknet's syntax and defaults, and one-line errors with file:line for bad input."""
import subprocess
import sys

import pytest

from conftest import DARKNET_CFG, ROOT
from darknet_py.cfg import parse_cfg, read_data_cfg
from darknet_py.errors import CfgError
from darknet_py.network import Network

HEAD = "[net]\nwidth=32\nheight=32\nchannels=3\n"


def build(tmp_path, text):
    path = tmp_path / "t.cfg"
    path.write_text(text)
    return Network.from_cfg(path), path


def test_aliases_comments_whitespace_and_defaults(tmp_path):
    net, _ = build(tmp_path, "# a comment\n[network]\n width = 32 \nheight=32\n; another\nchannels=3\n\n"
                             "[conv]\nfilters=4\n[max]\n[avg]\n[conn]\noutput = 7\n[soft]\n")
    conv, pool, avg, fc, soft = net.layers
    assert conv.activation == "logistic" and conv.size == 1 and conv.padding == 0  # Darknet's defaults
    assert pool.size == pool.stride == 1 and pool.padding == 0                      # size=stride, padding=size-1
    assert fc.activation == "logistic" and fc.out_shape == (7, 1, 1)
    assert [layer.type for layer in net.layers] == ["convolutional", "maxpool", "avgpool", "connected", "softmax"]


def test_pad_means_half_the_kernel(tmp_path):
    net, _ = build(tmp_path, HEAD + "[convolutional]\nsize=1\npad=1\nfilters=2\n[convolutional]\nsize=5\npad=1\n")
    assert net.layers[0].padding == 0 and net.layers[1].padding == 2


def test_maxpool_odd_and_stride_one(tmp_path):
    net, _ = build(tmp_path, "[net]\nwidth=13\nheight=13\nchannels=2\n[maxpool]\nsize=2\nstride=2\n[maxpool]\nsize=2\nstride=1\n")
    assert net.layers[0].out_shape == (2, 7, 7) and net.layers[1].out_shape == (2, 7, 7)


@pytest.mark.parametrize("text,line,message", [
    (HEAD + "[convolutional]\nfilters=4\n[lstm]\n", 7, "not supported"),
    (HEAD + "[convolutional]\nfilters=4\n[yolo]\n", 7, "input channels"),
    (HEAD + "[convolutional]\nfilters=4\n[yolo]\nmask=0,3\nnum=3\n", 8, "mask"),
    (HEAD + "[convolutional]\nfilters=4\n[upsample]\nstride=-3\n", 7, "downsample needs"),
    (HEAD + "[local]\nsize=5\npad=1\n", 5, "size=3"),
    (HEAD + "[crop]\ncrop_width=40\ncrop_height=20\n", 5, "does not fit"),
    (HEAD + "[convolutional]\nfilters=4\n[conv2d]\n", 7, "unknown section"),
    (HEAD + "[convolutional]\nfilters 4\n", 6, "key=value"),
    (HEAD + "[convolutional]\nfilters=four\n", 6, "must be an integer"),
    (HEAD + "[convolutional]\nactivation=swish\n", 6, "unknown activation"),
    (HEAD + "[convolutional]\nfilters=2\n[route]\nlayers=-3\n", 8, "out of range"),
    (HEAD + "[convolutional]\nfilters=2\n[route]\nlayers=1\n", 8, "out of range"),
    (HEAD + "[convolutional]\nsize=64\n", 5, "cannot take"),
    (HEAD + "[convolutional]\nfilters=2\n[maxpool]\nsize=2\nstride=2\n[route]\nlayers=-1,-2\n", 10, "cannot join"),
    (HEAD + "[convolutional]\nfilters=10\n[region]\nclasses=1\nnum=5\n", 7, "input channels"),
    (HEAD + "[reorg]\nstride=3\n", 5, "divisible"),
    ("width=3\n[net]\n", 1, "before the first"),
    ("[convolutional]\nfilters=1\n", 1, "first section must be"),
    ("[net]\nwidth=0\nheight=2\nchannels=3\n[convolutional]\n", 2, "positive width"),  # the width= line
    ("[net\n", 1, "malformed section"),
])
def test_bad_cfg_names_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "t.cfg"
    path.write_text(text)
    with pytest.raises(CfgError, match=message) as e:
        Network.from_cfg(path)
    assert str(e.value).startswith(f"{path}:{line}: ") and "\n" not in str(e.value)


def test_unknown_option_is_a_warning(tmp_path, capsys):
    build(tmp_path, HEAD + "[convolutional]\nfilters=2\nfliters=3\n")
    assert "t.cfg:7: Unused field: 'fliters = 3'" in capsys.readouterr().err


def test_command_line_error_is_one_line_and_nonzero(tmp_path):
    path = tmp_path / "bad.cfg"
    path.write_text(HEAD + "[convolutional]\nsize=x\n")
    res = subprocess.run([sys.executable, "-m", "darknet_py", "detector", "test", str(ROOT / "cfg/coco.data"),
                          str(path), "none.weights", "x.jpg"], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1] == f"darknet-py: error: {path}:6: option 'size' of [convolutional] must be an integer, got 'x'"
    assert "Traceback" not in res.stderr


def test_missing_cfg_file(tmp_path):
    with pytest.raises(CfgError, match="cannot read"):
        parse_cfg(tmp_path / "nope.cfg")


def test_data_file(tmp_path):
    path = tmp_path / "x.data"
    path.write_text("classes= 80\n# comment\nnames = data/coco.names\n")
    assert read_data_cfg(path) == {"classes": "80", "names": "data/coco.names"}


YOLO_FAMILY = ["yolov2", "yolov2-tiny", "yolov2-voc", "yolov2-tiny-voc", "yolo9000", "darknet19", "darknet19_448",
               "tiny", "yolov1", "yolov1-tiny", "darknet", "extraction", "darknet9000"]


@pytest.mark.parametrize("name", YOLO_FAMILY)
def test_original_cfgs_parse(name):
    """Every YOLOv2/YOLO9000/Darknet-19/tiny-era cfg Debian ships builds (yolov1 too, except its [detection] layer)."""
    path = DARKNET_CFG / f"{name}.cfg"
    if not path.exists():
        pytest.skip(f"{path} not installed")
    try:
        Network.from_cfg(path)
    except CfgError as e:
        assert name.startswith("yolov1") and "[detection]" in str(e) or "[local]" in str(e)
