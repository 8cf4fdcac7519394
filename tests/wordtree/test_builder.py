"""WordTree construction (wordtree/builder.py, commands/wordtree.py) on a hand-made concept graph with known
answers, against a brute-force version of the paper's rule on random DAGs, and against Darknet's own 9k.tree
and read_tree."""
import random

import numpy as np
import pytest

import oracle
from conftest import DARKNET_DATA, needs_oracle
from darknet_py.errors import DarknetError
from darknet_py.wordtree.tree import Tree
from darknet_py.cli import main
from darknet_py.commands import wordtree
from darknet_py.commands.common import Args
from darknet_py.wordtree.builder import ConceptGraph, WordTreeBuilder, build_wordtree, label_map, read_labels

# physical_object is the root. Single-path labels: wolf, car, animal (an internal node). Several paths:
#   dog       canine (in the tree through wolf: 1 new edge) or domestic_animal (2): canine.
#   puppy     young_mammal (2 new edges) ties dog's path before dog is in (dog, puppy: 2); the paper's rule
#             adds the cheapest label first - dog (1) - after which puppy under dog costs 1.
#   robot_dog machine (listed first, 2 new edges) or dog (1 once dog is in): dog.
#   terrier   only under dog, but dog has two paths; the domestic_animal one would give dog a second parent.
#   cat       feline or domestic_animal, 2 new edges each: the first listed, feline.
GRAPH = """\
# concept parent1 parent2 ...
physical_object
animal physical_object
artifact physical_object
canine animal
feline animal
domestic_animal animal
young_mammal animal
vehicle artifact
machine artifact
wolf canine
car vehicle
cat feline domestic_animal
dog canine domestic_animal   # two hypernyms, as WordNet's dog
puppy young_mammal dog
robot_dog machine dog
terrier dog
"""
LABELS = ["wolf", "car", "animal", "puppy", "dog", "robot_dog", "terrier", "cat"]
# The expected .tree: the root is implicit; each parent's children are one run of lines, depth-first by group.
EXPECTED = [("animal", -1), ("artifact", -1), ("canine", 0), ("feline", 0), ("wolf", 2), ("dog", 2),
            ("puppy", 5), ("robot_dog", 5), ("terrier", 5), ("cat", 3), ("vehicle", 1), ("car", 10)]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "graph.txt").write_text(GRAPH)
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    return tmp_path


@pytest.fixture
def graph(files):
    return ConceptGraph.read(files / "graph.txt")


def as_pairs(tree):
    return list(zip(tree.name, tree.parent.tolist()))


def test_paths_in_listed_order(graph):
    assert graph.paths("puppy") == [
        ("physical_object", "animal", "young_mammal", "puppy"),
        ("physical_object", "animal", "canine", "dog", "puppy"),
        ("physical_object", "animal", "domestic_animal", "dog", "puppy")]
    assert graph.paths("physical_object") == [("physical_object",)]
    assert len(graph.paths("wolf")) == 1


def test_hand_made_graph(graph):
    tree, builder = build_wordtree(graph, LABELS)
    assert as_pairs(tree) == EXPECTED
    assert tree.groups == 7
    assert tree.group_size.tolist() == [2, 2, 2, 3, 1, 1, 1]
    growth = {label: g for label, (_, g) in builder.choices.items()}
    assert growth == {"wolf": 3, "car": 3, "animal": 0, "dog": 1, "puppy": 1, "robot_dog": 1, "terrier": 1, "cat": 2}
    # Concepts on no chosen path stay out of the tree.
    assert not {"machine", "domestic_animal", "young_mammal", "physical_object"} & set(tree.name)


def test_cheapest_path_wins_over_listed_order(graph):
    _, builder = build_wordtree(graph, LABELS)
    assert builder.choices["robot_dog"][0][-2] == "dog"  # machine is listed first but costs one more edge
    assert builder.choices["puppy"][0][-2] == "dog"  # only because dog (cheaper) was added before puppy
    assert builder.choices["cat"][0][-2] == "feline"  # a tie: the first listed parent


def test_greedy_order_is_not_input_order(graph):
    """Adding the labels one by one in input order would have put puppy under young_mammal."""
    builder = WordTreeBuilder(graph)
    for label in LABELS:
        builder.add([label])
    assert builder.choices["puppy"][0][-2] == "young_mammal"


def test_incompatible_paths_are_skipped(graph):
    builder = WordTreeBuilder(graph)
    builder.add(["dog"])
    domestic = ("physical_object", "animal", "domestic_animal", "dog", "terrier")
    assert builder.growth(domestic) is None  # dog already hangs under canine
    assert builder.best_path("terrier") == (1, ("physical_object", "animal", "canine", "dog", "terrier"))


