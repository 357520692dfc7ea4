"""`python -m fer_lightning.report PATH... [--out DIR]`: one table over the runs of one or more sweeps.

Reads every job's `results.json` under each PATH and writes `report.md` (every run, mean ± std over
seeds, the best run, the paper beside a matching grid), `runs.csv` and `heatmap.png` / `heatmap_val.png`
(test / val accuracy over the two swept groups). Accuracies are in % in the outputs.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fer_lightning.naming import REPORTED_GROUPS
from fer_lightning.paper_figures import CAVEAT, PAPER, paper_accuracy

RESULTS = "results.json"
# report column -> (results.json section, key); accuracy and F1 are fractions there, % here.
METRICS = {
    "val_acc": ("val", "acc"),
    "test_acc": ("test", "acc"),
    "val_f1": ("val", "f1_macro"),
    "test_f1": ("test", "f1_macro"),
    # Present when the robustness callback ran (callbacks=robustness); NaN otherwise.
    "test_mca": ("test", "robustness_mca"),
    "test_rel_drop": ("test", "robustness_rel_drop"),
}
SPLIT_OF = {"test_acc": "test", "val_acc": "val"}


# -- reading --------------------------------------------------------------------------------------------


def job_dirs(path: str | Path) -> list[Path]:
    """Each run folder under `path`: one holding results.json, or a Hydra job folder (`.hydra/`) without it
    (a job that died before writing results, or one still running)."""
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such folder (expected a Hydra multirun or run folder)")
    if root.is_file():
        raise NotADirectoryError(f"{root}: expected a folder holding runs with {RESULTS}, got a file")
    found = {p.parent for p in root.rglob(RESULTS)} | {
        p.parent.parent for p in root.rglob(".hydra/config.yaml")
    }
    if not found:
        raise FileNotFoundError(f"{root}: no {RESULTS} and no Hydra job folder (.hydra/) anywhere below it")
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
    path = folder / RESULTS
    if not path.exists():
        return {**row, "run": folder.name, "status": "missing"}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    for key in ("run_name", "status", "choices"):
        if key not in data:
            raise ValueError(
                f"{path}: key {key!r} is missing (expected the results.json of fer_lightning.train)"
            )
    choices = data["choices"]
    extra = [
        o for o in data.get("overrides", []) if _override_key(o) not in choices and _override_key(o) != "seed"
    ]
    row.update(run=data["run_name"], status=data["status"], **{g: str(c) for g, c in choices.items()})
    row.update(
        overrides=" ".join(sorted(extra)), seed=data.get("seed"), synthetic=bool(data.get("synthetic"))
    )
    for column, (section, key) in METRICS.items():
        row[column] = _fraction(path, section, key, (data.get(section) or {}).get(key))
    row.update(epochs=data.get("epochs"), wall_time_s=data.get("wall_time_s"), error=data.get("error"))
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


# -- summarising ----------------------------------------------------------------------------------------


def setting_columns(runs: pd.DataFrame) -> list[str]:
    """What defines a setting: every group choice, plus the overrides other than the seed."""
    return [g for g in REPORTED_GROUPS if g in runs.columns] + ["overrides"]


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Completed runs grouped by setting: number of seeds, mean and sample std of each metric."""
    done = runs[runs["status"] == "completed"]
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
    done = runs[(runs["status"] == "completed") & runs["val_acc"].notna()]
    return None if done.empty else done.loc[done["val_acc"].idxmax()]


def swept_groups(runs: pd.DataFrame) -> list[str]:
    """Groups whose choice differs between completed runs, optimizer x scheduler first (the paper's grid)."""
    done = runs[runs["status"] == "completed"]
    varying = [g for g in REPORTED_GROUPS if g in done and done[g].nunique(dropna=True) > 1]
    preferred = [g for g in ("optimizer", "scheduler") if g in varying]
    return preferred + [g for g in varying if g not in preferred]


@dataclass
class Grid:
    """Cell means (in %) of one metric over rows x cols, with their text and the paper's values."""

    row_name: str
    col_name: str
    rows: list[str]
    cols: list[str]
    values: np.ndarray
    text: np.ndarray
    paper: np.ndarray
    averaged_over: list[str]


