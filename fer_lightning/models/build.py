"""From the `model` config group to a network: instantiate, load pretrained weights, freeze; and the
optimizer parameter groups that give a pretrained backbone its own learning rate."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf
from torch import nn

from fer_lightning.models.base import FERNet
from fer_lightning.models.weights import load_pretrained, resolve_weights

log = logging.getLogger(__name__)

# compile and channels_last are read by FERClassifier, not here.
MODEL_KEYS = frozenset({"net", "pretrained", "freeze", "backbone_lr", "compile", "channels_last"})
# Keys that configs once carried and nothing read (0.1's `name`): accepted, so their checkpoints load.
UNREAD_KEYS = frozenset({"name"})


def build_net(model_cfg: DictConfig) -> FERNet:
    """Instantiates `model_cfg.net`, loads `model_cfg.pretrained` (a file, or a weights name looked up in
    the local torchvision/timm caches) and applies `model_cfg.freeze`.

    Named weights bring the input size they were trained at: a net whose `resize_to` is null gets it
    (set `resize_to` to the crop size to keep the input as it is).
    """
    unknown = sorted(set(model_cfg) - MODEL_KEYS - UNREAD_KEYS)
    if unknown:
        raise ValueError(f"model config: unknown keys {unknown}; expected some of {sorted(MODEL_KEYS)}")
    if model_cfg.get("net") is None:
        raise ValueError("model config: missing 'net' (the network's _target_ and arguments)")
    net_kwargs: dict[str, Any] = OmegaConf.to_container(model_cfg.net, resolve=True)
    spec = model_cfg.get("pretrained")
    source = None
    if spec is not None:
        cls = hydra.utils.get_class(net_kwargs["_target_"])
        tv_arch, timm_arch = cls.weights_arch(net_kwargs)
        source = resolve_weights(str(spec), torchvision_arch=tv_arch, timm_arch=timm_arch)
        if source.input_size is not None and "resize_to" in net_kwargs and net_kwargs["resize_to"] is None:
            net_kwargs["resize_to"] = source.input_size
    net = hydra.utils.instantiate(net_kwargs)
    if not isinstance(net, FERNet):
        raise TypeError(
            f"model.net._target_={net_kwargs['_target_']} built a {type(net).__name__}, not a FERNet"
        )
    if source is not None:
        load_pretrained(net, source)
    apply_freeze(net, model_cfg.get("freeze"))
    return net


def _head_ids(net: FERNet) -> set[int]:
    return {id(p) for p in net.head.parameters()}


def apply_freeze(net: FERNet, freeze: str | Sequence[str] | None) -> None:
    """freeze: null; "backbone" (everything but `net.head`); or parameter-name prefixes ("layer1",
    ["features.0", "features.1"])."""
    if freeze is None:
        return
    if freeze == "backbone":
        head = _head_ids(net)
        for p in net.parameters():
            if id(p) not in head:
                p.requires_grad_(False)
        return
    prefixes = [freeze] if isinstance(freeze, str) else list(freeze)
    named = dict(net.named_parameters())
    for prefix in prefixes:
        hit = [n for n in named if n == prefix or n.startswith(f"{prefix}.")]
        if not hit:
            top = sorted({n.split(".")[0] for n in named})
            raise ValueError(
                f"model.freeze: no parameters under {prefix!r}; use 'backbone' or a prefix of {top}"
            )
        for n in hit:
            named[n].requires_grad_(False)


def param_groups(net: nn.Module, lr: float, backbone_lr: float | None) -> list[dict[str, Any]]:
    """The trainable parameters as optimizer groups: one at `lr`, or "backbone" at `backbone_lr` and
    "head" (`net.head`) at `lr`. Group names show up in Lightning's LearningRateMonitor."""
    trainable = [p for p in net.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("model.freeze left no trainable parameters")
    if backbone_lr is None:
        return [{"params": trainable, "lr": lr}]
    head = _head_ids(net)
    groups = [
        {"name": "backbone", "params": [p for p in trainable if id(p) not in head], "lr": backbone_lr},
        {"name": "head", "params": [p for p in trainable if id(p) in head], "lr": lr},
    ]
    return [g for g in groups if g["params"]]
