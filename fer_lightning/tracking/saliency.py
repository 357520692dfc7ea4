"""Saliency maps of fixed test faces: the paper's vanilla gradient, and Grad-CAM on the last conv stage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.states import TrainerFn
from torch import nn

from fer_lightning.data.transforms import centre_view
from fer_lightning.fer2013 import EMOTIONS
from fer_lightning.plotting import save_png
from fer_lightning.tracking.figures import saliency_figure
from fer_lightning.tracking.media import figures_dir, first_per_class, held_out_faces, log_to_wandb


@dataclass
class SaliencyMaps:
    """Per face: `saliency` and `gradcam` [B, h, w] in [0, 1], the top class and its softmax probability."""

    saliency: np.ndarray
    gradcam: np.ndarray
    preds: np.ndarray
    confidence: np.ndarray


def _min_max(maps: torch.Tensor) -> torch.Tensor:
    flat = maps.flatten(1)
    lo, hi = flat.min(dim=1, keepdim=True).values, flat.max(dim=1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view_as(maps)


def saliency_grid(net: nn.Module, x: torch.Tensor, gradcam_layer: nn.Module) -> SaliencyMaps:
    """Maps for x float [B, 1, h, w] with respect to each face's top-class logit.

    Saliency: |d logit / d x| min-max normalised per face (Khaireddin & Chen §4, after Simonyan et al. 2014).
    Grad-CAM: ReLU of the gradient-weighted activations of `gradcam_layer`, upsampled bilinearly to the
    input size and min-max normalised. `net` is put in eval mode for the call and restored after.
    """
    # captum is imported when maps are drawn: it takes seconds to import, and a run may have no saliency.
    from captum.attr import LayerAttribution, LayerGradCam, Saliency

    was_training = net.training
    net.eval()
    try:
        # Lightning's evaluation hooks run under inference_mode, where no gradient can be taken.
        with torch.inference_mode(False), torch.enable_grad():
            x = x.detach().clone().float()
            with torch.no_grad():
                probs = net(x).float().softmax(dim=1)
            confidence, preds = probs.max(dim=1)
            saliency = Saliency(net).attribute(x.requires_grad_(), target=preds, abs=True)
            cam = LayerGradCam(net, gradcam_layer).attribute(x, target=preds, relu_attributions=True)
            cam = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")
            return SaliencyMaps(
                saliency=_min_max(saliency.detach()[:, 0]).cpu().numpy(),
                gradcam=_min_max(cam.detach()[:, 0]).cpu().numpy(),
                preds=preds.cpu().numpy(),
                confidence=confidence.cpu().numpy(),
            )
    finally:
        net.train(was_training)


class SaliencyCallback(pl.Callback):
    """A grid of face | saliency | Grad-CAM for the first `per_class` test faces of each class, at the end
    of fit and, with `every_n_epochs` > 0, after every n-th validation; PNG on rank 0 and on W&B.

    Faces come from `trainer.datamodule.test_data`, cropped by `trainer.datamodule.eval_views`; the maps
    explain the centre crop (`centre_view`: the one view every spec has) through
    `pl_module.net` and its `gradcam_layer`.
    """

    def __init__(
        self,
        out_dir: str | Path,
        per_class: int = 2,
        every_n_epochs: int = 0,
        class_names: Sequence[str] = EMOTIONS,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.per_class = per_class
        self.every_n_epochs = every_n_epochs
        self.class_names = tuple(class_names)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (
            trainer.state.fn != TrainerFn.FITTING  # trainer.validate() after fit is not an epoch
            or trainer.sanity_checking
            or self.every_n_epochs < 1
            or (trainer.current_epoch + 1) % self.every_n_epochs
        ):
            return
        self.render(trainer, pl_module, f"epoch{trainer.current_epoch:03d}")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.render(trainer, pl_module, "fit_end")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # The weights of the tested checkpoint (best by val/acc by default), not those of the last epoch.
        self.render(trainer, pl_module, "test")

    @staticmethod
    def _when(trainer: pl.Trainer, tag: str) -> str:
        if tag == "test":
            return f"tested checkpoint {Path(trainer.ckpt_path).name if trainer.ckpt_path else '(in memory)'}"
        return f"epoch {trainer.current_epoch}" + (" (end of fit)" if tag == "fit_end" else "")

    def render(self, trainer: pl.Trainer, pl_module: pl.LightningModule, tag: str) -> Path | None:
        """Compute, save and log the grid; returns the PNG path on rank 0, None elsewhere."""
        if not trainer.is_global_zero:
            return None
        data = held_out_faces(trainer, type(self).__name__)
        index = first_per_class(data.labels, self.per_class, len(self.class_names))
        views = trainer.datamodule.eval_views(torch.from_numpy(np.ascontiguousarray(data.images[index])))
        centre = centre_view(views).to(pl_module.device)
        net = pl_module.net
        maps = saliency_grid(net, centre, net.gradcam_layer)
        labels = data.labels[index]
        # One row per class present, so a class with fewer faces leaves a gap rather than shifting the rest.
        row_of = {c: r for r, c in enumerate(dict.fromkeys(labels.tolist()))}
        slots = [(row_of[c], int((labels[:k] == c).sum())) for k, c in enumerate(labels.tolist())]
        fig = saliency_figure(
            centre[:, 0].cpu().numpy(),
            maps.saliency,
            maps.gradcam,
            labels=labels.tolist(),
            preds=maps.preds.tolist(),
            confidence=maps.confidence.tolist(),
            class_names=self.class_names,
            per_row=self.per_class,
            title=f"{len(index)} test faces, {self._when(trainer, tag)}: face | |d top logit / d face| | Grad-CAM",
            slots=slots,
        )
        path = save_png(fig, figures_dir(self.out_dir) / f"saliency_{tag}.png")
        # One key with the step as slider, rather than a new panel per epoch.
        log_to_wandb(trainer, lambda wandb: {"saliency/grid": wandb.Image(str(path), caption=tag)})
        return path
