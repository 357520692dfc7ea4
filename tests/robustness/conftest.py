"""One small real training run shared by the robustness, predict and export tests: `python -m fer_lightning`
on synthetic faces with the robustness callback switched on by config and W&B offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_app

# Learnable in seconds: easy synthetic faces, centre crop only, Adam, 3 epochs of a 1/8-width VGGNet.
RUN_ARGS = [
    "trainer=cpu",
    "trainer.max_epochs=3",
    "trainer.enable_progress_bar=false",
    "trainer.num_sanity_val_steps=0",
    "data.source.n=1000",
    "+data.source.difficulty=0.5",
    "data.num_workers=0",
    "data.batch_size=32",
    "model.net.width=0.125",
    "augmentation=none",
    "augmentation.ten_crop=false",
    "optimizer=adam",
    "scheduler=constant",
    "callbacks=[default,robustness]",
    "callbacks.robustness.severities=[1,5]",
    "logger=wandb",
]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder: checkpoints/best.ckpt, .hydra/config.yaml, results.json, robustness/, wandb/."""
    work = tmp_path_factory.mktemp("robustness_run")
    run_dir = work / "run"
    proc = run_app([*RUN_ARGS, f"hydra.run.dir={run_dir}"], work)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return run_dir
