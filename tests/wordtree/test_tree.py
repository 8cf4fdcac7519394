"""darknet_py/wordtree/tree.py against Darknet's tree.c (read_tree, hierarchy_predictions, hierarchy_top_prediction,
get_hierarchy_probability) run by the oracle, and softmax_tree against a plain loop."""
import math

import numpy as np
import pytest

import oracle
from conftest import DARKNET_DATA, needs_oracle
from darknet_py.errors import DarknetError
from darknet_py.wordtree.tree import Tree, hierarchy_predictions, softmax_tree

TREE_9K = DARKNET_DATA / "9k.tree"
needs_9k = pytest.mark.skipif(not TREE_9K.exists(), reason="Darknet's data/9k.tree is not installed")

# A 2-level tree whose second-level product rounds differently in float and double (see the test).
ROUNDING_TREE = "a -1\nb -1\nc 0\nd 0\n"


def flush_denormals(a):
    """libdarknet is built with -Ofast, whose start-up code sets the SSE flush-to-zero and denormals-are-zero
    bits (MXCSR |= 0x8040): a product below FLT_MIN comes out as 0 there. Probabilities only shrink down a
    path, so flushing our final values gives the same numbers as flushing every step."""
    return np.where(np.abs(a) < np.finfo(np.float32).tiny, np.float32(0), a)


@pytest.fixture(scope="module")
def tree9k():
    return Tree.read(TREE_9K)


def tree_probabilities(tree, rows, seed, scale=4.0):
    """Realistic inputs: a softmax over every group of random logits, as the region/softmax layers produce."""
    logits = np.random.default_rng(seed).normal(0, scale, (rows, tree.n)).astype(np.float32)
    return softmax_tree(logits, tree, axis=1)


@needs_9k
def test_9k_tree_shape(tree9k):
    assert tree9k.n == 9418
    assert tree9k.groups == 1846
    assert tree9k.name[:3] == ["n00002452", "n00020827", "n00002684"]
    assert (tree9k.parent[tree9k.group_offset] >= -1).all()
    # Every group is the whole set of one parent's children, so no parent owns two groups.
    assert len(set(tree9k.parent[tree9k.group_offset].tolist())) == tree9k.groups
    assert tree9k.group_size.sum() == tree9k.n


@needs_oracle
@needs_9k
def test_read_tree_matches_darknet(tree9k):
    ref = oracle.tree(TREE_9K)
    assert (ref["n"], ref["groups"]) == (tree9k.n, tree9k.groups)
    for key in ("parent", "child", "group", "group_offset", "group_size"):
        np.testing.assert_array_equal(getattr(tree9k, key), ref[key], err_msg=key)
    np.testing.assert_array_equal(tree9k.leaf, ref["leaf"].astype(bool))


@needs_oracle
@pytest.mark.parametrize("text", ["a -1\nb -1\nc 1\nd 1\ne 0\nf 4\ng 4\n", "a -1\nb 0\nc 0\nd 2\n",
                                  "a -1\n"])
def test_read_tree_small_files_match_darknet(tmp_path, text):
    path = tmp_path / "t.tree"
    path.write_text(text)
    ours, ref = Tree.read(path), oracle.tree(path)
    assert ours.groups == ref["groups"]
    for key in ("parent", "child", "group", "group_offset", "group_size"):
        np.testing.assert_array_equal(getattr(ours, key), ref[key], err_msg=key)


@needs_oracle
@needs_9k
@pytest.mark.parametrize("stride", [1, 3])
def test_hierarchy_predictions_match_darknet(tree9k, stride):
    x = tree_probabilities(tree9k, 2 * stride, seed=stride).reshape(2, stride, tree9k.n).transpose(0, 2, 1)
    rows = np.ascontiguousarray(x).reshape(2, tree9k.n * stride)
    ref = oracle.tree(TREE_9K, rows, stride=stride)
    # Darknet walks one column (stride apart); ours does every column of the axis at once.
    for only_leaves, key in ((False, "hier"), (True, "leaves")):
        ours = hierarchy_predictions(x.copy(), tree9k, only_leaves=only_leaves, axis=1)
        np.testing.assert_array_equal(flush_denormals(ours[:, :, 0]),
                                      ref[key].reshape(2, tree9k.n, stride)[:, :, 0])


def test_hierarchy_predictions_in_file_order_when_a_child_comes_first():
    """Darknet's loop multiplies node 1 by its parent 2 before node 2 has been multiplied by node 0."""
    tree = Tree(["a", "b", "c"], [-1, 2, 0])
    assert tree.levels is None
    p = hierarchy_predictions(np.array([.5, .4, .3], np.float32), tree)
    np.testing.assert_array_equal(p, np.array([.5, np.float32(.4) * np.float32(.3), np.float32(.3) * np.float32(.5)],
                                              np.float32))


