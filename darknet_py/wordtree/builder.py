"""Building a WordTree from a concept graph, as the YOLO9000 paper (section 4) builds its 9418-node tree.

The concept graph is a DAG such as WordNet's hypernym graph: each concept lists its parents. A dataset
label may reach a root through several paths; a tree keeps one. The paper's rule: first add every label
that has a single path to the root, then repeatedly add the remaining label whose best path grows the
tree least (fewest new edges). The result is written as a Darknet .tree file (children of one parent on
consecutive lines, as read_tree needs to make them one softmax group), plus .map files that send each
dataset's labels to tree nodes (Darknet's coco9k.map / inet9k.map).
"""
import heapq

from ..errors import DarknetError
from .tree import Tree

# read_tree reads each name with sscanf("%s") into a 256-byte buffer: longer names overflow it.
MAX_NAME = 255



class ConceptGraph:
    """A DAG of concepts; `parents[c]` lists c's parents in the order given (concepts without any are roots)."""

    def __init__(self, parents, source=None, lines=None):
        self.parents = {c: tuple(ps) for c, ps in parents.items()}
        for ps in list(self.parents.values()):
            for p in ps:
                self.parents.setdefault(p, ())
        self.source, self.lines = source, lines or {}
        for c, ps in self.parents.items():
            if len(c) > MAX_NAME or c.split() != [c]:
                raise DarknetError(f"{self._where(c)}concept name '{c[:40]}' must be 1..{MAX_NAME} "
                                   "characters without whitespace (a .tree name)")
            if len(set(ps)) != len(ps):
                raise DarknetError(f"{self._where(c)}'{c}' lists a parent twice")
        self._check_acyclic()
        self._paths = {}

    def _where(self, concept):
        """`file:line: ` of the concept's line, for error messages (empty for a graph given as a dict)."""
        return f"{self.source}:{self.lines[concept]}: " if concept in self.lines else ""

    @classmethod
    def read(cls, path):
        """Lines `concept parent1 parent2 ...`; a concept alone on its line is a root."""
        parents, lines = {}, {}
        try:
            with open(path) as f:
                for number, line in enumerate(f, 1):
                    fields = line.split("#", 1)[0].split()
                    if not fields:
                        continue
                    concept = fields[0]
                    if concept in lines:
                        raise DarknetError(f"{path}:{number}: '{concept}' already listed at line {lines[concept]}")
                    parents[concept], lines[concept] = fields[1:], number
        except OSError as e:
            raise DarknetError(f"{path}: cannot read concept graph: {e.strerror}") from None
        except UnicodeDecodeError as e:
            raise DarknetError(f"{path}: not a text file: {e.reason}") from None
        return cls(parents, path, lines)

    def _check_acyclic(self):
        """Iterative depth-first search over parent links; a link back into the current chain is a cycle."""
        state = {}  # 1: on the current chain, 2: done
        for start in self.parents:
            if start in state:
                continue
            chain, stack = [], [(start, iter(self.parents[start]))]
            state[start] = 1
            chain.append(start)
            while stack:
                node, it = stack[-1]
                parent = next(it, None)
                if parent is None:
                    stack.pop()
                    chain.pop()
                    state[node] = 2
                elif state.get(parent) == 1:
                    cycle = chain[chain.index(parent):] + [parent]
                    raise DarknetError(f"{self._where(node)}cycle in the concept graph: {' -> '.join(cycle)}")
                elif parent not in state:
                    state[parent] = 1
                    chain.append(parent)
                    stack.append((parent, iter(self.parents[parent])))

    def paths(self, concept):
        """Every path from a root down to `concept`, as tuples (root, ..., concept), parents in listed order."""
        todo = [concept]
        while todo:  # memoised post-order, without recursion (graphs may be deep)
            c = todo[-1]
            missing = [p for p in self.parents[c] if p not in self._paths]
            if missing:
                todo.extend(missing)
                continue
            todo.pop()
            ps = self.parents[c]
            self._paths[c] = [(c,)] if not ps else [path + (c,) for p in ps for path in self._paths[p]]
        return self._paths[concept]


