"""`FERClassifier`: one LightningModule for every architecture.

Training loss is over every crop (a batch of 64 images with ten-crop is 640 samples, as in Khaireddin &
Chen's code); evaluation averages the logits over the crops. Everything the checkpoint needs to rebuild
the model (model, optimizer and scheduler configs) is saved as plain hyper-parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torchmetrics import MaxMetric, MeanMetric, Metric, MetricCollection, SumMetric
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassRecall,
)
from torchmetrics.wrappers import ClasswiseWrapper

from fer_lightning.data.sampling import IGNORE_LABEL
from fer_lightning.fer2013 import EMOTIONS
from fer_lightning.models import build_net, param_groups

EVAL_STAGES = ("val", "test")


def _eval_metrics(class_names: Sequence[str]) -> MetricCollection:
    n = len(class_names)
    kw = {"num_classes": n, "ignore_index": IGNORE_LABEL}
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(average="micro", **kw),
            "f1_macro": MulticlassF1Score(average="macro", **kw),
            "top2_acc": MulticlassAccuracy(average="micro", top_k=2, **kw),
            "recall": ClasswiseWrapper(
                MulticlassRecall(average=None, **kw), labels=list(class_names), prefix="recall_"
            ),
        },
        # Compute groups would share the recall wrapper's state with F1 and warn on every epoch that the
        # wrapper was never updated; four small metrics cost nothing to update separately.
        compute_groups=False,
    )


class FERClassifier(pl.LightningModule):
    """Classifier over `(x [B, V, 1, c, c], y [B])` batches.

    model: the `model` config group (`net` to instantiate, plus `pretrained`, `freeze`, `backbone_lr`,
    `compile`, `channels_last`); optimizer: a `_partial_` optimizer config; scheduler: the `scheduler`
    config group (`scheduler` partial or null, `interval`, `monitor`, `total_steps_arg`).
    """

    def __init__(
        self,
        model: Mapping[str, Any],
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        class_names: Sequence[str] = EMOTIONS,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model_cfg = OmegaConf.create(dict(model))
        self.net = build_net(self.model_cfg)
        self.channels_last = bool(self.model_cfg.get("channels_last", False))
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        # The compiled wrapper is kept outside the module tree, so state_dict keys are the same with and
        # without `model.compile` and either kind of checkpoint loads into either kind of model.
        self._compiled: list[nn.Module] = [torch.compile(self.net)] if self.model_cfg.get("compile") else []
        self.class_names = tuple(class_names)
        n = len(self.class_names)
        self.train_loss = MeanMetric()
        self.train_acc = MulticlassAccuracy(num_classes=n, average="micro")
        self.eval_loss = nn.ModuleDict({s: MeanMetric() for s in EVAL_STAGES})
        # Images scored, summed over processes: shows that every image of the split counts exactly once.
        self.eval_count = nn.ModuleDict({s: SumMetric() for s in EVAL_STAGES})
        self.metrics = nn.ModuleDict(
            {s: _eval_metrics(self.class_names).clone(prefix=f"{s}/") for s in EVAL_STAGES}
        )
        self.confusion = nn.ModuleDict(
            {s: MulticlassConfusionMatrix(num_classes=n, ignore_index=IGNORE_LABEL) for s in EVAL_STAGES}
        )
        self.val_acc_best = MaxMetric()

    def setup(self, stage: str) -> None:
        # ddp_spawn on the CPU hands the module to its processes through torch.multiprocessing, which moves
        # every tensor into shared memory. Lightning copies parameters and buffers back out
        # (lightning_fabric's _disable_module_memory_sharing), not torchmetrics' states: the processes
        # would add into one count and every image would be scored twice. Each process gets its own.
        for metric in self.modules():
            if isinstance(metric, Metric):
                for name, value in metric.metric_state.items():
                    if isinstance(value, torch.Tensor) and value.is_shared():
                        setattr(metric, name, value.clone())

    # -- forward ------------------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """float [B, 1, h, w] -> logits [B, classes]."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        net = self._compiled[0] if self._compiled else self.net
        return net(x)

    def predict_views(self, x: torch.Tensor) -> torch.Tensor:
        """float [B, V, 1, h, w] -> logits averaged over the V crops (the paper's test-time ten-crop)."""
        b, v = x.shape[:2]
        return self(x.flatten(0, 1)).view(b, v, -1).mean(dim=1)

    # -- steps --------------------------------------------------------------------------------------------

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        views = x.shape[1]
        logits = self(x.flatten(0, 1))
        targets = y.repeat_interleave(views)
        loss = F.cross_entropy(logits, targets)
        # Metric objects accumulate on the device; nothing here waits for the host.
        self.train_loss.update(loss.detach())
        self.train_acc.update(logits.detach(), targets)
        self.log("train/loss_step", loss.detach(), on_step=True, on_epoch=False)
        self.log("train/loss", self.train_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def on_train_epoch_end(self) -> None:
        # Logged here rather than by LearningRateMonitor, which refuses to run without a logger.
        for group in self.optimizers().param_groups:
            # Named groups come from model.backbone_lr (backbone vs head).
            self.log(f"lr/{group['name']}" if "name" in group else "lr", group["lr"])

    def _eval_step(self, stage: str, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        x, y = batch
        logits = self.predict_views(x)
        valid = (y != IGNORE_LABEL).sum()
        loss = F.cross_entropy(logits.float(), y, ignore_index=IGNORE_LABEL, reduction="sum")
        # Padded rows (DDP shards of unequal length) carry IGNORE_LABEL and weigh nothing.
        self.eval_loss[stage].update(loss / valid.clamp(min=1), weight=valid)
        self.eval_count[stage].update(valid)
        self.metrics[stage].update(logits, y)
        self.confusion[stage].update(logits, y)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step("val", batch)

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step("test", batch)

    def _eval_epoch_end(self, stage: str) -> dict[str, torch.Tensor]:
        values = self.metrics[stage].compute()
        values[f"{stage}/loss"] = self.eval_loss[stage].compute()
        values[f"{stage}/n_images"] = self.eval_count[stage].compute()
        self.log_dict({k: v for k, v in values.items() if k != f"{stage}/acc"})
        self.log(f"{stage}/acc", values[f"{stage}/acc"], prog_bar=True)
        self.metrics[stage].reset()
        self.eval_loss[stage].reset()
        self.eval_count[stage].reset()
        self.confusion[stage].reset()
        return values

    def on_validation_epoch_end(self) -> None:
        values = self._eval_epoch_end("val")
        if not self.trainer.sanity_checking:
            self.val_acc_best.update(values["val/acc"])
            self.log("val/acc_best", self.val_acc_best.compute())

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    # -- optimisation -------------------------------------------------------------------------------------

    @property
    def monitorable(self) -> set[str]:
        """The metrics a scheduler or checkpoint may watch: what this module logs once per epoch in fit,
        but the learning rate (tests/test_guards.py compares it with what a fit logs)."""
        names = {
            "train/loss",
            "train/acc",
            "val/loss",
            "val/acc",
            "val/acc_best",
            "val/f1_macro",
            "val/top2_acc",
            "val/n_images",
        }
        return names | {f"val/recall_{c}" for c in self.class_names}

    def configure_optimizers(self):
        opt_cfg = OmegaConf.create(dict(self.hparams.optimizer))
        groups = param_groups(self.net, lr=opt_cfg.lr, backbone_lr=self.model_cfg.get("backbone_lr"))
        optimizer = instantiate(opt_cfg)(params=groups)
        sched = self.hparams.scheduler
        if sched is None or sched.get("scheduler") is None:
            return optimizer
        sched = sched if isinstance(sched, DictConfig) else OmegaConf.create(dict(sched))
        kwargs = {}
        if sched.get("total_steps_arg"):
            # OneCycleLR needs the run's length, known only once the trainer has its data.
            kwargs[sched.total_steps_arg] = int(self.trainer.estimated_stepping_batches)
        scheduler = instantiate(sched.scheduler)(optimizer, **kwargs)
        config = {"scheduler": scheduler, "interval": sched.interval, "frequency": 1}
        if sched.get("monitor"):
            config["monitor"] = sched.monitor
        return {"optimizer": optimizer, "lr_scheduler": config}
