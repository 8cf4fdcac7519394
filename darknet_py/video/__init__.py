"""Video: Darknet's demo.c - the frame source (files, stream URLs, cameras, image sequences), the concurrent
stages from capture to detection, the frame average of the detection layers' outputs, and the writers."""
