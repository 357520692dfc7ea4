"""Figures as PNG files: matplotlib `Figure` objects rendered with the Agg canvas, never through pyplot (no
global backend switch, no figure registry to leak from in long sweeps, safe in DataLoader-forked
processes). Shared by the tracking callbacks, the sweep report and the robustness report."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110


def save_png(fig: Figure, path: str | Path) -> Path:
    """Render `fig` to `path` (folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path
