"""`RobustnessCallback`: the corruption suite on the test split, with the checkpoint the test stage ran.

It runs in `on_test_epoch_end` rather than `on_test_end` so that its summary can be logged with
`pl_module.log`: the numbers then come back from `trainer.test` like every other test metric, reach
`results.json` (`test.robustness_mca`, ...) and every logger, and a sweep compares them without reading
another file. Only rank 0 runs the suite (`rank_zero_only` logging, no collective).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from fer_lightning.results import ROBUSTNESS_PREFIX
from fer_lightning.robustness.corruptions import SEVERITIES
from fer_lightning.robustness.report import write_report
from fer_lightning.robustness.suite import run_suite
from fer_lightning.tracking.media import held_out_faces, log_to_wandb


def summary_metrics(result: dict[str, Any], prefix: str = f"test/{ROBUSTNESS_PREFIX}") -> dict[str, float]:
    """The scalar summary of a suite result: mCA, relative drop, clean accuracy and each family's mean."""
    metrics = {
        f"{prefix}mca": result["mean_corruption_acc"],
        f"{prefix}clean_acc": result["clean_acc"],
        **{f"{prefix}{family}": fam["mean_acc"] for family, fam in result["families"].items()},
    }
    if result["relative_drop"] is not None:
        metrics[f"{prefix}rel_drop"] = result["relative_drop"]
    return metrics


def table_rows(result: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Long format (one row per corruption and severity) for a W&B table."""
    columns = ["family", "corruption", "severity", "level", "unit", "accuracy", "rel_drop"]
    rows = []
    for name, row in result["corruptions"].items():
        for k, s in enumerate(result["severities"]):
            rows.append(
                [row["family"], name, s, row["levels"][k], row["unit"], row["acc"][k], row["rel_drop"][k]]
            )
    return columns, rows


class RobustnessCallback(pl.Callback):
    """After testing: clean vs corrupted accuracy of the tested checkpoint on `trainer.datamodule.test_data`.

    Writes robustness.json / .md / .png / _examples.png into `out_dir`, logs `test/robustness_*` scalars,
    and the table and figures to every W&B logger. `max_images` caps the faces (a seeded draw) for CPU runs:
    the suite is one evaluation of the split per corruption and severity (76 with the defaults).
    """

    def __init__(
        self,
        out_dir: str | Path,
        corruptions: Sequence[str] | None = None,
        severities: Sequence[int] = SEVERITIES,
        seed: int = 0,
        max_images: int | None = None,
        batch_size: int = 256,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.corruptions = list(corruptions) if corruptions is not None else None
        self.severities = [int(s) for s in severities]
        self.seed = seed
        self.max_images = max_images
        self.batch_size = batch_size
        self.result: dict[str, Any] | None = None

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        data = held_out_faces(trainer, type(self).__name__)
        self.result = run_suite(
            pl_module,
            data,
            trainer.datamodule.eval_views,
            corruptions=self.corruptions,
            severities=self.severities,
            seed=self.seed,
            batch_size=self.batch_size,
            device=pl_module.device,
            forward_context=trainer.precision_plugin.forward_context,
            max_images=self.max_images,
        )
        splits = getattr(trainer.datamodule, "roles", {}).get("test")
        if splits:
            self.result["splits"] = list(splits)
        title = f"test split {'+'.join(splits)}" if splits else "test split"
        paths = write_report(self.result, self.out_dir, face=data.images[0], title=title)
        for key, value in summary_metrics(self.result).items():
            pl_module.log(key, value, rank_zero_only=True)

        def payload(wandb) -> dict[str, Any]:
            columns, rows = table_rows(self.result)
            return {
                "robustness/table": wandb.Table(columns=columns, data=rows),
                "robustness/plot": wandb.Image(str(paths["plot"])),
                "robustness/examples": wandb.Image(str(paths["examples"])),
            }

        log_to_wandb(trainer, payload)
