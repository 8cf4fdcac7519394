"""`darknet-py classifier ...` (Darknet's examples/classifier.c)."""
import sys
import time

from ..cfg import read_data_cfg
from ..data import read_names
from .common import common_flags, data_path, image_paths, load_network


def predict(args):
    from ..detector import classify
    top = args.value("-t", 0, int)
    flags = common_flags(args)
    (data, cfg, weights), rest = args.positional(3, "classifier predict <data> <cfg> <weights> [image ...]")
    net = load_network(cfg, weights, flags)
    options = read_data_cfg(data)
    names = read_names(data_path(options.get("names") or options.get("labels", "data/labels.list"), data))
    top = top or int(options.get("top", 1))
    for path in image_paths(rest):
        start = time.time()
        best = classify(net, path, top)
        print(f"{path}: Predicted in {time.time() - start:f} seconds.", file=sys.stderr)
        for i, p in best:
            print(f"{p * 100:5.2f}%: {names[i] if i < len(names) else i}")
