"""Training: Darknet's SGD update, learning-rate policies and the region (YOLOv2) loss."""
