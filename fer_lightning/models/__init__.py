"""Architectures: each maps float [B, in_chans, H, W] in [0, 1] to logits [B, num_classes] and exposes
`.head` (the part pretrained weights never cover) and `.gradcam_layer`. `conf/model/<name>.yaml` picks one;
`build_net` builds it from that config."""

from fer_lightning.models.base import FERNet, InputAdapter, LoadReport
from fer_lightning.models.build import apply_freeze, build_net, param_groups
from fer_lightning.models.complexity import model_complexity
from fer_lightning.models.patt_lite import PAttLite
from fer_lightning.models.resnet import ResNet
from fer_lightning.models.timm_net import TimmNet
from fer_lightning.models.vgg16 import VGG16BN
from fer_lightning.models.vggnet import VGGNet
from fer_lightning.models.weights import WeightsSource, load_pretrained, resolve_weights

__all__ = [
    "FERNet",
    "InputAdapter",
    "LoadReport",
    "PAttLite",
    "ResNet",
    "TimmNet",
    "VGG16BN",
    "VGGNet",
    "WeightsSource",
    "apply_freeze",
    "build_net",
    "load_pretrained",
    "model_complexity",
    "param_groups",
    "resolve_weights",
]
