"""torchvision's VGG16-BN (Simonyan & Zisserman 2015, configuration D) for gray faces and 7 classes."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from fer_lightning.fer2013 import NUM_CLASSES
from fer_lightning.models.base import FERNet, InputAdapter


class VGG16BN(FERNet):
    """torchvision's `vgg16_bn` layers (13 conv+BN+ReLU, 5 max-pools, a 3-layer classifier) with
    `in_chans` input channels and `num_classes` outputs; state_dict names match torchvision's, except
    `classifier.` -> `head.`.

    torchvision pools the last feature map to 7x7 for its 224 px input; a 40 or 48 px face ends at 1x1,
    where that pooling would copy each value 49 times into a 25,088-wide layer. The pooled size is
    therefore min(7, side of the last map): torchvision's topology at 224 (`resize_to: 224`), a
    512-wide classifier input at 40 px. `width` scales the channels and the hidden size.
    """

    torchvision_arch = "vgg16_bn"

    def __init__(
        self,
        num_classes: int = NUM_CLASSES,
        in_chans: int = 1,
        input_size: int = 40,
        width: float = 1.0,
        hidden: int = 4096,
        dropout: float = 0.5,
        resize_to: int | None = None,
    ) -> None:
        super().__init__()
        self.input_adapter = InputAdapter(resize_to)
        layout = [v if v == "M" else max(1, round(v * width)) for v in cfgs["D"]]
        self.features = make_layers(layout, batch_norm=True)
        self.features[0] = nn.Conv2d(in_chans, self.features[0].out_channels, 3, padding=1)
        side = (resize_to or input_size) // 32
        if side < 1:
            raise ValueError(
                f"VGG16BN input of {resize_to or input_size} px is too small for 5 max-pools (need >= 32)"
            )
        pool = min(7, side)
        self.avgpool = nn.AdaptiveAvgPool2d(pool)
        channels, hidden = layout[-2], max(1, round(hidden * width))
        self.head = nn.Sequential(
            nn.Linear(channels * pool * pool, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        # torchvision's VGG initialisation.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    @property
    def gradcam_layer(self) -> nn.Module:
        """The ReLU after the last conv (before the last max-pool)."""
        return self.features[-2]

    def foreign_key(self, key: str) -> str | None:
        return "head." + key.removeprefix("classifier.") if key.startswith("classifier.") else key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(self.input_adapter(x)))
        return self.head(torch.flatten(x, 1))