def metric_grid(runs: pd.DataFrame, metric: str, row_name: str, col_name: str | None) -> Grid:
    """Mean of `metric` over completed runs per (row, col) cell; seeds and any other varying setting
    are averaged inside the cell. `col_name` None gives a single column."""
    done = runs[(runs["status"] == "completed") & runs[metric].notna()].copy()
    col_key = col_name or "_all"
    if col_name is None:
        done[col_key] = "all runs"
    rows = sorted(done[row_name].unique())
    cols = sorted(done[col_key].unique())
    shape = (len(rows), len(cols))
    values, paper = np.full(shape, np.nan), np.full(shape, np.nan)
    text = np.full(shape, "", dtype=object)
    for (r, c), cell in done.groupby([row_name, col_key]):
        i, j = rows.index(r), cols.index(c)
        values[i, j] = cell[metric].mean()
        std = cell[metric].std(ddof=1) if len(cell) > 1 else None
        text[i, j] = f"{values[i, j]:.2f}" + (f"\n±{std:.2f} (n={len(cell)})" if std is not None else "")
        settings = {(s.get("model"), s.get("optimizer"), s.get("scheduler")) for s in cell.to_dict("records")}
        if len(settings) == 1:
            found = paper_accuracy(*[str(v) for v in next(iter(settings))], SPLIT_OF[metric])
            paper[i, j] = found[0] if found else np.nan
    others = [g for g in swept_groups(runs) if g not in (row_name, col_name)]
    return Grid(row_name, col_name or "", rows, cols, values, text, paper, others)


# -- writing --------------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):  # None, NaN and pandas' NA
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = [
        "| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False, name=None)
    ]
    return "\n".join([header, rule, *body])


def _mean_std(summary: pd.DataFrame, column: str) -> pd.Series:
    mean, std = summary[f"{column}_mean"], summary[f"{column}_std"]
    return pd.Series(
        [
            f"{m:.2f}" + (f" ± {s:.2f}" if not math.isnan(s) else "") if not math.isnan(m) else ""
            for m, s in zip(mean, std, strict=True)
        ],
        index=summary.index,
    )


def heatmap(grid: Grid, metric: str, synthetic: bool, path: Path) -> Path:
    from fer_lightning.tracking.figures import heatmap_figure, save_png

    split = SPLIT_OF[metric]
    ours = f"ours: {split} accuracy %, mean over seeds" + (" (SYNTHETIC data)" if synthetic else "")
    panels = [(ours, grid.values, grid.text)]
    if np.isfinite(grid.paper).any():
        text = np.vectorize(lambda v: f"≈{v:.2f}" if np.isfinite(v) else "", otypes=[object])(grid.paper)
        panels.append((f"{PAPER}, {split} (≈ read off its bar charts)", grid.paper, text))
    title = f"{split} accuracy over {grid.row_name}" + (f" x {grid.col_name}" if grid.col_name else "")
    if grid.averaged_over:
        title += f"  (cells averaged over {', '.join(grid.averaged_over)})"
    return save_png(
        heatmap_figure(panels, grid.rows, grid.cols, grid.row_name, grid.col_name or "", title), path
    )


def _paper_section(grids: dict[str, Grid]) -> list[str]:
    lines = []
    for metric, grid in grids.items():
        cells = [
            (i, j)
            for i in range(len(grid.rows))
            for j in range(len(grid.cols))
            if np.isfinite(grid.paper[i, j])
        ]
        if not cells:
            continue
        rows = [
            {grid.row_name: grid.rows[i], **({grid.col_name: grid.cols[j]} if grid.col_name else {}),
             "ours": grid.values[i, j], "paper": f"≈{grid.paper[i, j]:.2f}", "ours - paper": grid.values[i, j] - grid.paper[i, j]}
            for i, j in cells
        ]  # fmt: skip
        lines += [f"### {SPLIT_OF[metric]} accuracy %", "", markdown_table(pd.DataFrame(rows)), ""]
    if lines:
        lines = ["## Beside the paper", "", f"{PAPER}: {CAVEAT}.", "", *lines]
    return lines


@dataclass
class ReportFiles:
    markdown: Path
    csv: Path
    heatmaps: list[Path]


