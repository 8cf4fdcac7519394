"""Evaluating detectors (examples/detector.c): the `valid`, `recall` and `map` loops (`validate.py`), the files
and lines they write (`results.py`), the VOC and COCO metrics (`metrics.py`), and the paper's dimension
clusters (`anchors.py`, with Figure 2 and Table 1 in `anchor_figures.py`)."""
