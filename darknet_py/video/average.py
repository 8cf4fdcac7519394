"""demo.c's frame average: the detections of a frame come from the mean of the detection layers' outputs over
the last `frames` frames (remember_network, avg_predictions).

What pjreddie's demo.c does, exactly: it keeps the raw outputs of every [region], [yolo] and [detection] layer
(after their activations, before any decoding) for its last `demo_frame` = 3 frames in a ring of slots that
starts zeroed; after each forward it stores the frame's outputs in slot (frame number mod 3), sums the slots in
slot order, each times (float)(1./3) (fill_cpu then axpy_cpu), writes the sum back into the layers' outputs and
decodes that (get_network_boxes, then do_nms_obj at .4). The newest frame is the one drawn. `-avg N` is read by
examples/detector.c but never used (`//demo_frame = avg_frames;` is commented out), so the window is always 3;
AlexeyAB names the flag -avgframes, default 3. Because the slots start at zero, the first two frames of a run are
averaged with zero outputs (frame 0 with two of them): their objectness and class scores are a third or two
thirds of the real ones, so they show few boxes. We reproduce it; `-avgframes 1` turns the average off.
"""
import numpy as np

from ..gpu.device import to_numpy

DEMO_FRAMES = 3                                   # demo.c: static int demo_frame = 3
MAX_FRAMES = 1000                                 # -avgframes' bound: every frame sums this many slots
AVERAGED_TYPES = ("region", "yolo", "detection")  # size_network / remember_network: the layers kept


class FrameAverage:
    """Call it on the network after each forward: replaces the detection layers' outputs by their means over
    the window, row by row of the batch (each row a frame, in order)."""

    def __init__(self, frames=DEMO_FRAMES):
        self.frames = max(1, int(frames))
        self.slots = None  # per averaged layer: (frames, *row shape), zeroed at the start as demo.c's calloc
        self.count = 0     # frames seen: the next one goes into slot count % frames

    def __call__(self, net):
        if self.frames == 1:
            return
        layers = [layer for layer in net.layers if layer.type in AVERAGED_TYPES]
        outputs = [to_numpy(layer.output).astype(np.float32) for layer in layers]
        if self.slots is None:
            self.slots = [np.zeros((self.frames,) + out.shape[1:], np.float32) for out in outputs]
        weight = np.float32(1. / self.frames)  # axpy_cpu's float ALPHA
        for row in range(len(outputs[0])):
            slot = self.count % self.frames
            for out, slots in zip(outputs, self.slots):
                slots[slot] = out[row]
                total = np.zeros_like(slots[0])
                for j in range(self.frames):  # slot order, as avg_predictions' axpy loop
                    total += weight * slots[j]
                out[row] = total
            self.count += 1
        for layer, out in zip(layers, outputs):
            layer.output = out
