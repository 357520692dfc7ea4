"""The VGG-style network of Khaireddin & Chen 2021 (arXiv 2105.03588, §3.1)."""

from __future__ import annotations

import torch
from torch import nn

from fer_lightning.classes import NUM_CLASSES


def _conv_stage(in_ch: int, out_ch: int, convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [nn.Conv2d(in_ch if i == 0 else out_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class VGGNet(nn.Module):
    """Four stages of (3x3 conv, BN, ReLU) x 2 then 2x2 max-pool, channels 64-128-256-512, and a
    4096-4096 head with dropout 0.2: 29.9 M parameters for the paper's 1x40x40 input.

    The paper's code hard-codes the flatten size for 40x40; here it follows `input_size`, so 48x48 works too.
    `width` scales every channel count (0.25 gives a CPU-sized network), `depth` the convs per stage.
    """

    def __init__(
        self,
        num_classes: int = NUM_CLASSES,
        in_chans: int = 1,
        input_size: int = 40,
        width: float = 1.0,
        depth: int = 2,
        hidden: int = 4096,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        channels = [max(1, round(c * width)) for c in (64, 128, 256, 512)]
        stages, in_ch = [], in_chans
        for out_ch in channels:
            stages.append(_conv_stage(in_ch, out_ch, depth))
            in_ch = out_ch
        self.features = nn.Sequential(*stages)
        side = input_size
        for _ in channels:
            side //= 2
        if side < 1:
            raise ValueError(f"model input_size={input_size} is too small for 4 max-pool stages (need >= 16)")
        hidden = max(1, round(hidden * width)) if width < 1 else hidden
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels[-1] * side * side, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    @property
    def gradcam_layer(self) -> nn.Module:
        """The last conv stage, whose activations Grad-CAM weighs."""
        return self.features[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
