"""Small commands: `partial`, `weights get`, `data get`."""
import sys

from ..errors import DarknetError, shown
from .common import check_writable
from .progress import Progress


def partial(args):
    from ..network import Network
    (cfg, weights, out, count), _ = args.positional(4, "partial <cfg> <weights> <out> <layers>")
    net = Network.from_cfg(cfg)
    try:
        cutoff = int(count)
    except ValueError:
        raise DarknetError(f"partial: layer count must be an integer, got '{shown(count)}'") from None
    if cutoff < 1:  # a negative count would slice from the end in Python (Darknet: an empty copy)
        raise DarknetError(f"partial: layer count must be at least 1, got {cutoff}")
    check_writable(out, "partial: output")
    net.load_weights(weights, cutoff=cutoff, allow_partial=True)
    net.seen = 0  # load_network(..., clear=1)
    net.save_weights(out, cutoff=cutoff)
    print(f"Saving weights to {out}", file=sys.stderr)


def weights_get(args):
    from ..data.assets import get_weights
    dest = args.value("-dest", "weights")
    (name,), _ = args.positional(1, "weights get <name>")
    with Progress(f"weights get {shown(name)}", unit="B") as bar:
        path = get_weights(name, dest, progress=bar)
    print(path)


def data_get(args):
    from ..data.assets import fetch_data
    dest = args.value("-dest", "data")
    for path in fetch_data(dest):
        print(path)

