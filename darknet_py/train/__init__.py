"""Training (src/network.c, examples/detector.c, examples/classifier.c): the SGD step (`sgd.py`), learning-rate
policies (`schedule.py`), the `detector train` and `classifier train` loops with their checkpoints
(`train_detector.py`, `train_classifier.py`) and the loss chart (`chart.py`). The losses are the layers'."""
