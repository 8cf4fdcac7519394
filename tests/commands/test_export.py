"""`darknet-py export onnx`: flags, the file it writes, one-line errors."""
import sys

import pytest
from conftest import ROOT, conv, project_cfg, section

from darknet_py.cli import main as cli_main

onnx = pytest.importorskip("onnx")


def main(argv):
    return cli_main([str(a) for a in argv])


def test_export_onnx_writes_the_model(tmp_path, random_weights, capsys):
    weights = random_weights(project_cfg("yolov2-tiny-voc"), seed=2)
    out = tmp_path / "voc.onnx"
    assert main(["export", "onnx", project_cfg("yolov2-tiny-voc"), weights, out, "-size", "320x256",
                 "-batch", "dynamic", "-decode", "-thresh", ".3", "-names", ROOT / "data" / "voc.names"]) == 0
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["images", "image_size"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, 256, 320]
    assert [o.name for o in model.graph.output] == ["detections"]
    props = {p.key: p.value for p in model.metadata_props}
    assert '"thresh": 0.3' in props["decode"] and '"aeroplane"' in props["names"]
    assert "320x256, batch dynamic, decoded" in capsys.readouterr().err


REORG_CFG = section("net", width=16, height=16, channels=3) + conv(4, 3, 2) + section("reorg", stride=2)


@pytest.mark.parametrize("flags,message", [
    (["-size", "320"], "-size expects WxH (e.g. 608x608), got '320'"),
    (["-batch", "0"], "-batch expects a positive integer or 'dynamic', got '0'"),
    (["-size", "30x30"], "reorg /2 needs width and height divisible by 2, got 15x15"),
])
def test_bad_flags_are_one_line_errors(tmp_path, random_weights, capsys, flags, message):
    cfg = tmp_path / "reorg.cfg"
    cfg.write_text(REORG_CFG)
    weights = random_weights(cfg, seed=2)
    assert main(["export", "onnx", cfg, weights, tmp_path / "m.onnx", *flags]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_without_onnx_the_extra_is_named(tmp_path, random_weights, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx fails as if it were not installed
    monkeypatch.delitem(sys.modules, "darknet_py.export.onnx", raising=False)
    monkeypatch.delitem(sys.modules, "darknet_py.export.graph", raising=False)
    monkeypatch.delitem(sys.modules, "darknet_py.export.layers", raising=False)
    monkeypatch.delitem(sys.modules, "darknet_py.export.decode", raising=False)
    weights = random_weights(project_cfg("tiny"), seed=2)
    assert main(["export", "onnx", project_cfg("tiny"), weights, tmp_path / "m.onnx"]) == 1
    assert "pip install darknet-py[export]" in capsys.readouterr().err
