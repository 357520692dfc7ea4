"""The VGG-style network of Khaireddin & Chen 2021 (arXiv 2105.03588, §3.1; usef-kh/fer models/vgg.py)."""

from __future__ import annotations

import re

import torch
from torch import nn

from fer_lightning.fer2013 import NUM_CLASSES
from fer_lightning.models.base import FERNet, InputAdapter

# The paper code's layer names: conv{stage}{a|b}, bn{stage}{a|b} and lin1..lin3.
_PAPER_CONV = re.compile(r"(conv|bn)([1-4])([ab])\.(.+)")
_PAPER_LIN = {"lin1": "head.1", "lin2": "head.4", "lin3": "head.7"}


def _conv_stage(in_ch: int, out_ch: int, convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [
            nn.Conv2d(in_ch if i == 0 else out_ch, out_ch, 3, padding=1),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        ]
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class VGGNet(FERNet):
    """Four stages of (3x3 conv, BN, ReLU) x 2 then 2x2 max-pool, channels 64-128-256-512, and a
    4096-4096 head with dropout 0.2: 29,890,759 parameters for the paper's 1x40x40 input.

    The paper's code hard-codes the flatten size for 40x40; here it follows `input_size`, so 48x48 works
    too. `width` scales every channel count and the hidden size (0.25 gives a CPU-sized network),
    `depth` the convs per stage. The paper code's checkpoints load by name (see `foreign_key`).
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
        if depth < 1:
            raise ValueError(f"VGGNet depth (convs per stage) must be >= 1, got {depth}")
        self.input_adapter = InputAdapter()
        channels = [max(1, round(c * width)) for c in (64, 128, 256, 512)]
        stages, in_ch = [], in_chans
        for out_ch in channels:
            stages.append(_conv_stage(in_ch, out_ch, depth))
            in_ch = out_ch
        self.features = nn.Sequential(*stages)
        side = input_size // 2 ** len(channels)
        if side < 1:
            raise ValueError(
                f"VGGNet input_size={input_size} is too small for 4 max-pool stages (need >= 16)"
            )
        hidden = max(1, round(hidden * width))
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

    def foreign_key(self, key: str) -> str | None:
        # Stage layout [conv, bn, relu] * depth + pool: conv a/b at 0/3, bn a/b at 1/4.
        if m := _PAPER_CONV.fullmatch(key):
            kind, stage, ab, rest = m.groups()
            index = (0 if ab == "a" else 3) + (kind == "bn")
            return f"features.{int(stage) - 1}.{index}.{rest}"
        layer, _, rest = key.partition(".")
        return f"{_PAPER_LIN[layer]}.{rest}" if layer in _PAPER_LIN else key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.input_adapter(x)))
