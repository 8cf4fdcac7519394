"""A network on one GPU (`Network.to`): the inference plan (`plan.py`), captured as a CUDA graph where it can
be, and the training step (`train.py`), which share the device and hand the parameters back and forth."""
import numpy as np

from ..boxes import get_network_boxes
from .device import cupy, to_numpy
from .plan import CupyRunner, Plan
from .train import GpuTrainer


class _AllocationCounter(cupy.cuda.MemoryHook if cupy is not None else object):
    """Counts CuPy memory-pool requests: a captured graph must not depend on any."""
    name = "darknet_py.gpu.capture"

    def __init__(self):
        super().__init__()
        self.count = 0

    def malloc_preprocess(self, **kwargs):
        self.count += 1


class GpuEngine:
    """A network on one GPU (Network.to). Inference: one Plan at a time, captured as a CUDA graph when
    every layer has kernels and the capture allocates nothing; eager launches otherwise. Training:
    a train.GpuTrainer, whose parameters come back to the layers before the next inference plan."""

    def __init__(self, net, device, graphs=True, half=False):
        self.net, self.device, self.graphs, self.half = net, device, graphs, half
        self.plan = self.key = self.graph = None
        self.trainer = None
        self.graph_error = None  # why the current plan runs without a graph
        with cupy.cuda.Device(device):
            self.stream = cupy.cuda.Stream(non_blocking=True)

    def release(self):
        """Drop the plan and its graph; their buffers go back to CuPy's memory pool."""
        self.plan = self.key = self.graph = None

    def forward_backward(self, x, truth, on_layer=None):
        """Network.forward_backward on this GPU (train.GpuTrainer)."""
        with cupy.cuda.Device(self.device):
            self._trainer().forward_backward(x, truth, on_layer)

    def parameters(self):
        """Network.parameters: the device's copies (the optimiser steps them with this GPU current)."""
        with cupy.cuda.Device(self.device):
            yield from self._trainer().parameters()

    def _trainer(self):
        if self.trainer is None:
            self.trainer = GpuTrainer(self.net, CupyRunner())
        self.release()  # an inference plan holds copies of the parameters from before the step
        return self.trainer

    def download_parameters(self):
        """Bring trained parameters back into the layers (before saving or a new inference plan)."""
        if self.trainer is not None:
            with cupy.cuda.Device(self.device):
                self.trainer.download()

    def prepare(self, batch):
        """Build (and capture) the plan for `batch` images at the network's current size, if needed."""
        self.download_parameters()
        key = (batch, self.net.w, self.net.h)
        if key == self.key:
            return self.plan
        self.release()
        with cupy.cuda.Device(self.device), self.stream:
            self.plan = Plan(self.net, batch, CupyRunner(tf32=self.half))
            self.key = key
            self.plan.run()  # compiles the kernels and lets cuBLAS set up before any capture
            if self.graphs:
                self._capture()
        self.stream.synchronize()
        return self.plan

    def _capture(self):
        if not self.plan.capturable:
            self.graph_error = "a layer runs its own forward (no kernel for it)"
            return
        counter = _AllocationCounter()
        try:
            with counter:
                self.stream.begin_capture()
                try:
                    self.plan.run()
                finally:
                    graph = self.stream.end_capture()
        except Exception as e:  # noqa: BLE001 - a graph is an optimisation: any failure runs eagerly
            self.graph_error = f"capture failed: {type(e).__name__}: {e}"
            return
        if counter.count:
            self.graph_error = f"the pass allocated {counter.count} time(s) while captured"
            return
        self.graph, self.graph_error = graph, None

    def forward(self, x):
        """x (B, C, H, W) numpy or CuPy -> the network output, (B, ...) on the same side as x (a CuPy
        result is the plan's own buffer, overwritten by the next call)."""
        plan = self.prepare(x.shape[0])
        with cupy.cuda.Device(self.device):
            if not isinstance(x, np.ndarray):  # x may still be in the making on the caller's stream
                self.stream.wait_event(cupy.cuda.get_current_stream().record())
            with self.stream:
                plan.batch_view(plan.input)[...] = cupy.asarray(x, np.float32)
                self._run(plan)
        return self._result(plan, on_host=isinstance(x, np.ndarray))

    def forward_images(self, images):
        """A list of 8-bit BGR (H, W, 3) images (cv2.imread) -> the network output for their letterboxes,
        computed on the GPU from the bytes (Darknet's load_image_color + letterbox_image)."""
        plan = self.prepare(len(images))
        with cupy.cuda.Device(self.device), self.stream:
            for i, bgr in enumerate(images):
                plan.letterbox(cupy.ascontiguousarray(cupy.asarray(bgr, np.uint8)), i)
            self._run(plan)
        return self._result(plan, on_host=True)

    def detect(self, images, thresh, hier_thresh=.5, class_map=None, relative=True):
        """get_network_boxes of 8-bit BGR images (cv2.imread's): uploaded as bytes, letterboxed, run and
        decoded on the GPU; only the detections come back (the output layers' whole outputs where
        Plan.can_decode says the host must decode). One full Darknet-order list per image."""
        plan = self.prepare(len(images))
        sizes = [(im.shape[1], im.shape[0]) for im in images]
        if not plan.can_decode(class_map):
            self.forward_images(images)
            return [get_network_boxes(self.net, b, im_w, im_h, thresh, hier_thresh, relative, class_map)
                    for b, (im_w, im_h) in enumerate(sizes)]
        with cupy.cuda.Device(self.device), self.stream:
            for i, bgr in enumerate(images):
                plan.letterbox(cupy.ascontiguousarray(cupy.asarray(bgr, np.uint8)), i)
            self._run(plan)
            return plan.detections(sizes, thresh, class_map, relative)

    def _run(self, plan):
        if self.graph is not None:
            self.graph.launch(self.stream)
        else:
            plan.run()
        plan.set_layer_outputs()

    def _result(self, plan, on_host):
        self.stream.synchronize()
        if not on_host:
            return plan.result
        out = to_numpy(plan.result)
        self.net.output_layer.output = out  # detection code reads it on the host
        return out
