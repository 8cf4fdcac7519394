"""YOLO9000's WordTree (src/tree.c and the paper's section 4): tree and .map files, the hierarchical softmax
and decoding (`tree.py`, used by the [region] and [softmax] layers), and building a tree from a concept graph
(`builder.py`)."""
