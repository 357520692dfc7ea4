"""Heatmaps of the report: accuracy over the grid's two groups, ours and the paper's side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from fer_lightning.paper_figures import PAPER
from fer_lightning.plotting import save_png
from fer_lightning.report.grid import SPLIT_OF, Grid


def write_heatmap(grid: Grid, metric: str, synthetic: bool, path: Path) -> Path:
    """Our cell means, and the paper's beside them where the grid has its settings, as one PNG."""
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


def heatmap_figure(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray | None]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    row_name: str,
    col_name: str,
    title: str,
) -> Figure:
    """Side-by-side heatmaps over the same grid. Each panel: (title, values in %, cell text or None).

    Missing cells are NaN and drawn blank. All panels share one colour scale so they compare by eye.
    """
    finite = np.concatenate([v[np.isfinite(v)] for _, v, _ in panels]) if panels else np.array([])
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmax - vmin < 1e-6:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    ncols, nrows = len(col_labels), len(row_labels)
    width = max(3.5, 1.25 * ncols + 2.0)
    fig = Figure(figsize=(width * len(panels), max(2.6, 0.62 * nrows + 1.6)))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (panel_title, values, text) in zip(axes, panels, strict=True):
        masked = np.ma.masked_invalid(values)
        im = ax.imshow(masked, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_xticks(range(ncols), col_labels, rotation=30, ha="right")
        ax.set_yticks(range(nrows), row_labels)
        ax.set_xlabel(col_name)
        ax.set_ylabel(row_name)
        ax.set_title(panel_title, fontsize=9)
        for i in range(nrows):
            for j in range(ncols):
                if not np.isfinite(values[i, j]):
                    ax.text(j, i, "no value", ha="center", va="center", fontsize=7, color="0.55")
                    continue
                label = text[i, j] if text is not None else f"{values[i, j]:.2f}"
                shade = (values[i, j] - vmin) / (vmax - vmin)
                ax.text(
                    j,
                    i,
                    label,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if shade > 0.6 else "white",
                )
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="accuracy %")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
