"""What training and evaluation read (src/data.c): image lists, labels and names (`lists.py`), Darknet's
augmentation (`augment.py`), the detection, classification and mixed YOLO9000 loaders (`detection.py`,
`classification.py`, `mixed.py`), and the files fetched by name (`assets.py`: `data get`, `weights get`)."""
