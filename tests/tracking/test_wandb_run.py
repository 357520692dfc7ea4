"""The W&B run lifecycle: offline without a key, one run per job, failed runs finished as failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import wandb

from fer_lightning.tracking import close_loggers, make_wandb_logger
from fer_lightning.tracking.wandb_run import resolve_mode, sweep_group
from tests.helpers import run_app
from tests.tracking.wandb_records import offline_runs


def test_sweep_group_is_the_sweep_folder() -> None:
    assert sweep_group("/x/logs/train/multiruns/2026-11-28_12-00-00") == "2026-11-28_12-00-00"
    # Hydra's default layout multirun/<date>/<time>: a time alone would repeat every day.
    assert sweep_group("multirun/2026-11-28/12-00-00") == "2026-11-28_12-00-00"


def test_mode_follows_the_flag_then_wandb_mode_then_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_mode(True) == "offline" and resolve_mode(False) == "online"
    assert resolve_mode(None) is None  # conftest sets WANDB_MODE=offline: wandb reads it itself
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("NETRC", "/nonexistent/netrc")
    try:
        assert resolve_mode(None) == "offline"  # no key anywhere
    finally:
        # wandb's process-wide settings were read without WANDB_MODE: drop them for the next test.
        wandb.teardown()


def test_close_marks_a_failed_run_and_prints_the_sync_command(tmp_path: Path) -> None:
    never_started = make_wandb_logger("p", tmp_path / "a", name="a", group="g")
    assert close_loggers([never_started], failed=True) == []
    assert not (tmp_path / "a" / "wandb").exists()

    logger = make_wandb_logger("p", tmp_path / "b", name="b", group="g", job_type="eval", tags=["x"])
    logger.log_metrics({"val/acc": 0.5}, step=0)
    (command,) = close_loggers([logger], failed=True)
    (run,) = offline_runs(tmp_path / "b")
    assert command == f"wandb sync {run.folder}"
    assert run.exit_code == 1
    assert (run.run.display_name, run.run.run_group, run.run.job_type, list(run.run.tags)) == (
        "b",
        "g",
        "eval",
        ["x"],
    )
    assert run.values("val/acc") == [0.5]
    assert wandb.run is None


def test_a_run_left_open_is_finished_as_failed_not_reused(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    stale = wandb.init(project="p", dir=str(tmp_path / "old"), name="left-open")
    logger = make_wandb_logger("p", tmp_path / "new", name="new", group="g")
    assert logger.experiment.id != stale.id
    close_loggers([logger], failed=False)
    (old,) = offline_runs(tmp_path / "old")
    (new,) = offline_runs(tmp_path / "new")
    assert old.exit_code == 1 and new.exit_code == 0 and new.run.display_name == "new"


@pytest.mark.slow
def test_multirun_jobs_get_their_own_runs_in_one_group_and_a_crash_is_recorded(tmp_path: Path) -> None:
    """Job 0 crashes after its first epoch, job 1 completes: two runs, one group, the first marked failed."""
    sweep = tmp_path / "sweep"
    proc = run_app(
        ["-m", "debug=tiny", "augmentation.ten_crop=false", "trainer.max_epochs=2", "logger=wandb",
         "+callbacks.crash._target_=tests.helpers.RaiseAtEpochEnd", "+callbacks.crash.epoch=0,99",
         f"hydra.sweep.dir={sweep}"],
        tmp_path,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    results = [json.loads((sweep / str(n) / "results.json").read_text()) for n in (0, 1)]
    assert [r["status"] for r in results] == ["failed", "completed"]

    runs = [offline_runs(sweep / str(n)) for n in (0, 1)]
    assert [len(r) for r in runs] == [1, 1], "one W&B run per job, in the job's own folder"
    (crashed,), (completed,) = runs
    assert crashed.run.run_id != completed.run.run_id
    assert crashed.run.run_group == completed.run.run_group == "sweep"
    assert (crashed.exit_code, completed.exit_code) == (1, 0)
    for run, result in zip((crashed, completed), results, strict=True):
        assert run.run.display_name == result["run_name"]
        assert run.run.job_type == "train"
        assert {"multirun", "optimizer:sgd_nesterov", "data:synthetic"} <= set(run.run.tags)
        assert run.config["seed"] == 0 and run.config["optimizer"]["lr"] == 0.01  # resolved
    # The crash comes after epoch 0 was validated: its val numbers reached the run before it failed.
    assert [row["epoch"] for row in crashed.history if "val/acc" in row] == [0]
    assert [row["epoch"] for row in completed.history if "train/loss" in row] == [0, 1]
    assert not crashed.values("test/acc") and completed.values("test/acc")
    for run in (crashed, completed):
        assert f"wandb sync {run.folder}" in output
