"""`darknet-py wordtree build|merge ...`: a WordTree from a concept graph (wordtree/builder.py, the paper's
section 4). <graph> lines are 'concept parent1 parent2 ...', <labels> one concept a line."""
import sys

from ..wordtree.builder import write_wordtree

BUILD_USAGE = "wordtree build <graph> <labels> <out.tree> [-names out.names] [-keep_roots]"
MERGE_USAGE = ("wordtree merge <graph> <labels1> <labels2> <out.tree> <out1.map> <out2.map> "
               "[-names out.names] [-keep_roots]")


def build(args):
    """One dataset's labels: the .tree (and -names: each node's concept in tree order, like 9k.labels)."""
    names_out, keep_roots = _flags(args)
    (graph, labels, tree_out), rest = args.positional(3, BUILD_USAGE)
    _write("build", rest, graph, [labels], tree_out, [], names_out, keep_roots)


def merge(args):
    """Two datasets in one tree (YOLO9000's COCO + ImageNet), with a .map per dataset (coco9k.map)."""
    names_out, keep_roots = _flags(args)
    (graph, labels1, labels2, tree_out, map1, map2), rest = args.positional(6, MERGE_USAGE)
    _write("merge", rest, graph, [labels1, labels2], tree_out, [map1, map2], names_out, keep_roots)


def _flags(args):
    return args.value("-names", None), args.flag("-keep_roots")


def _write(mode, rest, graph, label_paths, tree_out, map_outs, names_out, keep_roots):
    from ..errors import DarknetError
    if rest:
        raise DarknetError(f"wordtree {mode}: unexpected argument '{rest[0]}'")
    tree, builder = write_wordtree(graph, label_paths, tree_out, map_outs, names_out, keep_roots)
    multi = sum(len(builder.graph.paths(label)) > 1 for label in builder.labels)
    print(f"wordtree: {len(builder.labels)} labels ({multi} with several paths) -> {tree.n} nodes in "
          f"{tree.groups} groups, written to {tree_out}", file=sys.stderr)