def write_report(
    paths: Sequence[str | Path], out_dir: str | Path, rows: str | None = None, cols: str | None = None
) -> ReportFiles:
    """Read the runs under `paths` and write report.md, runs.csv and the heatmaps into `out_dir`.
    `rows`/`cols` pick the heatmap's groups (default: the swept groups, optimizer x scheduler first)."""
    runs = load_runs(paths)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "runs.csv"
    runs.to_csv(csv_path, index=False)
    summary = summarize(runs)

    swept = swept_groups(runs)
    for name in (rows, cols):
        if name is not None and name not in runs:
            raise ValueError(
                f"heatmap group {name!r} is not a group of these runs (groups: {', '.join(REPORTED_GROUPS)})"
            )
    row_name = rows or (swept[0] if swept else None)
    col_name = cols or next((g for g in swept if g != row_name), None)
    synthetic = bool(runs.get("synthetic", pd.Series(dtype=bool)).fillna(False).any())
    grids: dict[str, Grid] = {}
    heatmaps = []
    if row_name is not None:
        for metric, filename in (("test_acc", "heatmap.png"), ("val_acc", "heatmap_val.png")):
            if runs[metric].notna().any():
                grids[metric] = metric_grid(runs, metric, row_name, col_name)
                heatmaps.append(heatmap(grids[metric], metric, synthetic, out / filename))

    lines = [f"# Sweep report: {', '.join(str(p) for p in paths)}", ""]
    counts = runs["status"].value_counts().to_dict()
    lines += [
        f"{len(runs)} runs: "
        + ", ".join(f"{n} {s}" for s, n in counts.items())
        + ". Accuracy and macro-F1 in %."
    ]
    if synthetic:
        lines += ["", "**Synthetic data**: these numbers say nothing about FER-2013."]
    common = _common_overrides(runs)
    if common:
        lines += ["", "Overrides of every run: " + " ".join(f"`{o}`" for o in common) + "."]
    best = best_run(runs)
    if best is not None:
        lines += [
            "",
            f"**Best run** (highest val accuracy): `{best['run']}` ({best['path']}): val {best['val_acc']:.2f}, "
            f"test {best['test_acc']:.2f}, test macro-F1 {best['test_f1']:.2f}.",
        ]
    if len(summary):
        table = summary[setting_columns(runs)].copy()
        table.insert(len(table.columns), "n", summary["n"])
        table["seeds"] = summary["seeds"]
        for column in METRICS:
            table[column] = _mean_std(summary, column)
        table["epochs"] = summary["epochs_mean"].map(lambda v: f"{v:g}")
        table["wall_time_s"] = summary["wall_time_s_mean"].map(lambda v: f"{v:.1f}")
        table["overrides"] = _without(table["overrides"], common)
        lines += ["", "## Mean ± std over seeds (completed runs)", "", markdown_table(_drop_empty(table))]
    columns = ["run", "status", *setting_columns(runs), "seed", *METRICS, "epochs", "wall_time_s", "path"]
    every = runs[[c for c in columns if c in runs]].assign(overrides=_without(runs["overrides"], common))
    lines += ["", "## Every run", "", markdown_table(_drop_empty(every))]
    failed = runs[runs["status"] != "completed"]
    if len(failed):
        lines += ["", "## Runs that did not complete", ""]
        for _, r in failed.iterrows():
            reason = r["error"] if isinstance(r.get("error"), str) else f"no {RESULTS}"
            lines.append(f"- `{r['path']}` ({r['status']}): {reason}")
    if heatmaps:
        lines += ["", "## Heatmaps", ""] + [f"![{p.stem}]({p.name})" for p in heatmaps]
    lines += ["", *_paper_section(grids)]
    md_path = out / "report.md"
    md_path.write_text("\n".join(lines).rstrip() + "\n")
    return ReportFiles(md_path, csv_path, heatmaps)


def _common_overrides(runs: pd.DataFrame) -> list[str]:
    """Overrides shared by every run that has results: stated once instead of in every row."""
    sets = [
        set(o.split()) for o, st in zip(runs["overrides"], runs["status"], strict=True) if st != "missing"
    ]
    return sorted(set.intersection(*sets)) if sets else []


def _without(overrides: pd.Series, common: list[str]) -> pd.Series:
    return overrides.map(lambda o: " ".join(t for t in o.split() if t not in common))


def _drop_empty(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop columns with no value in any row (e.g. `overrides` when nothing but the sweep was set)."""
    keep = [
        c
        for c in frame.columns
        if frame[c].astype(str).replace({"nan": "", "None": ""}).str.len().gt(0).any()
    ]
    return frame[keep]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fer_lightning.report", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="multirun (or run) folders holding results.json files"
    )
    parser.add_argument("--out", help="output folder (default: PATH when there is one)")
    parser.add_argument("--rows", choices=REPORTED_GROUPS, help="heatmap rows (default: first swept group)")
    parser.add_argument(
        "--cols", choices=REPORTED_GROUPS, help="heatmap columns (default: second swept group)"
    )
    args = parser.parse_args(argv)
    if args.out is None and len(args.paths) > 1:
        parser.error("several PATHs: pass --out DIR for the combined report")
    files = write_report(args.paths, args.out or args.paths[0], rows=args.rows, cols=args.cols)
    for path in (files.markdown, files.csv, *files.heatmaps):
        print(path)


if __name__ == "__main__":
    main()
