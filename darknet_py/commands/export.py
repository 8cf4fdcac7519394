"""`darknet-py export onnx <cfg> <weights> <out.onnx>`: the network as an ONNX model (darknet_py/export)."""
import os
import sys

from ..errors import DarknetError

USAGE = ("export onnx <cfg> <weights> <out.onnx> [-size WxH] [-batch N|dynamic] [-decode] [-thresh .5] "
         "[-nms .45] [-names file]")


def onnx(args):
    size = args.value("-size", None)
    batch = args.value("-batch", "1")
    decode = args.flag("-decode")
    thresh = args.value("-thresh", .5, float)
    nms = args.value("-nms", .45, float)
    names_file = args.value("-names", None)
    (cfg, weights, out), _ = args.positional(3, USAGE)
    try:
        from ..export.onnx import export_onnx
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("onnx"):
            raise
        raise DarknetError("export onnx needs the onnx package: pip install darknet-py[export]") from None
    from ..data.lists import read_names
    from ..network import Network
    net = Network.from_cfg(cfg)
    net.load_weights(weights)
    if size is not None:
        net.resize(*parse_size(size))
    names = read_names(names_file) if names_file else None
    export_onnx(net, out, parse_batch(batch), decode, thresh, nms, names)
    print(f"{out}: {net.w}x{net.h}, batch {batch}{', decoded' if decode else ''}, "
          f"{os.path.getsize(out) / 2**20:.1f} MiB", file=sys.stderr)


def parse_size(text):
    """-size WxH -> (w, h)."""
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 1 or int(h) < 1:
        raise DarknetError(f"-size expects WxH (e.g. 608x608), got '{text}'")
    return int(w), int(h)


def parse_batch(text):
    if text == "dynamic":
        return text
    if not text.isdigit() or int(text) < 1:
        raise DarknetError(f"-batch expects a positive integer or 'dynamic', got '{text}'")
    return int(text)
