"""The report's files: report.md (every run, mean ± std over seeds, the best run, runs that did not
complete, the heatmaps, the paper beside a matching grid), runs.csv and the heatmap PNGs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fer_lightning.paper_figures import CAVEAT, PAPER
from fer_lightning.report.grid import SPLIT_OF, Grid, heatmap_axes, metric_grid
from fer_lightning.report.heatmap import write_heatmap
from fer_lightning.report.runs import (
    COMPLETED,
    METRICS,
    MISSING,
    best_run,
    load_runs,
    setting_columns,
    summarize,
)
from fer_lightning.results import RESULTS_FILE


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

    row_name, col_name = heatmap_axes(runs, rows, cols)
    synthetic = bool(runs.get("synthetic", pd.Series(dtype=bool)).fillna(False).any())
    grids: dict[str, Grid] = {}
    heatmaps = []
    if row_name is not None:
        for metric, filename in (("test_acc", "heatmap.png"), ("val_acc", "heatmap_val.png")):
            if runs[metric].notna().any():
                grids[metric] = metric_grid(runs, metric, row_name, col_name)
                heatmaps.append(write_heatmap(grids[metric], metric, synthetic, out / filename))

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
    failed = runs[runs["status"] != COMPLETED]
    if len(failed):
        lines += ["", "## Runs that did not complete", ""]
        for _, r in failed.iterrows():
            reason = r["error"] if isinstance(r.get("error"), str) else f"no {RESULTS_FILE}"
            lines.append(f"- `{r['path']}` ({r['status']}): {reason}")
    if heatmaps:
        lines += ["", "## Heatmaps", ""] + [f"![{p.stem}]({p.name})" for p in heatmaps]
    lines += ["", *_paper_section(grids)]
    md_path = out / "report.md"
    md_path.write_text("\n".join(lines).rstrip() + "\n")
    return ReportFiles(md_path, csv_path, heatmaps)


def _common_overrides(runs: pd.DataFrame) -> list[str]:
    """Overrides shared by every run that has results: stated once instead of in every row."""
    sets = [set(o.split()) for o, st in zip(runs["overrides"], runs["status"], strict=True) if st != MISSING]
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
