"""The runs of one or more sweeps as one table: a row per job folder from its results.json (a job that
wrote none is a `missing` row), and summaries over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fer_lightning.naming import REPORTED_GROUPS
from fer_lightning.results import RESULTS_FILE, ROBUSTNESS_PREFIX, Status, read

COMPLETED = Status.COMPLETED.value
MISSING = "missing"  # a job folder without results.json: it died before writing one, or still runs

# report column -> (results.json section, key); accuracy and F1 are fractions there, % here.
METRICS = {
    "val_acc": ("val", "acc"),
    "test_acc": ("test", "acc"),
    "val_f1": ("val", "f1_macro"),
    "test_f1": ("test", "f1_macro"),
    # Present when the robustness callback ran (callbacks=robustness); NaN otherwise.
    "test_mca": ("test", f"{ROBUSTNESS_PREFIX}mca"),
    "test_rel_drop": ("test", f"{ROBUSTNESS_PREFIX}rel_drop"),
}


def job_dirs(path: str | Path) -> list[Path]:
    """Each run folder under `path`: one holding results.json, or a Hydra job folder (`.hydra/`) without it
    (a job that died before writing results, or one still running)."""
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such folder (expected a Hydra multirun or run folder)")
    if root.is_file():
        raise NotADirectoryError(f"{root}: expected a folder holding runs with {RESULTS_FILE}, got a file")
    found = {p.parent for p in root.rglob(RESULTS_FILE)} | {
        p.parent.parent for p in root.rglob(".hydra/config.yaml")
    }
    if not found:
        raise FileNotFoundError(
            f"{root}: no {RESULTS_FILE} and no Hydra job folder (.hydra/) anywhere below it"
        )
    return sorted(found, key=lambda p: [int(s) if s.isdigit() else s for s in p.relative_to(root).parts])


def _override_key(override: str) -> str:
    return override.lstrip("+~").partition("=")[0]


def _fraction(path: Path, section: str, key: str, value: object) -> float:
    if value is None:
        return math.nan
    if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{path}: {section}.{key}={value!r}, expected a fraction in [0, 1]")
    return 100.0 * float(value)


def read_run(folder: Path, root: Path) -> dict:
    """One report row from `folder/results.json`; a row with status `missing` when the file is absent."""
    row: dict = {"path": str(folder.relative_to(root.parent)) if folder != root else root.name}
    path = folder / RESULTS_FILE
    if not path.exists():
        return {**row, "run": folder.name, "status": MISSING}
    record = read(path)
    choices = record.choices
    extra = [o for o in record.overrides if _override_key(o) not in choices and _override_key(o) != "seed"]
    row.update(run=record.run_name, status=record.status.value, **{g: str(c) for g, c in choices.items()})
    row.update(overrides=" ".join(sorted(extra)), seed=record.seed, synthetic=bool(record.synthetic))
    for column, (section, key) in METRICS.items():
        row[column] = _fraction(path, section, key, (getattr(record, section) or {}).get(key))
    row.update(epochs=record.epochs, wall_time_s=record.wall_time_s, error=record.error)
    return row


def load_runs(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Every run under `paths`, one row each, in folder order."""
    rows = [read_run(folder, Path(p)) for p in paths for folder in job_dirs(p)]
    frame = pd.DataFrame(rows)
    for column in ("overrides", *METRICS, "seed", "epochs", "wall_time_s"):
        if column not in frame:
            frame[column] = np.nan if column != "overrides" else ""
    frame["overrides"] = frame["overrides"].fillna("")
    for column in ("seed", "epochs"):  # integers, also beside the NaN of a missing run
        frame[column] = frame[column].astype("Int64")
    return frame


def setting_columns(runs: pd.DataFrame) -> list[str]:
    """What defines a setting: every group choice, plus the overrides other than the seed."""
    return [g for g in REPORTED_GROUPS if g in runs.columns] + ["overrides"]


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Completed runs grouped by setting: number of seeds, mean and sample std of each metric."""
    done = runs[runs["status"] == COMPLETED]
    keys = setting_columns(runs)
    if done.empty:
        return pd.DataFrame(columns=[*keys, "n", "seeds"])
    grouped = done.groupby(keys, dropna=False, sort=False)
    summary = grouped.agg(
        n=("run", "size"), seeds=("seed", lambda s: ",".join(str(v) for v in sorted(s.dropna())))
    )
    for column in (*METRICS, "epochs", "wall_time_s"):
        summary[f"{column}_mean"] = grouped[column].mean()
        summary[f"{column}_std"] = grouped[column].std(ddof=1)
    return summary.reset_index()


def best_run(runs: pd.DataFrame) -> pd.Series | None:
    """The completed run with the highest val accuracy: the test split does not pick the winner."""
    done = runs[(runs["status"] == COMPLETED) & runs["val_acc"].notna()]
    return None if done.empty else done.loc[done["val_acc"].idxmax()]
