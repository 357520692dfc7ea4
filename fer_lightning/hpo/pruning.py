"""`OptunaTrialCallback`: a training job's side of an Optuna trial.

The Optuna sweeper adds it to every trial's config (`callbacks.optuna_trial`). After each validation
epoch it reports the monitored metric to the trial in the storage, fails the run when a watched loss is
NaN or infinite, and stops the run when the pruner says so. It works in any process the launcher picks
(in-process, submitit, SLURM), since it reaches the trial through the storage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import optuna
import pytorch_lightning as pl
from pytorch_lightning.trainer.states import TrainerFn

from fer_lightning.hpo.study import PRUNED_AT
from fer_lightning.hpo.trials import attach_trial


class OptunaTrialCallback(pl.Callback):
    """Report `monitor` to trial `trial_number` of `study_name` after every validation epoch (step = epoch).

    When `pruner` decides to prune, the decision of rank 0 is broadcast, every rank stops at the end of
    the epoch (no rank is left waiting in a collective), the epoch is recorded on the trial
    (`pruned_at_epoch`, read by the sweeper to tell the study PRUNED) and `optuna.TrialPruned` is raised
    from `on_train_end`, so the run ends without its final evaluation and its results.json records why.
    """

    def __init__(
        self,
        storage: str,
        study_name: str,
        trial_number: int,
        monitor: str = "val/acc",
        pruner: optuna.pruners.BasePruner | None = None,
        check_finite: Sequence[str] = ("val/loss",),
    ) -> None:
        self.storage = storage
        self.study_name = study_name
        self.trial_number = trial_number
        self.monitor = monitor
        self.pruner = pruner
        self.check_finite = tuple(check_finite)
        self.pruned_epoch: int | None = None
        self._pruned_value = math.nan
        self._trial: optuna.trial.Trial | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            self._trial = attach_trial(self.storage, self.study_name, self.trial_number, self.pruner)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # on_validation_end runs after the module has logged its epoch metrics (on_validation_epoch_end
        # of callbacks runs before the module's); skip the sanity check and the post-fit evaluation.
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        epoch = trainer.current_epoch
        metrics = trainer.callback_metrics
        if self.monitor not in metrics:
            raise ValueError(
                f"OptunaTrialCallback: monitor {self.monitor!r} was not logged; logged: {sorted(metrics)}"
            )
        for key in (*self.check_finite, self.monitor):
            if key in metrics and not math.isfinite(float(metrics[key])):
                raise FloatingPointError(
                    f"{key} = {float(metrics[key])} after epoch {epoch}: the run diverged"
                )
        value = float(metrics[self.monitor])
        prune = False
        if trainer.is_global_zero:
            assert self._trial is not None, "on_fit_start attaches the trial"
            self._trial.report(value, step=epoch)
            prune = self._trial.should_prune()
            if prune:
                self._trial.set_user_attr(PRUNED_AT, epoch)
        if trainer.strategy.broadcast(prune, src=0):
            self.pruned_epoch = epoch
            self._pruned_value = value
            trainer.should_stop = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.pruned_epoch is not None:
            raise optuna.TrialPruned(
                f"trial {self.trial_number} of study {self.study_name!r} pruned after epoch {self.pruned_epoch} "
                f"({self.monitor} = {self._pruned_value:.4f})"
            )
