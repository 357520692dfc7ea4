"""Experiment tracking: the W&B run of a job and the media callbacks (confusion matrices, saliency maps,
predictions), which work with any logger or none."""

from fer_lightning.tracking.confusion import ConfusionMatrixCallback
from fer_lightning.tracking.predictions import PredictionsTableCallback
from fer_lightning.tracking.saliency import SaliencyCallback, saliency_grid
from fer_lightning.tracking.wandb_run import close_loggers, log_run_config, make_wandb_logger

__all__ = [
    "ConfusionMatrixCallback",
    "PredictionsTableCallback",
    "SaliencyCallback",
    "close_loggers",
    "log_run_config",
    "make_wandb_logger",
    "saliency_grid",
]
