"""`open_checkpoint`: a trained checkpoint with what it was trained with, for the post-training CLIs
(robustness, predict, export).

A training run writes `<run_dir>/checkpoints/best.ckpt` and Hydra saves its composed config in
`<run_dir>/.hydra/config.yaml`. The model comes back from the checkpoint's hyper-parameters alone; the
data and the evaluation views (crop size, ten-crop) come from that saved config when it is there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from fer_lightning.data.augmentation import AugmentationSpec
from fer_lightning.module import FERClassifier

RUN_CONFIG = Path(".hydra") / "config.yaml"


@dataclass(frozen=True)
class OpenedCheckpoint:
    """module: the classifier in eval mode; cfg: the CLI's config with the run's groups merged in;
    augmentation: the views to evaluate with; run_config: whether the run's saved config was used."""

    path: Path
    module: FERClassifier
    cfg: DictConfig
    augmentation: AugmentationSpec
    run_config: bool


def open_checkpoint(
    cfg: DictConfig,
    task_overrides: Sequence[str] = (),
    groups: Iterable[str] = ("augmentation",),
    device: torch.device | str = "cpu",
) -> OpenedCheckpoint:
    """Load `cfg.ckpt_path` on `device`; with `cfg.from_run`, take `groups` from the run's saved config
    (a group or key given in `task_overrides` still wins); build the augmentation and check that its
    crops are the size the network was built for."""
    module = load_classifier(cfg.ckpt_path, device)
    run_cfg = load_run_config(cfg.ckpt_path) if cfg.from_run else None
    if run_cfg is not None:
        cfg = with_run_config(cfg, run_cfg, task_overrides, groups)
    spec: AugmentationSpec = instantiate(cfg.augmentation)
    check_views(module.hparams.model, spec, cfg.ckpt_path)
    return OpenedCheckpoint(Path(cfg.ckpt_path).resolve(), module, cfg, spec, run_cfg is not None)


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


def load_classifier(ckpt_path: str | Path, device: torch.device | str = "cpu") -> FERClassifier:
    """FERClassifier from a Lightning checkpoint, in eval mode on `device`."""
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
