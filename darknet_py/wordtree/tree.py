"""WordTree (`tree.c`): Darknet's .tree files, hierarchical softmax and the decoding of tree predictions.

A .tree file lists `name parent_index` per node; a new group of co-hyponyms starts wherever the parent
changes from the line before (read_tree). Each group gets its own softmax; a node's absolute probability
is the product of the conditional probabilities on its path to the root.
"""
import numpy as np

from ..errors import DarknetError, file_problem, shown
from ..gpu.device import array_module


class Tree:
    def __init__(self, names, parents):
        self.name = list(names)
        self.parent = np.asarray(parents, np.int64)
        n = len(self.parent)
        self.n = n
        # read_tree: a group is a run of consecutive lines with the same parent.
        starts = [0] + [i for i in range(1, n) if self.parent[i] != self.parent[i - 1]]
        self.group_offset = np.asarray(starts, np.int64)
        self.group_size = np.diff(starts + [n]).astype(np.int64)
        self.groups = len(starts)
        self.group = np.repeat(np.arange(self.groups), self.group_size)
        self.child = np.full(n, -1, np.int64)
        has_parent = self.parent >= 0
        self.child[self.parent[has_parent]] = self.group[has_parent]
        self.leaf = np.ones(n, bool)
        self.leaf[self.parent[has_parent]] = False
        self.levels = self._levels()

    def _levels(self):
        """[(nodes, their parents)] depth by depth below the roots, so hierarchy_predictions multiplies a
        level at a time; None when a node comes before its parent (then only file order is Darknet's)."""
        if np.any(self.parent >= np.arange(self.n)):
            return None
        depth = np.zeros(self.n, np.int64)
        for j, parent in enumerate(self.parent.tolist()):
            if parent >= 0:
                depth[j] = depth[parent] + 1
        levels = (np.flatnonzero(depth == d) for d in range(1, depth.max(initial=0) + 1))
        return [(nodes, self.parent[nodes]) for nodes in levels]

    @classmethod
    def read(cls, path):
        names, parents = [], []
        problem = file_problem(path)
        if problem:
            raise DarknetError(f"{path}: cannot read tree: {problem}")
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    fields = line.split()
                    if not fields:
                        continue
                    try:
                        parent = int(fields[1]) if len(fields) > 1 else -1
                    except ValueError:
                        raise DarknetError(f"{path}:{number}: expected 'name parent_index', got "
                                           f"'{shown(line.strip())}'") from None
                    if parent >= len(parents):
                        raise DarknetError(f"{path}:{number}: parent {parent} is not an earlier node")
                    names.append(fields[0])
                    parents.append(parent)
        except OSError as e:
            raise DarknetError(f"{path}: cannot read tree: {e.strerror}") from None
        return cls(names, parents)

    def write(self, path):
        """The .tree file read_tree reads back into this tree: one `name parent_index` line per node."""
        with open(path, "w") as f:
            f.writelines(f"{name} {parent}\n" for name, parent in zip(self.name, self.parent.tolist()))

    def probability(self, predictions, node, stride=1):
        """get_hierarchy_probability: product of conditional probabilities from `node` up to the root."""
        p = np.float32(1)  # Darknet multiplies in float: a double product may round differently
        while node >= 0:
            p *= np.float32(predictions[node * stride])
            node = int(self.parent[node])
        return float(p)

    def top_prediction(self, predictions, thresh, stride=1):
        """hierarchy_top_prediction: greedy descent from group 0 while p * max child > thresh."""
        # Darknet's thresh, p and max are floats: with doubles p * max could land on the other side of thresh.
        p, group, thresh = np.float32(1), 0, np.float32(thresh)
        while True:
            offset, size = int(self.group_offset[group]), int(self.group_size[group])
            values = predictions[offset * stride:(offset + size) * stride:stride]
            k = int(np.argmax(values))  # first maximum, as Darknet's strict '>' scan
            best, max_i = (np.float32(values[k]), offset + k) if values[k] > 0 else (np.float32(0), 0)
            if p * best > thresh:
                p *= best
                group = int(self.child[max_i])
                if group < 0:
                    return max_i
            elif group == 0:
                return max_i
            else:
                return int(self.parent[offset])


def read_map(path):
    """A .map file: one tree node index per line (e.g. coco9k.map maps COCO's 80 classes into 9k.tree)."""
    problem = file_problem(path)
    if problem:
        raise DarknetError(f"{path}: cannot read map file: {problem}")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = list(enumerate(f, 1))
    except OSError as e:
        raise DarknetError(f"{path}: cannot read map file: {e.strerror}") from None
    indices = []
    for number, line in lines:
        if not line.strip():
            continue
        try:
            indices.append(int(line))
        except ValueError:
            raise DarknetError(f"{path}:{number}: expected a node index, got '{shown(line.strip())}'") from None
    return indices


def hierarchy_predictions(predictions, tree, only_leaves=False, axis=-1):
    """Absolute probabilities along `axis`: each node times its parent's, top-down in file order (in place).

    With every parent before its children (as read_tree's files), a level of the tree at a time is the
    same product, node by node, as Darknet's loop over the nodes.
    """
    p = np.moveaxis(predictions, axis, 0)
    if tree.levels is not None:
        for nodes, parents in tree.levels:
            p[nodes] *= p[parents]
    else:
        for j in range(tree.n):
            parent = tree.parent[j]
            if parent >= 0:
                p[j] *= p[parent]
    if only_leaves:
        p[~tree.leaf] = 0
    return predictions


def softmax_tree(x, tree, axis, temperature=1.0):
    """A softmax over each group of co-hyponyms along `axis` (the GPU kernel's layout, softmax_tree)."""
    xp = array_module(x)
    out = xp.empty_like(x)
    moved_in, moved_out = xp.moveaxis(x, axis, 0), xp.moveaxis(out, axis, 0)
    for offset, size in zip(tree.group_offset.tolist(), tree.group_size.tolist()):
        group = moved_in[offset:offset + size] / x.dtype.type(temperature)
        e = xp.exp(group - group.max(axis=0, keepdims=True))
        moved_out[offset:offset + size] = e / e.sum(axis=0, keepdims=True)
    return out