def test_internal_labels_and_maps(graph):
    tree, _ = build_wordtree(graph, LABELS)
    assert label_map(tree, LABELS) == [4, 11, 0, 6, 5, 7, 8, 9]
    assert not tree.leaf[label_map(tree, ["dog", "animal"])].any()
    assert tree.leaf[label_map(tree, ["wolf", "terrier", "cat", "car"])].all()


def test_keep_roots_and_root_labels(graph):
    tree, _ = build_wordtree(graph, LABELS, keep_roots=True)
    assert as_pairs(tree)[:3] == [("physical_object", -1), ("animal", 0), ("artifact", 0)]
    assert tree.n == len(EXPECTED) + 1
    tree, _ = build_wordtree(graph, ["physical_object", "wolf"])  # a root that is a label is kept
    assert as_pairs(tree) == [("physical_object", -1), ("animal", 0), ("canine", 1), ("wolf", 2)]


def test_several_roots_share_the_top_group():
    graph = ConceptGraph({"a": ["r1"], "b": ["r2"], "c": ["a", "b"], "d": ["b"], "e": ["a"]})
    tree, builder = build_wordtree(graph, ["c", "d", "e"])
    # d and e (single paths) first; c then costs 1 under either parent and takes the first listed, a.
    assert as_pairs(tree) == [("b", -1), ("a", -1), ("d", 0), ("e", 1), ("c", 1)]
    assert builder.choices["c"][1] == 1


def test_written_tree_groups_siblings(graph, tmp_path):
    tree, _ = build_wordtree(graph, LABELS)
    tree.write(tmp_path / "out.tree")
    back = Tree.read(tmp_path / "out.tree")
    assert as_pairs(back) == EXPECTED
    # Each parent owns exactly one group; parents come before their children.
    assert len(set(back.parent[back.group_offset].tolist())) == back.groups
    assert all(p < i for i, p in enumerate(back.parent.tolist()))


@needs_oracle
def test_darknet_reads_the_written_tree(graph, tmp_path):
    tree, _ = build_wordtree(graph, LABELS)
    tree.write(tmp_path / "out.tree")
    ref = oracle.tree(tmp_path / "out.tree")
    assert ref["groups"] == 7
    for key in ("parent", "child", "group", "group_offset", "group_size"):
        np.testing.assert_array_equal(getattr(tree, key), ref[key], err_msg=key)


@pytest.mark.skipif(not (DARKNET_DATA / "9k.tree").exists(), reason="Darknet's data/9k.tree is not installed")
def test_reproduces_darknet_9k_tree_layout(tmp_path):
    """9k.tree as a graph (each node's one parent) with its labels in file order gives the same file back:
    Darknet's layout is ours (children runs, depth-first by group, siblings in order of arrival)."""
    t9 = Tree.read(DARKNET_DATA / "9k.tree")
    graph = ConceptGraph({n: [t9.name[p]] if p >= 0 else [] for n, p in zip(t9.name, t9.parent.tolist())})
    tree, _ = build_wordtree(graph, t9.name)
    tree.write(tmp_path / "9k.tree")
    assert (tmp_path / "9k.tree").read_text() == (DARKNET_DATA / "9k.tree").read_text()


def brute_force(graph, labels):
    """The paper's rule with nothing clever: single-path labels first; then, over and over, score every
    remaining label's every path against the current tree and add the cheapest (first label on ties)."""
    parent = {}

    def cost(path):
        new = 0
        for above, node in zip((None,) + path, path):
            if node in parent and parent[node] != above:
                return None
            new += node not in parent and above is not None
        return new

    def add(path):
        for above, node in zip((None,) + path, path):
            parent.setdefault(node, above)

    labels = list(dict.fromkeys(labels))
    rest = [label for label in labels if len(graph.paths(label)) > 1]
    for label in labels:
        if label not in rest:
            add(graph.paths(label)[0])
    while rest:
        scored = [min((c, i) for i, p in enumerate(graph.paths(label)) if (c := cost(p)) is not None) + (k,)
                  for k, label in enumerate(rest)]
        _, i, k = min(scored, key=lambda s: (s[0], s[2]))
        add(graph.paths(rest.pop(k))[i])
    return parent


