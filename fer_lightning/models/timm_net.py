"""Any timm model (`model=timm model.net.name=convnext_atto`) on gray faces.

timm is imported when a TimmNet is built, not with the package: it takes seconds to import.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fer_lightning.fer2013 import NUM_CLASSES
from fer_lightning.models.base import FERNet, InputAdapter, LoadReport


class TimmNet(FERNet):
    """`timm.create_model(name, num_classes, in_chans, drop_rate=dropout, **timm_kwargs)` behind an
    input adapter; `head` is timm's classifier. Foreign weights load through timm's own
    `load_pretrained`, which sums an RGB first conv for one channel and drops a classifier of another
    class count."""

    def __init__(
        self,
        name: str,
        num_classes: int = NUM_CLASSES,
        in_chans: int = 1,
        dropout: float = 0.0,
        resize_to: int | None = None,
        **timm_kwargs: Any,
    ) -> None:
        super().__init__()
        import timm

        if not timm.is_model(name):
            raise ValueError(f"model.net.name={name!r} is not a timm model (timm.list_models() lists them)")
        self.num_classes, self.in_chans = num_classes, in_chans
        self.input_adapter = InputAdapter(resize_to)
        self.model = timm.create_model(
            name,
            pretrained=False,
            num_classes=num_classes,
            in_chans=in_chans,
            drop_rate=dropout,
            **timm_kwargs,
        )

    @classmethod
    def weights_arch(cls, net_kwargs: Mapping[str, Any]) -> tuple[str | None, str | None]:
        return None, net_kwargs["name"]

    @property
    def head(self) -> nn.Module:
        return self.model.get_classifier()

    @property
    def gradcam_layer(self) -> nn.Module:
        return self.model.get_submodule(self.model.feature_info[-1]["module"])

    def load_foreign(self, path: Path, state: dict[str, torch.Tensor]) -> LoadReport:
        import timm

        cfg = dict(self.model.pretrained_cfg)
        # timm's loader is not strict when it drops the classifier: check first that nothing else is missing.
        classifier = {f"{name}.{p}" for name in [cfg.get("classifier")] if name for p in ("weight", "bias")}
        missing = [
            k
            for k in self.model.state_dict()
            if k not in state and k not in classifier and not k.endswith("num_batches_tracked")
        ]
        if missing:
            raise ValueError(
                f"model.pretrained={path}: does not fit timm {cfg.get('architecture')}: missing {missing[:8]}"
            )
        before = {k: v.clone() for k, v in self.state_dict().items()}
        timm.models.load_pretrained(
            self.model,
            pretrained_cfg={**cfg, "file": str(path)},
            num_classes=self.num_classes,
            in_chans=self.in_chans,
        )
        after = self.state_dict()
        report = LoadReport(dropped=[k for k in state if f"model.{k}" not in after])
        for k, v in after.items():
            (report.kept_init if torch.equal(before[k], v) else report.loaded).append(k)
        first_conv = cfg.get("first_conv")
        first = state.get(f"{first_conv}.weight") if isinstance(first_conv, str) else None
        if first is not None and first.shape[1] != self.in_chans:
            report.adapted.append(f"model.{first_conv}.weight")
        return report

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.input_adapter(x))