class WordTreeBuilder:
    """Grows a tree (a parent for every concept in it) over a ConceptGraph by the paper's rule.

    Roots of the graph (the paper's "physical object", Pr = 1) are not written unless keep_roots is set or
    they are labels themselves: their children then form the top group with parent -1, as in 9k.tree.
    `choices` records, per label, the path taken and the number of edges it added.
    """

    def __init__(self, graph, keep_roots=False):
        self.graph = graph
        self.keep_roots = keep_roots
        self.parent = {}  # concept -> its tree parent (None for a root); insertion order = sibling order
        self.labels = []
        self.choices = {}

    def growth(self, path):
        """New edges that adding `path` would make, or None when it would give a tree node a second parent."""
        new = 0
        for above, node in zip((None,) + path, path):
            if node in self.parent:
                if self.parent[node] != above:
                    return None
            elif above is not None:
                new += 1
        return new

    def best_path(self, label):
        """(growth, path) of the label's cheapest compatible path; ties go to the first path in listed order.

        One always exists: any path cut at its first tree node and continued along that node's tree path
        is itself a path of the graph.
        """
        return min((g, i, p) for i, p in enumerate(self.graph.paths(label))
                   if (g := self.growth(p)) is not None)[::2]

    def _add(self, label, path):
        """Put `path` into the tree; returns the nodes that were not in it yet."""
        new = [node for node in path if node not in self.parent]
        self.choices[label] = (path, self.growth(path))
        for above, node in zip((None,) + path, path):
            self.parent.setdefault(node, above)
        return new

    def add(self, labels):
        """Add dataset labels: single-path labels first (in order), then the cheapest remaining one at a time."""
        fresh = [label for label in dict.fromkeys(labels) if label not in self.choices]
        for label in fresh:
            if label not in self.graph.parents:
                raise DarknetError(f"label '{label}' is not a concept of the graph")
        self.labels += fresh
        multi = []
        for label in fresh:
            paths = self.graph.paths(label)
            if len(paths) == 1:
                self._add(label, paths[0])
            else:
                multi.append(label)
        self._add_greedily(multi)

    def _add_greedily(self, labels):
        """Lazy priority queue: adding nodes only changes the growth of labels whose paths hold those nodes."""
        order = {label: k for k, label in enumerate(labels)}
        holders = {}  # concept -> labels with a path through it
        for label in labels:
            for path in self.graph.paths(label):
                for node in path:
                    holders.setdefault(node, set()).add(label)
        current = {label: self.best_path(label) for label in labels}
        heap = [(g, order[label], label) for label, (g, _) in current.items()]
        heapq.heapify(heap)
        while heap:
            g, _, label = heapq.heappop(heap)
            if label not in current or current[label][0] != g:
                continue  # a stale entry: the label was re-scored after it was pushed
            new_nodes = self._add(label, current.pop(label)[1])
            touched = {other for node in new_nodes for other in holders.get(node, ())} & current.keys()
            for other in sorted(touched, key=order.get):
                current[other] = self.best_path(other)
                heapq.heappush(heap, (current[other][0], order[other], other))

    def tree(self):
        """The tree in Darknet's order: each node's children as one run of lines, emitted depth-first by groups
        (the parent's group, then each child's group in turn), which is how 9k.tree is laid out."""
        kept = {c for c, p in self.parent.items() if p is not None or self.keep_roots or c in self.choices}
        children = {}
        for c, p in self.parent.items():
            if c in kept:
                children.setdefault(p if p in kept else None, []).append(c)
        names, parents, index = [], [], {}
        stack = [None]
        while stack:
            node = stack.pop()
            group = children.get(node, [])
            for c in group:
                index[c] = len(names)
                names.append(c)
                parents.append(-1 if node is None else index[node])
            stack.extend(reversed(group))
        return Tree(names, parents)


def build_wordtree(graph, *label_sets, keep_roots=False):
    """One tree holding every label of every set (a merge of datasets); returns (Tree, builder)."""
    builder = WordTreeBuilder(graph, keep_roots)
    builder.add(label for labels in label_sets for label in labels)
    return builder.tree(), builder


def label_map(tree, labels):
    """Each label's node index in `tree` (the lines of a Darknet .map file)."""
    index = {name: i for i, name in enumerate(tree.name)}
    return [index[label] for label in labels]


def read_labels(path, graph=None):
    """One label per line (blank lines skipped); with `graph`, every label must be one of its concepts."""
    labels, seen = [], {}
    try:
        with open(path) as f:
            for number, line in enumerate(f, 1):
                label = line.strip()
                if not label:
                    continue
                if label in seen:
                    raise DarknetError(f"{path}:{number}: label '{label}' repeats line {seen[label]}")
                if graph is not None and label not in graph.parents:
                    raise DarknetError(f"{path}:{number}: label '{label}' is not a concept of the graph")
                seen[label] = number
                labels.append(label)
    except OSError as e:
        raise DarknetError(f"{path}: cannot read labels: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise DarknetError(f"{path}: not a text file: {e.reason}") from None
    if not labels:
        raise DarknetError(f"{path}: no labels")
    return labels


def _write_lines(path, values):
    try:
        with open(path, "w") as f:
            f.writelines(f"{v}\n" for v in values)
    except OSError as e:
        raise DarknetError(f"{path}: cannot write: {e.strerror}") from None


def write_wordtree(graph_path, label_paths, tree_out, map_outs=(), names_out=None, keep_roots=False):
    """Build one tree over the labels of every file in `label_paths` (a merge when there are several) and
    write it as a .tree, each node's concept in tree order to `names_out` (like 9k.labels), and one .map
    per label file to `map_outs`. Returns (tree, builder); bad input raises a one-line DarknetError."""
    graph = ConceptGraph.read(graph_path)
    label_sets = [read_labels(path, graph) for path in label_paths]
    tree, builder = build_wordtree(graph, *label_sets, keep_roots=keep_roots)
    try:
        tree.write(tree_out)
    except OSError as e:
        raise DarknetError(f"{tree_out}: cannot write: {e.strerror}") from None
    if names_out:
        _write_lines(names_out, tree.name)
    for labels, out in zip(label_sets, map_outs):
        _write_lines(out, label_map(tree, labels))
    return tree, builder
