"""What the media callbacks share: the W&B loggers of a trainer, the faces they show, the figures folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger

from fer_lightning.data.arrays import FERArrays


def wandb_loggers(trainer: pl.Trainer) -> list[WandbLogger]:
    return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]


def log_to_wandb(trainer: pl.Trainer, build: Callable[[ModuleType], dict[str, Any]]) -> None:
    """Log `build(wandb)` to every WandbLogger of `trainer`, at the trainer's global step.

    `build` runs only when there is a W&B logger, so a run without W&B never imports wandb.
    WandbLogger.log_metrics adds `trainer/global_step`, the x-axis it defines for every key.
    """
    loggers = wandb_loggers(trainer)
    if not loggers:
        return
    import wandb

    payload = build(wandb)
    for logger in loggers:
        logger.log_metrics(payload, step=trainer.global_step)


def held_out_faces(trainer: pl.Trainer, owner: str) -> FERArrays:
    """`trainer.datamodule.test_data`, with an error naming the callback when it is not there."""
    data = getattr(getattr(trainer, "datamodule", None), "test_data", None)
    if not isinstance(data, FERArrays):
        raise RuntimeError(
            f"{owner} needs trainer.datamodule.test_data (FERArrays, set by the datamodule's setup); "
            f"got {type(data).__name__}"
        )
    return data


def first_per_class(labels: np.ndarray, per_class: int, num_classes: int) -> np.ndarray:
    """Indices of the first `per_class` images of each class, class by class: the same faces in every run
    on the same split, so saliency grids compare across runs. Classes with fewer images give what they have."""
    if per_class < 1:
        raise ValueError(f"per_class={per_class}: expected at least 1 face per class")
    picks = [np.flatnonzero(labels == c)[:per_class] for c in range(num_classes)]
    return np.concatenate(picks).astype(np.int64)


def figures_dir(out_dir: str | Path) -> Path:
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path
