"""What every architecture shares: an input adapter in front, a `head` behind, and how a state_dict with
other names (torchvision, timm, the paper's code) maps onto it (`load_state`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn


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
        return load_state(self, state, source=str(path))


@dataclass
class LoadReport:
    """What a load did, by this network's state_dict names (dropped: the file's names)."""

    loaded: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    kept_init: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def _module_prefix(net: FERNet, module: torch.nn.Module) -> str:
    for name, sub in net.named_modules():
        if sub is module:
            return f"{name}."
    raise ValueError(f"{type(net).__name__}.head is not a submodule of the network")


def _rgb_to_gray(value: torch.Tensor, target: torch.Tensor) -> bool:
    same_filters = value.shape[:1] + value.shape[2:] == target.shape[:1] + target.shape[2:]
    return value.ndim == 4 and value.shape[1] == 3 and target.shape[1] == 1 and same_filters


def load_state(net: FERNet, state: dict[str, torch.Tensor], source: str) -> LoadReport:
    """Loads `state` into `net`: names mapped by `net.foreign_key`, an RGB first conv summed over its
    input channels (as timm's adapt_input_conv does for one channel, so a gray image replicated in RGB
    gets the same response), head tensors of another shape left at init. Any other mismatch, and any
    tensor outside the head that the file lacks, is an error."""
    own = net.state_dict()
    head = _module_prefix(net, net.head)
    report = LoadReport()
    loadable: dict[str, torch.Tensor] = {}
    problems: list[str] = []
    for key, value in state.items():
        name = key if key in own else net.foreign_key(key)
        if name is None:
            report.dropped.append(key)
        elif name not in own:
            problems.append(f"{key!r}: no such tensor in {type(net).__name__}")
        elif value.shape == own[name].shape:
            loadable[name] = value
        elif _rgb_to_gray(value, own[name]):
            loadable[name] = value.sum(dim=1, keepdim=True)
            report.adapted.append(name)
        elif not name.startswith(head):
            problems.append(f"{key!r}: file {tuple(value.shape)} vs model {tuple(own[name].shape)}")
    for name in own:
        if name in loadable:
            report.loaded.append(name)
        elif name.startswith((head, "input_adapter.")) or name.endswith("num_batches_tracked"):
            report.kept_init.append(name)
        else:
            problems.append(f"{name!r}: missing from the file")
    if problems:
        shown = "; ".join(problems[:8]) + (f"; ... {len(problems) - 8} more" if len(problems) > 8 else "")
        raise ValueError(f"model.pretrained={source}: does not fit {type(net).__name__}: {shown}")
    net.load_state_dict(loadable, strict=False)
    return report
