"""Rebuild what a checkpoint was trained with, for the post-training CLIs (robustness, predict, export).

A training run writes `<run_dir>/checkpoints/best.ckpt` and Hydra saves its composed config in
`<run_dir>/.hydra/config.yaml`. The model comes back from the checkpoint's hyper-parameters alone; the
data and the evaluation views (crop size, ten-crop) come from that saved config when it is there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from fer_lightning.data.augmentation import AugmentationSpec

RUN_CONFIG = Path(".hydra") / "config.yaml"


def run_config_path(ckpt_path: str | Path) -> Path:
    """Where Hydra saved the config of the run that wrote `ckpt_path` (<run_dir>/checkpoints/x.ckpt)."""
    return Path(ckpt_path).resolve().parent.parent / RUN_CONFIG


def load_run_config(ckpt_path: str | Path) -> DictConfig | None:
    """The saved config of the checkpoint's run, or None when the checkpoint lives outside a run folder."""
    path = run_config_path(ckpt_path)
    return OmegaConf.load(path) if path.is_file() else None


def with_run_config(
    cfg: DictConfig,
    run_cfg: DictConfig,
    task_overrides: Sequence[str],
    groups: Iterable[str] = ("data", "augmentation"),
) -> DictConfig:
    """`cfg` with the run's `groups` nodes, so a checkpoint is evaluated on the data and views it was trained
    with. A group chosen on the command line (`data=fer2013`) keeps the composed node instead; dotted
    overrides (`data.test_splits=[PrivateTest]`) are applied again on top of whichever node is used."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(task_overrides))
    chosen = {o.key_or_group for o in parsed}
    out = cfg.copy()
    with open_dict(out):
        for group in groups:
            if group not in chosen and group in run_cfg:
                out[group] = run_cfg[group]
        for o in parsed:
            root = o.key_or_group.split(".")[0]
            if root in groups and "." in o.key_or_group and root not in chosen and not o.is_delete():
                OmegaConf.update(out, o.key_or_group, o.value(), merge=False)
    return out


def resolve_device(name: str) -> torch.device:
    """`auto`: the GPU when there is one, else the CPU; otherwise any torch device string."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_classifier(ckpt_path: str | Path, device: torch.device | str = "cpu"):
    """FERClassifier from a Lightning checkpoint, in eval mode on `device`."""
    from fer_lightning.module import FERClassifier

    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={str(ckpt_path)!r}: no such checkpoint file")
    module = FERClassifier.load_from_checkpoint(path, map_location=torch.device(device))
    return module.eval()


def check_views(hparams_model: Mapping, spec: AugmentationSpec, ckpt_path: str | Path) -> None:
    """The evaluation crops must be the size the network was built for (when its config records one)."""
    expected = (hparams_model.get("net") or {}).get("input_size")
    if expected is not None and int(expected) != spec.crop_size:
        raise ValueError(
            f"{ckpt_path}: the network takes {expected}x{expected} crops but augmentation.crop_size="
            f"{spec.crop_size}; evaluate with the augmentation it was trained with (augmentation=...)"
        )
