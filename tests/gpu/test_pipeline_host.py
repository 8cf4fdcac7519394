"""The video pipeline on a GPU, checked on the CPU: Network.gpu replaced by the GPU plan on the host runner (the
kernels compiled as C++, kernel_host.py), driven as gpu/engine.py's GpuEngine drives it. Frames go up as bytes
(letterboxed by the letterbox kernel), the decoding runs in region_decode, and with demo.c's frame average the
outputs come to the host first; the objects equal the CPU path's. What this cannot check (CuPy, streams,
graphs) is tests/gpu/test_gpu.py's on a machine with a GPU."""
import numpy as np
import pytest

import kernel_host
from conftest import ROOT, sample_frames, write_video
from darknet_py.detector import Detector, prepare
from darknet_py.gpu.plan import Plan
from darknet_py.network import Network

pytestmark = pytest.mark.skipif(not kernel_host.available(), reason="needs g++ to build the kernels for the CPU")


class HostGpu:
    """Network.gpu with GpuEngine's detect and forward_images, on gpu.Plan and the host runner."""

    def __init__(self, net):
        self.net, self.plans, self.calls = net, {}, []

    def _run(self, images):
        plan = self.plans.get(len(images)) or self.plans.setdefault(len(images), Plan(self.net, len(images),
                                                                                      kernel_host.HostRunner()))
        for i, bgr in enumerate(images):
            assert bgr.dtype == np.uint8 and bgr.ndim == 3  # bytes, as they go up to a GPU
            plan.letterbox(np.ascontiguousarray(bgr), i)
        plan.run()
        plan.set_layer_outputs()
        return plan

    def detect(self, images, thresh, hier_thresh=.5):
        self.calls.append(("detect", len(images)))
        return self._run(images).detections([(im.shape[1], im.shape[0]) for im in images], thresh)

    def forward_images(self, images):
        self.calls.append(("forward_images", len(images)))
        plan = self._run(images)
        self.net.output_layer.output = np.array(plan.result)
        return self.net.output_layer.output


def assert_same_objects(ours, theirs):
    assert [f.name for f in ours] == [f.name for f in theirs]
    np.testing.assert_allclose([f.prob for f in ours], [f.prob for f in theirs], atol=1e-4)
    np.testing.assert_allclose([f.box for f in ours], [f.box for f in theirs], atol=1)


@pytest.mark.parametrize("avgframes,calls", [(1, "detect"), (3, "forward_images")])
def test_video_on_the_gpu_plan_equals_the_cpu(small_detector, tmp_path, avgframes, calls):
    """Two frames per forward; the average runs on the host, the rest on the plan."""
    clip = write_video(tmp_path / "clip.avi", sample_frames(4))
    cpu = Detector(Network.from_cfg(small_detector[0]).load_weights(small_detector[1]), ROOT / "data/coco.names")
    gpu_net = Network.from_cfg(small_detector[0]).load_weights(small_detector[1])
    gpu_net.gpu = HostGpu(gpu_net)
    gpu = Detector(gpu_net, ROOT / "data/coco.names")
    assert prepare(gpu_net, sample_frames(1)[0]).on_gpu
    expected = list(cpu.video(clip, avgframes=avgframes))
    got = list(gpu.video(clip, batch=2, avgframes=avgframes))
    assert [i for i, _, _ in got] == [i for i, _, _ in expected] == [0, 1, 2, 3]
    for (_, _, ours), (_, _, theirs) in zip(got, expected):
        assert_same_objects(ours, theirs)
    assert sum(len(found) for _, _, found in got) > 10
    assert gpu_net.gpu.calls == [(calls, 2), (calls, 2)]
