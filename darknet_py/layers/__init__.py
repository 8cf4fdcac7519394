"""One module per Darknet layer type; LAYER_TYPES maps a cfg section name to its class."""
from .avgpool import AvgpoolLayer
from .batchnorm import BatchnormLayer
from .connected import ConnectedLayer
from .convolutional import ConvolutionalLayer
from .cost import CostLayer
from .dropout import DropoutLayer
from .maxpool import MaxpoolLayer
from .region import RegionLayer
from .reorg import ReorgLayer
from .route import RouteLayer
from .shortcut import ShortcutLayer
from .softmax import SoftmaxLayer

LAYER_TYPES = {cls.type: cls for cls in (
    AvgpoolLayer, BatchnormLayer, ConnectedLayer, ConvolutionalLayer, CostLayer, DropoutLayer,
    MaxpoolLayer, RegionLayer, ReorgLayer, RouteLayer, ShortcutLayer, SoftmaxLayer)}
