"""Callbacks and runners that tests plug into real runs through config overrides."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytorch_lightning as pl

ROOT = Path(__file__).resolve().parents[1]


class RaiseAtEpochEnd(pl.Callback):
    """Simulates a crash after epoch `epoch` has been validated and checkpointed; with `interrupt`, a
    Ctrl-C there instead."""

    def __init__(self, epoch: int, interrupt: bool = False) -> None:
        self.epoch = epoch
        self.interrupt = interrupt

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            if self.interrupt:
                raise KeyboardInterrupt
            raise RuntimeError(f"planted crash at the end of epoch {self.epoch}")


class RecordEpochs(pl.Callback):
    """Appends each epoch that starts to <path> (JSON list), so a test can see where a resume began."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seen = json.loads(self.path.read_text()) if self.path.exists() else []
        self.path.write_text(json.dumps([*seen, trainer.current_epoch]))


def run_app(
    args: list[str], tmp_path: Path, module: str = "fer_lightning", timeout: int = 600
) -> subprocess.CompletedProcess:
    """`python -m <module> args...` in a subprocess with W&B kept offline in tmp_path."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}",
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        OMP_NUM_THREADS="1",
        **{
            v: str(tmp_path / "wandb_home")
            for v in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR")
        },
    )
    env.pop("WANDB_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
