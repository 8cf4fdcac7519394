"""`darknet-py classifier ...` (Darknet's examples/classifier.c)."""
import sys
import time

from ..cfg import data_path, read_data_cfg
from ..data.lists import read_names
from ..errors import DarknetError
from .common import common_flags, flag_device, image_paths, load_network, training_team, warn_nonfinite
from .progress import Progress


def predict(args):
    from ..detector import classify
    top = args.value("-t", 0, int, 1)
    hier = args.value("-hier", None, float, 0, 1)
    flags = common_flags(args)
    (data, cfg, weights), rest = args.positional(3, "classifier predict <data> <cfg> <weights> [image ...]")
    net = load_network(cfg, weights, flags)
    options = read_data_cfg(data)
    names = read_names(data_path(options.get("names") or options.get("labels", "data/labels.list"), data))
    top = top or options.int("top", 1, low=1)
    for path in image_paths(rest):
        start = time.time()
        best = classify(net, path, top)
        warn_nonfinite(net)
        print(f"{path}: Predicted in {time.time() - start:f} seconds.", file=sys.stderr)
        for i, p in best:
            print(f"{p * 100:5.2f}%: {names[i] if i < len(names) else i}")
        if hier is not None:
            print_hierarchy_top(net, path, names, hier)


def print_hierarchy_top(net, path, names, thresh):
    """-hier T (ours; Darknet's predict prints only top_k): the deepest WordTree node whose absolute
    probability stays above T on the greedy descent of hierarchy_top_prediction, printed as a top_k line."""
    from ..gpu.device import to_numpy
    from ..image import letterbox_image, load_image
    from ..wordtree.tree import hierarchy_predictions
    tree = getattr(net.output_layer, "tree", None)
    if tree is None:
        raise DarknetError("-hier needs a WordTree model (a [softmax] with tree=)")
    probs = to_numpy(net.forward(letterbox_image(load_image(path), net.w, net.h)[None]))[0].ravel()[:tree.n].copy()
    hierarchy_predictions(probs, tree)
    node = tree.top_prediction(probs, thresh)
    print(f"{probs[node] * 100:5.2f}%: {names[node] if node < len(names) else node} (hierarchy top, -hier {thresh:g})")


def train(args):
    """classifier train <data> <cfg> [weights] [-clear] [-max_batches N] (train_classifier; on a GPU when
    CuPy sees one, unless -nogpu)."""
    from ..train.train_classifier import train_classifier
    clear = args.flag("-clear")
    max_batches = args.value("-max_batches", None, int, 1)
    seed = args.value("-seed", None, int)
    flags = common_flags(args)
    team = training_team(args, flags, ["classifier", "train"])
    if team is None:  # the ranks it started have trained
        return
    device = flag_device(flags)
    (data, cfg), rest = args.positional(2, "classifier train <data> <cfg> [weights] [-clear] [-max_batches N]")
    with team.running(), Progress("classifier train", unit="batches") as bar:
        train_classifier(data, cfg, rest[0] if rest else None, clear, bar, max_batches=max_batches, seed=seed,
                         device=device, team=team)


def valid(args):
    """classifier valid <data> <cfg> <weights> (validate_classifier_single: top-1 / top-k over `valid`)."""
    from ..train.train_classifier import validate_classifier
    flags = common_flags(args)
    (data, cfg, weights), _ = args.positional(3, "classifier valid <data> <cfg> <weights>")
    net = load_network(cfg, weights, flags)
    with Progress("classifier valid") as bar:
        validate_classifier(data, cfg, weights, net=net, progress=bar)
