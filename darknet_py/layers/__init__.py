"""One module per Darknet layer type; LAYER_TYPES maps a cfg section name to its class."""
from .avgpool import AvgpoolLayer
from .batchnorm import BatchnormLayer
from .connected import ConnectedLayer
from .convolutional import ConvolutionalLayer
from .cost import CostLayer
from .crop import CropLayer
from .detection import DetectionLayer
from .dropout import DropoutLayer
from .local import LocalLayer
from .maxpool import MaxpoolLayer
from .region import RegionLayer
from .reorg import ReorgLayer
from .route import RouteLayer
from .shortcut import ShortcutLayer
from .softmax import SoftmaxLayer
from .upsample import UpsampleLayer
from .yolo import YoloLayer

LAYER_TYPES = {cls.type: cls for cls in (
    AvgpoolLayer, BatchnormLayer, ConnectedLayer, ConvolutionalLayer, CostLayer, CropLayer, DetectionLayer,
    DropoutLayer, LocalLayer, MaxpoolLayer, RegionLayer, ReorgLayer, RouteLayer, ShortcutLayer, SoftmaxLayer,
    UpsampleLayer, YoloLayer)}
