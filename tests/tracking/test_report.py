"""`python -m fer_lightning.report`: one row per run, means over seeds, the best run, heatmaps, the paper."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from fer_lightning.paper_figures import paper_accuracy
from fer_lightning.report.__main__ import main
from fer_lightning.report.document import write_report
from fer_lightning.report.runs import load_runs
from tests.helpers import run_app

CHOICES = {"model": "vggnet", "data": "fer2013", "augmentation": "khaireddin", "trainer": "gpu"}


def _job(folder: Path, optimizer: str, scheduler: str, seed: int, val: float, test: float, **extra) -> dict:
    results = {
        "run_name": f"vggnet-{optimizer}-{scheduler}-s{seed}",
        "status": "completed",
        "error": None,
        "choices": {**CHOICES, "optimizer": optimizer, "scheduler": scheduler},
        "overrides": [
            f"optimizer={optimizer}",
            f"scheduler={scheduler}",
            f"seed={seed}",
            "trainer.max_epochs=3",
        ],
        "seed": seed,
        "synthetic": False,
        "epochs": 3,
        "wall_time_s": 12.5,
        **extra,
    }
    if val is not None:  # a failed run has no val/test section
        results.update(val={"acc": val, "f1_macro": val - 0.05}, test={"acc": test, "f1_macro": test - 0.05})
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results))
    return results


@pytest.fixture
def sweep(tmp_path: Path) -> tuple[Path, list[dict]]:
    """A 2 x 2 grid with 2 seeds, one failed job and one job that died before writing results.json."""
    root = tmp_path / "sweep"
    rng = np.random.default_rng(0)
    jobs, n = [], 0
    for opt in ("sgd_nesterov", "adam"):
        for sched in ("constant", "plateau"):
            for seed in (0, 1):
                val, test = (round(float(v), 4) for v in rng.uniform(0.55, 0.75, size=2))
                jobs.append(_job(root / str(n), opt, sched, seed, val, test))
                n += 1
    _job(root / str(n), "adam", "plateau", 2, None, None, status="failed", error="RuntimeError: boom")
    (root / str(n + 1) / ".hydra").mkdir(parents=True)
    (root / str(n + 1) / ".hydra" / "config.yaml").write_text("seed: 3\n")
    return root, jobs


def test_report_rows_means_best_and_heatmaps(sweep) -> None:
    root, jobs = sweep
    files = write_report([root], root)

    runs = pd.read_csv(files.csv)
    assert len(runs) == 10
    assert runs["status"].value_counts().to_dict() == {"completed": 8, "failed": 1, "missing": 1}
    assert runs.loc[runs["status"] == "missing", "path"].item() == "sweep/9"

    md = files.markdown.read_text()
    for opt in ("sgd_nesterov", "adam"):
        for sched in ("constant", "plateau"):
            cell = [
                j for j in jobs if j["choices"]["optimizer"] == opt and j["choices"]["scheduler"] == sched
            ]
            tests = [100 * j["test"]["acc"] for j in cell]
            row = f"| vggnet | {opt} | {sched} | khaireddin | fer2013 | gpu | 2 | 0,1 |"
            line = next(ln for ln in md.splitlines() if ln.startswith(row))
            assert f"{statistics.mean(tests):.2f} ± {statistics.stdev(tests):.2f}" in line

    assert "Overrides of every run: `trainer.max_epochs=3`." in md
    best = max(jobs, key=lambda j: j["val"]["acc"])
    assert f"`{best['run_name']}`" in md.split("**Best run**")[1].splitlines()[0]
    assert "RuntimeError: boom" in md and "no results.json" in md

    assert [p.name for p in files.heatmaps] == ["heatmap.png", "heatmap_val.png"]
    for png in files.heatmaps:
        assert imread(png).shape[0] > 200

    # vggnet x {sgd_nesterov, adam} x {constant, plateau} is inside the paper's figures.
    assert "## Beside the paper" in md
    assert f"≈{paper_accuracy('vggnet', 'adam', 'plateau', 'val')[0]:.2f}" in md
    assert f"≈{paper_accuracy('vggnet', 'sgd_nesterov', 'plateau', 'test')[0]:.2f}" in md


def test_two_folders_make_one_report_and_the_cli_needs_out(sweep, tmp_path: Path, capsys) -> None:
    root, jobs = sweep
    other = tmp_path / "other"
    _job(other / "0", "sgd", "step", 0, 0.6, 0.61)
    with pytest.raises(SystemExit):
        main([str(root), str(other)])
    main([str(root), str(other), "--out", str(tmp_path / "combined")])
    assert (tmp_path / "combined" / "report.md").exists()
    assert len(load_runs([root, other])) == 11
    assert str(tmp_path / "combined" / "heatmap.png") in capsys.readouterr().out


def test_bad_inputs_name_the_file_and_the_key(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_runs([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no results.json"):
        load_runs([tmp_path / "empty"])
    _job(tmp_path / "pct" / "0", "sgd", "step", 0, 73.2, 0.7)
    with pytest.raises(ValueError, match=r"pct/0/results.json: val.acc=73.2, expected a fraction"):
        load_runs([tmp_path / "pct"])
    (tmp_path / "broken" / "0").mkdir(parents=True)
    (tmp_path / "broken" / "0" / "results.json").write_text('{"status": "completed"}')
    with pytest.raises(ValueError, match="key 'run_name' is missing"):
        load_runs([tmp_path / "broken"])


@pytest.mark.slow
def test_report_of_a_real_multirun(tmp_path: Path) -> None:
    """2 optimizers x 2 schedulers x 2 seeds through the Hydra app; the sweep-end callback writes the report."""
    sweep = tmp_path / "sweep"
    proc = run_app(
        ["-m", "optimizer=sgd,adam", "scheduler=constant,step", "seed=0,1", "debug=tiny", "augmentation.ten_crop=false",
         f"hydra.sweep.dir={sweep}",
         # `++` sets it whether or not conf/hydra/default.yaml already registers the callback
         "++hydra.callbacks.sweep_report._target_=fer_lightning.report.sweep_callback.SweepReportCallback"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    results = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/results.json"))]
    assert len(results) == 8

    runs = pd.read_csv(sweep / "runs.csv")
    assert len(runs) == 8 and set(runs["status"]) == {"completed"}
    assert sorted(runs["run"]) == sorted(r["run_name"] for r in results)
    md = (sweep / "report.md").read_text()
    for opt in ("sgd", "adam"):
        for sched in ("constant", "step"):
            tests = [
                100 * r["test"]["acc"]
                for r in results
                if r["choices"]["optimizer"] == opt and r["choices"]["scheduler"] == sched
            ]
            line = next(ln for ln in md.splitlines() if f"| {opt} | {sched} |" in ln and "| 2 | 0,1 |" in ln)
            assert f"{statistics.mean(tests):.2f} ± {statistics.stdev(tests):.2f}" in line
    assert imread(sweep / "heatmap.png").shape[0] > 200
    assert "Synthetic data" in md
