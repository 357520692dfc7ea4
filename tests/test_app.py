"""The Hydra app as a user runs it: real subprocesses for multirun and 2-process DDP (gloo)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.helpers import run_app

pytestmark = pytest.mark.slow


def _results(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("results.json"))]


def _check(proc) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]


def test_multirun_2x2_writes_four_results(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_app(
        ["-m", "optimizer=sgd,adam", "scheduler=constant,step", "debug=tiny", f"hydra.sweep.dir={sweep}"],
        tmp_path,
    )
    _check(proc)
    runs = _results(sweep)
    assert len(runs) == 4
    assert {(r["choices"]["optimizer"], r["choices"]["scheduler"]) for r in runs} == {
        ("sgd", "constant"), ("sgd", "step"), ("adam", "constant"), ("adam", "step"),
    }  # fmt: skip
    assert all(r["status"] == "completed" for r in runs)
    # The paper pairs the starting rate with the schedule: 0.001 constant, 0.01 otherwise.
    for job in sorted(sweep.glob("[0-9]*")):
        cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
        assert cfg.optimizer.lr == (0.001 if cfg.scheduler.scheduler is None else 0.01), job


def test_ddp_two_processes_single_run_counts_each_image_once(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # 711 images (71 val, 71 test) -> uneven shards on 2 ranks: padding must not be scored
    proc = run_app(
        ["trainer=ddp_cpu", "debug=tiny", "data.source.n=711", f"hydra.run.dir={run_dir}"], tmp_path
    )
    _check(proc)
    (result,) = _results(run_dir)
    sizes = result["hygiene"]["sizes"]
    assert result["val"]["n_images"] == sizes["val"] and result["test"]["n_images"] == sizes["test"]
    assert sizes["test"] % 2 == 1 and sizes["val"] % 2 == 1


def test_ddp_inside_a_multirun_runs_each_job_once(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_app(
        ["-m", "trainer=ddp_cpu", "seed=0,1", "debug=tiny", "data.source.n=711", f"hydra.sweep.dir={sweep}"],
        tmp_path,
    )
    _check(proc)
    runs = _results(sweep)
    assert sorted(r["seed"] for r in runs) == [0, 1]
    for r in runs:
        assert r["test"]["n_images"] == r["hygiene"]["sizes"]["test"]
    # no rank re-ran the sweep into a second multirun folder
    assert not (tmp_path / "logs").exists()
