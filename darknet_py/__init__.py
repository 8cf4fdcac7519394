"""darknet-py: Darknet (YOLOv2, Darknet-19, YOLO9000) in Python, reading the original .cfg and .weights files.

    import darknet_py as dn
    net = dn.load("cfg/yolov2-tiny.cfg", "weights/yolov2-tiny.weights")
    for name, prob, box in dn.detect(net, "data/dog.jpg", dn.read_names("data/coco.names"), thresh=.25):
        print(name, prob, box)          # box = (left, top, right, bottom) in pixels
"""
from .cpu.blas_env import select_openblas_core

select_openblas_core()  # before numpy loads: OpenBLAS AVX-512 kernels where the CPU has them

from .data.lists import read_names
from .detector import Detector, Found, Prediction, classify, detect, detect_images  # noqa: E402
from .errors import CfgError, DarknetError, WeightsError  # noqa: E402
from .network import Network  # noqa: E402

__version__ = "0.1.0"


def load(cfg, weights=None, device=None, half=False, allow_nonfinite=False):
    """A Network built from a Darknet .cfg, with its .weights loaded when given, on `device`: "cpu", a GPU
    index, or None for a GPU when CuPy sees one (gpu/device.py: select_device). half=True: the GPU's fast mode
    (TF32 GEMMs). Weights holding NaN or inf raise WeightsError unless allow_nonfinite (to inspect a diverged
    run)."""
    net = Network.from_cfg(cfg)
    if weights is not None:
        net.load_weights(weights, allow_nonfinite=allow_nonfinite)
    return net.to(device, half=half)


__all__ = ["Network", "load", "Detector", "detect", "detect_images", "classify", "read_names", "Found", "Prediction",
           "DarknetError", "CfgError", "WeightsError"]
