"""What every architecture shares: an input adapter in front, a `head` behind, and the hooks that let
`load_pretrained` map foreign weights onto it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from fer_lightning.models.weights import LoadReport


class InputAdapter(nn.Module):
    """Resizes the [0, 1] gray input to what pretrained weights expect and normalises it.

    The data pipeline stays at the paper's 40x40 crops; a network built for weights trained at 224 px
    resizes here (bilinear). `mean`/`std` are buffers, so a checkpoint carries the statistics it was
    trained with.
    """

    def __init__(self, resize_to: int | None = None, mean: float = 0.0, std: float = 1.0) -> None:
        super().__init__()
        if resize_to is not None and resize_to < 1:
            raise ValueError(f"resize_to must be a positive side in pixels or null, got {resize_to}")
        self.resize_to = resize_to
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def set_stats(self, mean: float, std: float) -> None:
        self.mean.fill_(mean)
        self.std.fill_(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = self.resize_to
        if side is not None and tuple(x.shape[-2:]) != (side, side):
            x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"resize_to={self.resize_to}"


class FERNet(nn.Module):
    """Base of the architectures: float [B, in_chans, H, W] in [0, 1] -> logits [B, num_classes].

    Subclasses set `input_adapter` and `head` (everything that pretrained weights never cover; it is
    what `freeze: backbone` leaves trainable and what `backbone_lr` does not apply to) and name the
    Grad-CAM layer. Named weights resolve against `torchvision_arch` / `timm_arch`.
    """

    torchvision_arch: ClassVar[str | None] = None
    timm_arch: ClassVar[str | None] = None

    input_adapter: InputAdapter
    head: nn.Module

    @classmethod
    def weights_arch(cls, net_kwargs: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(torchvision builder name, timm model name) that weights names resolve against."""
        return cls.torchvision_arch, cls.timm_arch

    @property
    def gradcam_layer(self) -> nn.Module:
        raise NotImplementedError

    def foreign_key(self, key: str) -> str | None:
        """This network's name for `key` of a foreign state_dict (torchvision, timm, the paper's code);
        None drops the tensor (a part the architecture truncates)."""
        return key

    def load_foreign(self, path: Path, state: dict[str, torch.Tensor]) -> LoadReport:
        """Loads a state_dict whose names are not (all) this network's own."""
        from fer_lightning.models.weights import load_state

        return load_state(self, state, source=str(path))
