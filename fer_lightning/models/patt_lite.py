"""PAtt-Lite (Ngwe et al. 2023, arXiv 2306.09626): a truncated MobileNetV1, a patch extraction block and
an attention classifier, with the attention over each image's patch tokens.

The published notebook (JLREx/PAtt-Lite) global-average-pools the patches to one [B, 32] vector and
then applies Keras `Attention()([x, x])` to it, so every sample attends to the other samples of its
batch (a prediction depends on its batch mates; the authors acknowledge it). Here the pooling moves
after the attention: each image's 2x2 patch tokens attend to each other, and nothing crosses images.

timm's layers are imported when a PAttLite is built, not with the package: timm takes seconds to import.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fer_lightning.fer2013 import NUM_CLASSES
from fer_lightning.models.base import FERNet, InputAdapter

# MobileNetV1 (Howard et al. 2017, Table 1) blocks as (out_channels, stride), grouped as timm's
# mobilenetv1_100 groups them (blocks.<stage>.<index>), up to block 9 of 13: stride 16, 512 channels,
# where the notebook cuts Keras' MobileNet (backbone.layers[-29], inside block 9; we keep it whole).
_STAGES = (((64, 1),), ((128, 2), (128, 1)), ((256, 2), (256, 1)), ((512, 2), (512, 1), (512, 1), (512, 1)))


class _DepthwiseSeparable(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(in_ch, in_ch, 3, stride, 1, groups=in_ch, bias=False)
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv_pw = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn2(self.conv_pw(self.act(self.bn1(self.conv_dw(x))))))


class MobileNetV1Trunk(nn.Module):
    """MobileNetV1 up to block 9 with timm's mobilenetv1_100 parameter names (its weights load as they
    are); `width` is MobileNet's alpha, channels rounded to multiples of 8 as timm does."""

    def __init__(self, in_chans: int = 1, width: float = 1.0) -> None:
        super().__init__()
        from timm.layers import make_divisible

        stem = make_divisible(32 * width)
        self.conv_stem = nn.Conv2d(in_chans, stem, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.act = nn.ReLU6(inplace=True)
        stages, in_ch = [], stem
        for stage in _STAGES:
            blocks = []
            for out, stride in stage:
                blocks.append(_DepthwiseSeparable(in_ch, make_divisible(out * width), stride))
                in_ch = make_divisible(out * width)
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.out_channels = in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.act(self.bn1(self.conv_stem(x))))


class TokenAttention(nn.Module):
    """Keras `Attention(use_scale=True)` with query = key = value, over the tokens of one image:
    softmax(s * x x^T) x with a learnt scalar s (initialised to 1, as in Keras)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.scale * tokens @ tokens.transpose(1, 2), dim=-1)
        return weights @ tokens


class PatchAttentionHead(nn.Module):
    """Patch extraction (separable 4x4/4 'same', separable 2x2/2, 1x1; ReLU each), a 32-wide embedding
    with ReLU and batch norm per token, token attention, the mean over tokens and the classifier."""

    def __init__(self, in_ch: int, patch_dim: int, embed_dim: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        from timm.layers import create_conv2d

        self.patch_extraction = nn.Sequential(
            # Keras padding="same" with stride 4: timm's Conv2dSame pads as TensorFlow does.
            create_conv2d(in_ch, in_ch, 4, stride=4, padding="same", depthwise=True, bias=False),
            nn.Conv2d(in_ch, patch_dim, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(patch_dim, patch_dim, 2, stride=2, groups=patch_dim, bias=False),
            nn.Conv2d(patch_dim, patch_dim, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(patch_dim, patch_dim, 1),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(dropout)
        self.embed = nn.Linear(patch_dim, embed_dim)
        self.embed_norm = nn.BatchNorm1d(embed_dim)
        self.attention = TokenAttention()
        self.classifier = nn.Linear(embed_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_extraction(x).flatten(2).transpose(1, 2)  # [B, tokens, patch_dim]
        tokens = F.relu(self.embed(self.dropout(tokens)))
        tokens = self.embed_norm(tokens.transpose(1, 2)).transpose(1, 2)
        return self.classifier(self.dropout(self.attention(tokens).mean(dim=1)))


def _token_side(size: int) -> int:
    for _ in range(4):  # the trunk's four stride-2 convs (padding 1)
        size = -(-size // 2)
    size = -(-size // 4)  # 'same' 4x4 stride 4
    return (size - 2) // 2 + 1  # 'valid' 2x2 stride 2


class PAttLite(FERNet):
    """PAtt-Lite with per-image attention. The published model resizes every face to 224 px
    (`resize_to: 224`; 2x2 patch tokens) and scales it to [-1, 1] as Keras' MobileNet preprocessing
    does; `width` scales the trunk and the patch channels. Named weights are timm's mobilenetv1_100."""

    timm_arch = "mobilenetv1_100"

    def __init__(
        self,
        num_classes: int = NUM_CLASSES,
        in_chans: int = 1,
        input_size: int = 40,
        width: float = 1.0,
        dropout: float = 0.1,
        patch_dim: int = 256,
        embed_dim: int = 32,
        resize_to: int | None = 224,
    ) -> None:
        super().__init__()
        side = resize_to or input_size
        if _token_side(side) < 1:
            raise ValueError(
                f"PAttLite needs inputs of >= 65 px for one patch token, got {side} (set resize_to: 224)"
            )
        from timm.layers import make_divisible

        self.input_adapter = InputAdapter(resize_to, mean=0.5, std=0.5)
        self.backbone = MobileNetV1Trunk(in_chans, width)
        self.head = PatchAttentionHead(
            self.backbone.out_channels, make_divisible(patch_dim * width), embed_dim, num_classes, dropout
        )
        # He initialisation by fan-out within a group, as timm's MobileNets do (efficientnet
        # _init_weight_goog). torch's kaiming_normal_ counts every output channel of a depthwise conv,
        # so the signal fades through the 20 layers and every face gets the same logits at the start.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        self._backbone_keys = frozenset(f"backbone.{k}" for k in self.backbone.state_dict())

    @property
    def gradcam_layer(self) -> nn.Module:
        return self.backbone.blocks[-1]

    def foreign_key(self, key: str) -> str | None:
        # timm mobilenetv1_100 names; its blocks after block 9, head conv and classifier are cut off.
        name = f"backbone.{key}"
        return name if name in self._backbone_keys else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(self.input_adapter(x)))