@needs_oracle
@needs_9k
@pytest.mark.parametrize("thresh", [.5, .45, .2, .01])
def test_top_prediction_matches_darknet(tree9k, thresh):
    conditional = tree_probabilities(tree9k, 24, seed=7)
    absolute = hierarchy_predictions(conditional.copy(), tree9k, axis=1)  # the region layer's input to it
    rows = np.concatenate([conditional, absolute])
    ref = oracle.tree(TREE_9K, rows, thresh=thresh)
    ours = [tree9k.top_prediction(row, thresh) for row in rows]
    assert ours == ref["top"].tolist()
    assert len(set(ours)) > 5  # the rows reach different depths and nodes


@needs_oracle
@needs_9k
def test_top_prediction_with_stride_matches_darknet(tree9k):
    stride = 4
    x = np.ascontiguousarray(tree_probabilities(tree9k, 6 * stride, seed=3, scale=6).T).reshape(tree9k.n, 6, stride)
    rows = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(6, tree9k.n * stride)
    ref = oracle.tree(TREE_9K, rows, stride=stride, thresh=.3)
    assert [tree9k.top_prediction(row, .3, stride) for row in rows] == ref["top"].tolist()


def test_top_prediction_multiplies_in_float(tmp_path):
    """.99999994f * .50000006f is .5 in float but above .5 in double: Darknet stops at the parent."""
    path = tmp_path / "r.tree"
    path.write_text(ROUNDING_TREE)
    tree = Tree.read(path)
    row = np.array([np.nextafter(np.float32(1), np.float32(0)), 0, np.nextafter(np.float32(.5), np.float32(1)), 0],
                   np.float32)
    assert tree.top_prediction(row, .5) == 0
    if oracle.available():
        assert oracle.tree(path, row[None], thresh=.5)["top"].tolist() == [0]


@needs_oracle
@needs_9k
def test_probability_matches_darknet(tree9k):
    row = tree_probabilities(tree9k, 1, seed=11)[0]
    ref = oracle.tree(TREE_9K, row[None])["probability"][0]
    ours = np.array([tree9k.probability(row, c) for c in range(tree9k.n)], np.float32)
    np.testing.assert_array_equal(flush_denormals(ours), ref)


def softmax_tree_loop(x, tree, temperature):
    """Darknet's softmax (blas.c) written as plain loops over each group of a 1-D vector, in double."""
    out = [0.0] * tree.n
    for offset, size in zip(tree.group_offset.tolist(), tree.group_size.tolist()):
        values = [float(v) / temperature for v in x[offset:offset + size]]
        largest = max(values)
        e = [math.exp(v - largest) for v in values]
        out[offset:offset + size] = [v / sum(e) for v in e]
    return np.array(out)


@needs_9k
@pytest.mark.parametrize("temperature", [1.0, .5])
def test_softmax_tree_matches_loop(tree9k, temperature):
    x = np.random.default_rng(5).normal(0, 3, (2, tree9k.n, 3)).astype(np.float32)
    ours = softmax_tree(x, tree9k, axis=1, temperature=temperature)
    assert ours.dtype == np.float32
    for b in range(2):
        for k in range(3):
            np.testing.assert_allclose(ours[b, :, k], softmax_tree_loop(x[b, :, k], tree9k, temperature),
                                       rtol=2e-6, atol=1e-9)
    sums = np.add.reduceat(ours.astype(np.float64), tree9k.group_offset, axis=1)
    np.testing.assert_allclose(sums, 1, rtol=1e-5)


def test_write_read_round_trip(tmp_path):
    tree = Tree(["x", "y", "z", "w"], [-1, -1, 0, 0])
    tree.write(tmp_path / "t.tree")
    assert (tmp_path / "t.tree").read_text() == "x -1\ny -1\nz 0\nw 0\n"
    back = Tree.read(tmp_path / "t.tree")
    assert back.name == tree.name and back.parent.tolist() == tree.parent.tolist()


def test_read_errors_are_one_line(tmp_path):
    path = tmp_path / "bad.tree"
    path.write_text("a -1\nb x\n")
    with pytest.raises(DarknetError, match=r"bad.tree:2: expected 'name parent_index'"):
        Tree.read(path)
    path.write_text("a -1\nb 5\n")
    with pytest.raises(DarknetError, match=r"bad.tree:2: parent 5 is not an earlier node"):
        Tree.read(path)
    with pytest.raises(DarknetError, match="cannot read tree"):
        Tree.read(tmp_path / "missing.tree")
