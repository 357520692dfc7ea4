"""Experiment tracking: the W&B run of a job, media callbacks that work with any logger or none, and the
sweep-end report hook.

Names resolve lazily (PEP 562): `python -m fer_lightning.report` imports `tracking.figures` without paying
for Lightning and W&B.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "make_wandb_logger": "wandb_run",
    "log_run_config": "wandb_run",
    "close_loggers": "wandb_run",
    "ConfusionMatrixCallback": "confusion",
    "SaliencyCallback": "saliency",
    "saliency_grid": "saliency",
    "PredictionsTableCallback": "predictions",
    "SweepReportCallback": "sweep_callback",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
