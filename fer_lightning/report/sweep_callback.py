"""Hydra callback that writes the sweep report into the sweep folder when a multirun ends.

Registered in conf/hydra/default.yaml (`hydra.callbacks.sweep_report`). It runs in the process that
launched the sweep, also with remote launchers, after every job has returned: `fer_lightning.__main__`
turns a failed job into a NaN return, so a failure does not skip the report.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class SweepReportCallback(Callback):
    """`report.md`, `runs.csv` and heatmaps in `hydra.sweep.dir` at the end of a multirun; with
    `every_job` also after each job, so a long sweep has a current report while it runs."""

    def __init__(self, every_job: bool = False) -> None:
        self.every_job = every_job

    def _write(self, sweep_dir: Path) -> None:
        # Imported here: Hydra creates this callback at every start of every app (predict, export...),
        # and the report's pandas and matplotlib are needed only when a multirun ends.
        from fer_lightning.report.document import write_report

        try:
            files = write_report([sweep_dir], sweep_dir)
        except Exception:
            log.error("sweep report failed; rerun it with: python -m fer_lightning.report %s", sweep_dir)
            raise
        log.info("sweep report: %s", files.markdown)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._write(Path(config.hydra.sweep.dir))

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if self.every_job and config.hydra.mode == RunMode.MULTIRUN:
            self._write(Path(config.hydra.sweep.dir))
