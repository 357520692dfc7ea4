"""Confusion matrices: validation every epoch, test once, from the module's DDP-synchronised counts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.trainer.states import TrainerFn

from fer_lightning.fer2013 import EMOTIONS
from fer_lightning.plotting import save_png
from fer_lightning.tracking.figures import confusion_figure
from fer_lightning.tracking.media import figures_dir, log_to_wandb


class ConfusionMatrixCallback(pl.Callback):
    """Row-normalised confusion-matrix image per validation epoch and after testing, as PNG (rank 0) and
    on every W&B logger; the test matrix also as W&B's interactive chart.

    Reads `pl_module.confusion[stage]` (torchmetrics MulticlassConfusionMatrix). Its `compute()` is a
    collective under DDP, so every rank calls it; the module resets it in its own epoch-end hook, which
    Lightning runs after the callbacks'.
    """

    def __init__(
        self, out_dir: str | Path, class_names: Sequence[str] = EMOTIONS, every_n_epochs: int = 1
    ) -> None:
        self.out_dir = Path(out_dir)
        self.class_names = tuple(class_names)
        self.every_n_epochs = every_n_epochs

    def _counts(self, pl_module: pl.LightningModule, stage: str) -> np.ndarray:
        return pl_module.confusion[stage].compute().detach().cpu().numpy().astype(np.int64)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # The sanity check runs a few batches of an untrained model through these hooks too.
        if trainer.sanity_checking:
            return
        validating = trainer.state.fn == TrainerFn.VALIDATING
        if not validating and (self.every_n_epochs < 1 or (trainer.current_epoch + 1) % self.every_n_epochs):
            return
        counts = self._counts(pl_module, "val")
        if not trainer.is_global_zero:
            return
        if validating:
            # trainer.validate(ckpt_path=...) after fit: the val numbers results.json reports.
            ckpt = Path(trainer.ckpt_path).name if trainer.ckpt_path else "in-memory weights"
            path = self._write(counts, "confusion_val_checkpoint.png", f"val, checkpoint {ckpt}")
            log_to_wandb(trainer, lambda wandb: {"val/confusion_matrix_checkpoint": wandb.Image(str(path))})
            return
        # One PNG, replaced each epoch: the W&B run keeps the history, the folder the latest state.
        path = self._write(counts, "confusion_val.png", f"val, epoch {trainer.current_epoch}")
        log_to_wandb(trainer, lambda wandb: {"val/confusion_matrix": wandb.Image(str(path))})

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        counts = self._counts(pl_module, "test")
        if not trainer.is_global_zero:
            return
        ckpt = Path(trainer.ckpt_path).name if trainer.ckpt_path else "in-memory weights"
        path = self._write(counts, "confusion_test.png", f"test, checkpoint {ckpt}")
        names = self.class_names

        def payload(wandb) -> dict:
            rows = [
                [names[i], names[j], int(counts[i, j])] for i in range(len(names)) for j in range(len(names))
            ]
            # wandb.plot.confusion_matrix wants per-sample lists; the counts are already reduced across
            # processes, so the table behind that chart (same columns, same Vega spec) is built from them.
            table = wandb.Table(columns=["Actual", "Predicted", "nPredictions"], data=rows)
            chart = wandb.plot_table(
                "wandb/confusion_matrix/v1",
                table,
                {"Actual": "Actual", "Predicted": "Predicted", "nPredictions": "nPredictions"},
                {"title": "test confusion matrix"},
            )
            return {
                "test/confusion_matrix": wandb.Image(str(path)),
                "test/confusion_matrix_interactive": chart,
            }

        log_to_wandb(trainer, payload)

    def _write(self, counts: np.ndarray, filename: str, title: str) -> Path:
        path = save_png(
            confusion_figure(counts, self.class_names, title), figures_dir(self.out_dir) / filename
        )
        np.savetxt(
            path.with_suffix(".csv"), counts, fmt="%d", delimiter=",", header=",".join(self.class_names)
        )
        return path
