"""The package's rooms and the direction of its imports, read from the code itself (README: How it is built).

Every module has a rank; a module imports only modules of its own rank or below, so imports run downward:
the command line, then the jobs (detect, train, evaluate), the loaders, the engine that builds and runs a
network, the fast paths that run its layers, the layers, the math they share, and where arrays live.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "darknet_py"

# (rank, module prefixes): the most specific prefix names a module's rank.
RANKS = (
    (0, ["errors"]),
    (1, ["gpu", "gpu.device", "cpu", "cpu.threads", "cpu.heap", "cpu.blas", "cpu.blas_env",
         "cpu.jit"]),                                                 # where arrays live
    (2, ["wordtree", "wordtree.tree", "boxes", "image", "cpu.letterbox", "cpu.nms",
         "layers.activations"]),                                      # tree.c, box.c, image.c, activations.c
    (3, ["layers"]),                                                  # one file per layer type
    (4, ["cpu.engine", "cpu.conv", "cpu.winograd", "cpu.compiled", "cpu.winograd_kernels", "cpu.epilogue", "cpu.tune",
         "gpu.plan", "gpu.train", "gpu.engine"]),                     # fast paths
    (5, ["cfg", "weights", "network"]),                               # the engine
    (6, ["data"]),                                                    # what training and evaluation read
    (7, ["detector", "train", "eval", "wordtree.builder", "data.assets", "export", "video",
         "train.distributed", "train.data_parallel"]),                 # the jobs; ranks of a data-parallel job
    (8, ["commands", "cli"]),                                         # the command line
    (9, ["", "__main__"]),                                            # the public API, python -m darknet_py
)
TOP_LEVEL_LIMIT = 8  # modules directly in darknet_py/ besides __init__ and __main__


def modules():
    """{dotted name relative to darknet_py ('' for the package): path}."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name, path, known):
    """The package modules `name` imports (relative and absolute, at any depth of the file)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module == "darknet_py" or (node.module or "").startswith("darknet_py."):
                target = node.module[len("darknet_py."):] if node.module != "darknet_py" else ""
            else:
                continue
            submodules = {f"{target}.{a.name}".strip(".") for a in node.names} & known
            targets |= submodules or {target}
        elif isinstance(node, ast.Import):
            targets |= {a.name[len("darknet_py."):] for a in node.names if a.name.startswith("darknet_py.")}
    targets.discard(name)
    return targets & known


def rank(name):
    best = None
    for value, prefixes in RANKS:
        for prefix in prefixes:
            if name == prefix or (prefix and name.startswith(prefix + ".")) or (prefix == "" and name == ""):
                if best is None or len(prefix) > len(best[1]):
                    best = (value, prefix)
    assert best is not None, f"darknet_py.{name} has no rank in tests/test_architecture.py"
    return best[0]


GRAPH = {name: imports(name, path, set(modules())) for name, path in modules().items()}


def test_every_module_has_a_rank():
    for name in GRAPH:
        rank(name)


def test_imports_run_downward():
    upward = [f"darknet_py.{a} (rank {rank(a)}) imports darknet_py.{b} (rank {rank(b)})"
              for a, targets in GRAPH.items() for b in targets if rank(b) > rank(a)]
    assert not upward, "\n".join(sorted(upward))


def test_no_import_circles():
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(GRAPH[node]):
            if state.get(target) == "open":
                circle = stack[stack.index(target):] + [target]
                raise AssertionError("import circle: " + " -> ".join(f"darknet_py.{m}" for m in circle))
            if target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


def test_only_the_command_line_imports_the_command_line():
    for name, targets in GRAPH.items():
        if rank(name) < 8:
            assert not {t for t in targets if t == "cli" or t.split(".")[0] == "commands"}, name


def test_layers_do_not_import_the_trainer():
    for name, targets in GRAPH.items():
        if name.startswith("layers"):
            assert not {t for t in targets if t.split(".")[0] == "train"}, name


def test_few_modules_at_the_top():
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert len(top) <= TOP_LEVEL_LIMIT, top
