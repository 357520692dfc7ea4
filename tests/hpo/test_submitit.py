"""Scale-out through Hydra's submitit launcher: the SLURM preset's shape, and a real 2-trial Optuna sweep
whose jobs run as separate processes with submitit's local executor."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from optuna.trial import TrialState

from fer_lightning.hpo.study import JOB_DIR
from tests.conftest import CONF_DIR
from tests.helpers import run_app


def test_slurm_preset_gives_one_task_per_gpu_on_every_node() -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2",
                       "hydra.launcher.partition=gpu"],
            return_hydra_config=True,
        )  # fmt: skip
    GlobalHydra.instance().clear()
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (2, 4, 4)
    assert launcher.partition == "gpu"


@pytest.mark.slow
def test_optuna_trials_run_as_submitit_local_jobs(tmp_path: Path) -> None:
    """Two trials launched together as two local submitit jobs: each trains in its own process and
    reports its epochs to the study through the SQLite storage."""
    sweep = tmp_path / "sweep"
    proc = run_app(
        ["-m", "hydra/sweeper=optuna", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
         "hydra.sweeper.study_name=local", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2",
         f"hydra.sweeper.storage=sqlite:///{tmp_path}/optuna.db", f"hydra.sweep.dir={sweep}",
         "debug=tiny", "data.source.n=400", "augmentation.ten_crop=false", "optimizer=sgd_nesterov,adam"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    trials = optuna.load_study(study_name="local", storage=f"sqlite:///{tmp_path}/optuna.db").get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert {t.params["optimizer"] for t in trials} <= {"adam", "sgd_nesterov"}
    for trial in trials:
        job_dir = Path(trial.user_attrs[JOB_DIR])
        assert job_dir == sweep / str(trial.number)
        results = json.loads((job_dir / "results.json").read_text())
        assert results["status"] == "completed" and trial.value == results["val"]["acc"]
        assert list(trial.intermediate_values) == [0], "the job process reported its epoch to the study"
    logs = sorted((sweep / ".submitit").rglob("*_log.out"))
    assert len(logs) == 2, f"one submitit job per trial: {logs}"
