"""What every command shares: Darknet's flag handling, network loading and image prompts."""
import sys

from ..cpu.threads import set_threads
from ..errors import DarknetError


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

    def value(self, name, default, kind=str):
        raw = self._take(name, True)
        if raw is None:
            return default
        try:
            return kind(raw)
        except ValueError:
            raise DarknetError(f"flag {name} expects {kind.__name__}, got '{raw}'") from None

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
    threads = args.value("-threads", None, int)
    if threads:
        set_threads(threads)
    return {"cpu_tree": args.flag("-darknet_cpu_tree"), "nogpu": args.flag("-nogpu"), "half": args.flag("-half"),
            "gpus": args.value("-gpus", None), "gpu_index": args.value("-i", None)}


def load_network(cfg, weights, flags):
    """Build the network, print Darknet's layer table to stderr, load the weights."""
    from ..layers.region import RegionLayer
    from ..network import Network
    RegionLayer.darknet_cpu_tree_layout = flags["cpu_tree"]
    net = Network.from_cfg(cfg)
    print(net.summary(), file=sys.stderr)
    if weights:
        net.load_weights(weights)
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
    timeout = args.value("-timeout", distributed.DEFAULT_TIMEOUT, float)
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
