"""The heatmaps' grid: which two groups it spans (the swept ones, optimizer x scheduler first, as in the
paper's figures, unless chosen), and the mean of a metric in each cell beside the paper's value."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fer_lightning.naming import REPORTED_GROUPS
from fer_lightning.paper_figures import paper_accuracy
from fer_lightning.report.runs import COMPLETED

SPLIT_OF = {"test_acc": "test", "val_acc": "val"}


def swept_groups(runs: pd.DataFrame) -> list[str]:
    """Groups whose choice differs between completed runs, optimizer x scheduler first (the paper's grid)."""
    done = runs[runs["status"] == COMPLETED]
    varying = [g for g in REPORTED_GROUPS if g in done and done[g].nunique(dropna=True) > 1]
    preferred = [g for g in ("optimizer", "scheduler") if g in varying]
    return preferred + [g for g in varying if g not in preferred]


def heatmap_axes(
    runs: pd.DataFrame, rows: str | None = None, cols: str | None = None
) -> tuple[str | None, str | None]:
    """(row group, column group) of the heatmaps: `rows`/`cols` when given, else the first two swept groups
    (None when nothing varies)."""
    for name in (rows, cols):
        if name is not None and name not in runs:
            raise ValueError(
                f"heatmap group {name!r} is not a group of these runs (groups: {', '.join(REPORTED_GROUPS)})"
            )
    swept = swept_groups(runs)
    row_name = rows or (swept[0] if swept else None)
    return row_name, cols or next((g for g in swept if g != row_name), None)


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
    done = runs[(runs["status"] == COMPLETED) & runs[metric].notna()].copy()
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
