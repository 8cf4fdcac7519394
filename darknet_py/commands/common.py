"""What every command shares: Darknet's flag handling (values range-checked), outputs checked before the work,
network loading and image prompts."""
import os
import sys

from ..cpu.threads import set_threads
from ..errors import DarknetError, folder_problem, shown

KIND_NAMES = {int: "an integer", float: "a number", str: "a value"}


class Args:
    """Darknet's find_arg / find_int_arg / find_float_arg / find_char_arg: flags are removed once read."""

    def __init__(self, argv):
        self.argv = list(argv)
        self.original = list(argv)  # as given (-gpus 0,1 passes them on to the ranks it starts)

    def _take(self, name, has_value):
        if name not in self.argv:
            return None
        i = self.argv.index(name)
        if not has_value:
            del self.argv[i]
            return True
        if i + 1 >= len(self.argv):
            raise DarknetError(f"flag {name} needs a value")
        value = self.argv[i + 1]
        del self.argv[i:i + 2]
        return value

    def flag(self, name):
        return bool(self._take(name, False))

    def value(self, name, default, kind=str, low=None, high=None):
        """The value after `name` as `kind` (the default when the flag is absent); a number outside [low, high]
        (either may be None) or a NaN is refused, as Darknet's atof would take it."""
        raw = self._take(name, True)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            expects = KIND_NAMES.get(kind, kind.__name__)
            raise DarknetError(f"flag {name} expects {expects}, got '{shown(raw)}'") from None
        if (low is not None and not value >= low) or (high is not None and not value <= high):
            span = f"between {low} and {high}" if low is not None and high is not None else (
                f"at least {low}" if low is not None else f"at most {high}")
            raise DarknetError(f"flag {name} must be {span}, got {shown(raw)}")
        return value

    def fraction(self, name, default):
        """A threshold flag (-thresh, -hier, -nms, -iou): a number in [0, 1]."""
        return self.value(name, default, float, 0, 1)

    def positional(self, count, usage):
        stray = [a for a in self.argv if a.startswith("-") and len(a) > 1 and not _is_number(a)]
        if stray:
            raise DarknetError(f"unknown flag {stray[0]}")
        if len(self.argv) < count:
            raise DarknetError(f"usage: darknet-py {usage}")
        return self.argv[:count], self.argv[count:]


def _is_number(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def common_flags(args):
    """Flags every command takes; read first so they may stand anywhere (Darknet's find_arg)."""
    threads = args.value("-threads", None, int, 1)
    if threads:
        set_threads(threads)
    gpus = args.value("-gpus", None)
    if gpus is not None and not all(g.isdigit() for g in gpus.split(",")):
        raise DarknetError(f"flag -gpus expects GPU numbers separated by commas (-gpus 0,1), got '{shown(gpus)}'")
    return {"cpu_tree": args.flag("-darknet_cpu_tree"), "nogpu": args.flag("-nogpu"), "half": args.flag("-half"),
            "gpus": gpus, "gpu_index": args.value("-i", None, int, -1)}  # -i -1: the CPU, as Darknet


def check_writable(path, flag):
    """Refuse, before any work, an output file that could not be written at the end: its folder missing or
    read-only, or a folder where the file would go. '-' (stdout) is always fine."""
    if path is None or path == "-":
        return
    if os.path.isdir(path):
        raise DarknetError(f"{flag} {shown(path)} is a folder, not a file")
    folder = os.path.dirname(os.path.abspath(path))
    problem = folder_problem(folder)
    if problem:
        raise DarknetError(f"{flag} {shown(path)}: the folder {folder} {problem}")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise DarknetError(f"{flag} {shown(path)} cannot be written (permission denied)")


def check_names(names, classes, path):
    """A names file must name every class the network has (drawing and -json look each one up)."""
    if len(names) < classes:
        raise DarknetError(f"{path}: {len(names)} names, but the network has {classes} classes")


_warned = set()  # the networks warn_nonfinite has warned about


def warn_nonfinite(net):
    """One warning per network whose output holds NaN or inf, naming the first layer that produced it."""
    if id(net) in _warned:
        return
    i = net.first_nonfinite_layer()
    if i is not None:
        _warned.add(id(net))
        layer = net.layers[i]
        where = f" ({layer.section.path}:{layer.section.line})" if layer.section is not None else ""
        print(f"darknet-py: warning: layer {i} [{layer.type}]{where} output NaN or inf: the weights or the input "
              f"are broken, and so are the results", file=sys.stderr)


def load_network(cfg, weights, flags):
    """Build the network, load the weights, print Darknet's layer table to stderr (after the weights, so that
    a bad file gives its one error line alone)."""
    from ..layers.region import RegionLayer
    from ..network import Network
    RegionLayer.darknet_cpu_tree_layout = flags["cpu_tree"]
    net = Network.from_cfg(cfg)
    net.load_weights(weights)
    print(net.summary(), file=sys.stderr)
    device = flag_device(flags)
    if flags["half"] and device == "cpu":
        print("-half: no GPU, running float32 on the CPU", file=sys.stderr)
    return net.to(device, half=flags["half"])


def training_team(args, flags, command):
    """The data-parallel team of `detector train` / `classifier train` (train/data_parallel.py): -sync
    allreduce|darknet, -timeout S (a rank waiting longer in a collective ends the job). With -gpus listing
    several GPUs outside mpirun, this process starts one rank per GPU under mpirun, waits for them and
    returns None; in a rank, -gpus is narrowed to that rank's GPU."""
    from ..train import data_parallel, distributed
    sync = args.value("-sync", data_parallel.ALLREDUCE)
    timeout = args.value("-timeout", distributed.DEFAULT_TIMEOUT, float, 0)
    gpus = flags["gpus"]
    if distributed.should_launch(gpus):
        distributed.launch(len(distributed.gpu_list(gpus)), command + args.original)
        return None
    flags["gpus"] = distributed.rank_gpu(gpus)
    return data_parallel.team(sync, timeout)


def flag_device(flags):
    """The device the flags ask for: a GPU when CuPy sees one, unless -nogpu (-i N / -gpus pick it)."""
    from ..gpu.device import device_from_flags
    return device_from_flags(flags["nogpu"], flags["gpus"], flags["gpu_index"])


def image_paths(rest):
    """The images named on the command line, or Darknet's prompt (one path per line) when none are."""
    if rest:
        yield from rest
        return
    while True:
        try:
            path = input("Enter Image Path: ")
        except EOFError:
            return
        if path.strip():
            yield path.strip()
