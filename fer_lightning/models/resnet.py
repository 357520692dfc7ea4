"""ResNet-18 (He et al. 2016) from torchvision's BasicBlock, with the small-input stem FER repos use."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1

from fer_lightning.fer2013 import NUM_CLASSES
from fer_lightning.models.base import FERNet, InputAdapter


def _stage(in_ch: int, out_ch: int, blocks: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or in_ch != out_ch:
        downsample = nn.Sequential(conv1x1(in_ch, out_ch, stride), nn.BatchNorm2d(out_ch))
    layers = [BasicBlock(in_ch, out_ch, stride, downsample)]
    layers += [BasicBlock(out_ch, out_ch) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet(FERNet):
    """Four stages of BasicBlocks, channels 64-128-256-512 times `width`, `depth` blocks per stage (an
    int, or one per stage; 2 is ResNet-18), dropout before the classifier.

    stem "small": 3x3 stride-1 conv, no max-pool (the CIFAR-style stem that FER-2013 ResNet repos use),
    so a 40 px face reaches the last stage at 5x5 rather than 2x2;
    stem "imagenet": torchvision's 7x7 stride-2 conv and max-pool, needed for its ImageNet weights.
    State_dict names match torchvision's, except `fc.` -> `head.1.`.
    """

    torchvision_arch = "resnet18"

    def __init__(
        self,
        num_classes: int = NUM_CLASSES,
        in_chans: int = 1,
        width: float = 1.0,
        depth: int | Sequence[int] = 2,
        dropout: float = 0.0,
        stem: str = "small",
        resize_to: int | None = None,
    ) -> None:
        super().__init__()
        depths = [depth] * 4 if isinstance(depth, int) else list(depth)
        if len(depths) != 4 or min(depths) < 1:
            raise ValueError(f"ResNet depth must be blocks per stage, an int or 4 ints >= 1, got {depth}")
        channels = [max(1, round(c * width)) for c in (64, 128, 256, 512)]
        self.input_adapter = InputAdapter(resize_to)
        if stem == "small":
            self.conv1 = nn.Conv2d(in_chans, channels[0], 3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        elif stem == "imagenet":
            self.conv1 = nn.Conv2d(in_chans, channels[0], 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            raise ValueError(f"ResNet stem must be 'small' or 'imagenet', got {stem!r}")
        self.bn1 = nn.BatchNorm2d(channels[0])
        self.relu = nn.ReLU(inplace=True)
        in_ch = channels[0]
        for i, (out_ch, blocks) in enumerate(zip(channels, depths, strict=True)):
            setattr(self, f"layer{i + 1}", _stage(in_ch, out_ch, blocks, stride=1 if i == 0 else 2))
            in_ch = out_ch
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_ch, num_classes))
        # torchvision's ResNet initialisation (zero_init_residual=False).
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def gradcam_layer(self) -> nn.Module:
        return self.layer4

    def foreign_key(self, key: str) -> str | None:
        return "head.1." + key.removeprefix("fc.") if key.startswith("fc.") else key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(self.input_adapter(x)))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.head(torch.flatten(self.avgpool(x), 1))