@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_on_random_dags(seed):
    rng = random.Random(seed)
    parents = {"c0": [], "c1": []}
    for i in range(2, 90):
        parents[f"c{i}"] = [f"c{j}" for j in rng.sample(range(i), min(i, rng.choice([1, 1, 2, 3])))]
    graph = ConceptGraph(parents)
    labels = rng.sample(sorted(parents), 40)
    builder = WordTreeBuilder(graph, keep_roots=True)
    builder.add(labels)
    assert builder.parent == brute_force(graph, labels)
    assert sum(len(graph.paths(label)) > 1 for label in labels) > 20  # the greedy phase did the work
    tree = builder.tree()
    assert set(label_map(tree, labels)) <= set(range(tree.n))


def main_wordtree(argv):
    """`darknet-py wordtree <argv>`'s command, with its errors raised rather than printed."""
    mode, *rest = argv
    {"build": wordtree.build, "merge": wordtree.merge}[mode](Args(rest))


def test_cli_build(files, capsys):
    main_wordtree(["build", str(files / "graph.txt"), str(files / "labels.txt"), str(files / "out.tree"),
                   "-names", str(files / "out.names")])
    assert as_pairs(Tree.read(files / "out.tree")) == EXPECTED
    assert (files / "out.names").read_text().split() == [name for name, _ in EXPECTED]
    assert "8 labels (5 with several paths) -> 12 nodes in 7 groups" in capsys.readouterr().err


def test_cli_merge_writes_maps(files):
    (files / "coco.txt").write_text("dog\ncat\ncar\n")
    (files / "inet.txt").write_text("terrier\nrobot_dog\npuppy\nwolf\nanimal\ndog\n")
    out = [str(files / name) for name in ("m.tree", "coco.map", "inet.map")]
    main_wordtree(["merge", str(files / "graph.txt"), str(files / "coco.txt"), str(files / "inet.txt"), *out])
    tree = Tree.read(out[0])
    assert tree.n == 12
    coco, inet = (list(map(int, open(path).read().split())) for path in out[1:])
    assert [tree.name[i] for i in coco] == ["dog", "cat", "car"]
    assert [tree.name[i] for i in inet] == ["terrier", "robot_dog", "puppy", "wolf", "animal", "dog"]
    assert coco[0] == inet[-1]  # both datasets' dog are one node


def test_read_labels(files, graph):
    assert read_labels(files / "labels.txt", graph) == LABELS


@pytest.mark.parametrize("graph_text, labels_text, message", [
    ("a\nb a\nb a\n", "b\n", r"graph.txt:3: 'b' already listed at line 2"),
    ("a c\nb a\nc b\n", "a\n", r"graph.txt:2: cycle in the concept graph: a -> c -> b -> a"),
    ("a\nb a a\n", "b\n", r"graph.txt:2: 'b' lists a parent twice"),
    ("a\n" + "x" * 300 + " a\n", "a\n", r"graph.txt:2: concept name 'x+' must be 1..255 characters"),
    ("a\nb a\n", "b\nzebra\n", r"labels.txt:2: label 'zebra' is not a concept of the graph"),
    ("a\nb a\n", "b\n\nb\n", r"labels.txt:3: label 'b' repeats line 1"),
    ("a\nb a\n", "\n", r"labels.txt: no labels"),
])
def test_bad_input_is_one_line_error(tmp_path, graph_text, labels_text, message):
    (tmp_path / "graph.txt").write_text(graph_text)
    (tmp_path / "labels.txt").write_text(labels_text)
    with pytest.raises(DarknetError, match=message) as e:
        main_wordtree(["build", str(tmp_path / "graph.txt"), str(tmp_path / "labels.txt"), str(tmp_path / "o.tree")])
    assert "\n" not in str(e.value)


def test_cli_usage_errors(files, capsys):
    assert main(["wordtree", "grow", "x"]) == 1
    assert "unknown command 'wordtree grow'" in capsys.readouterr().err
    with pytest.raises(DarknetError, match="usage: darknet-py wordtree merge <graph>") as e:
        main_wordtree(["merge", str(files / "graph.txt")])
    assert "\n" not in str(e.value)
    with pytest.raises(DarknetError, match="cannot read concept graph"):
        main_wordtree(["build", str(files / "nope.txt"), str(files / "labels.txt"), str(files / "o.tree")])
    with pytest.raises(DarknetError, match="unexpected argument"):
        main_wordtree(["build", str(files / "graph.txt"), str(files / "labels.txt"), str(files / "o.tree"), "x"])
    with pytest.raises(DarknetError, match="unknown flag -nmes"):
        main_wordtree(["build", str(files / "graph.txt"), str(files / "labels.txt"), str(files / "o.tree"),
                       "-nmes", "x"])
