"""`run_suite`: accuracy of a model on clean and corrupted copies of a labelled split.

Images are corrupted at 48x48, before the evaluation views (ten-crop) are cut, as a camera or a face
detector would corrupt them. Summary numbers follow ImageNet-C (Hendrycks & Dietterich 2019): the mean
corruption accuracy (mCA) averages accuracy over every corruption and severity; the relative drop is
(clean - corrupted) / clean.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import torch

from fer_lightning.data.arrays import FERArrays
from fer_lightning.robustness.corruptions import SEVERITIES, corrupt, resolve

Views = Callable[[torch.Tensor], torch.Tensor]


class ViewPredictor(Protocol):
    """What the suite needs of a model: an nn.Module with FERClassifier's `predict_views`
    (float [B, V, 1, c, c] -> logits [B, K] averaged over the V views)."""

    training: bool

    def predict_views(self, x: torch.Tensor) -> torch.Tensor: ...

    def parameters(self): ...

    def train(self, mode: bool = True): ...


def subset(data: FERArrays, max_images: int | None, seed: int) -> FERArrays:
    """At most `max_images` images, a seeded random draw kept in split order (None: all of them)."""
    if max_images is None or max_images >= len(data):
        return data
    if max_images < 1:
        raise ValueError(f"robustness max_images={max_images}: expected a positive number or null")
    keep = np.sort(np.random.default_rng(seed).choice(len(data), size=max_images, replace=False))
    return data.select(keep)


@torch.no_grad()
def accuracy(
    model: ViewPredictor,
    images: torch.Tensor,
    labels: torch.Tensor,
    eval_views: Views,
    batch_size: int = 256,
    forward_context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> float:
    """Top-1 accuracy of `model.predict_views(eval_views(images))` over uint8 images [N, H, W]."""
    correct = 0
    for start in range(0, len(images), batch_size):
        with forward_context():
            logits = model.predict_views(eval_views(images[start : start + batch_size]))
        correct += int((logits.argmax(dim=1) == labels[start : start + batch_size]).sum())
    return correct / len(images)


def _relative_drop(clean: float, acc: float) -> float | None:
    return (clean - acc) / clean if clean > 0 else None


def run_suite(
    model: ViewPredictor,
    data: FERArrays,
    eval_views: Views,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] = SEVERITIES,
    seed: int = 0,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    forward_context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    max_images: int | None = None,
) -> dict[str, Any]:
    """Clean accuracy, accuracy per corruption and severity, per family, mCA and the relative drop.

    corruptions: names or family names (None: every corruption). The model runs in eval mode (its mode is
    restored after) on `device` (default: where its parameters are). Lists in the result are aligned with
    `severities`.
    """
    picked = resolve(corruptions)
    severities = [int(s) for s in severities]
    if not severities or any(s not in SEVERITIES for s in severities):
        raise ValueError(f"robustness severities={severities}: expected a non-empty subset of {SEVERITIES}")
    data = subset(data, max_images, seed)
    if len(data) == 0:
        raise ValueError(f"robustness suite: no images to evaluate in {data.source}")
    if (data.labels < 0).any():
        raise ValueError(
            f"robustness suite: {int((data.labels < 0).sum())} images of {data.source} carry no label"
        )
    if device is None:
        device = next(iter(model.parameters())).device
    images = torch.from_numpy(np.ascontiguousarray(data.images)).to(device)
    labels = torch.from_numpy(data.labels).to(device)

    def score(x: torch.Tensor) -> float:
        return accuracy(model, x, labels, eval_views, batch_size, forward_context)

    was_training = model.training
    model.train(False)
    try:
        clean = score(images)
        table = {c.name: [score(corrupt(images, c.name, s, seed)) for s in severities] for c in picked}
    finally:
        model.train(was_training)
    per_corruption: dict[str, dict[str, Any]] = {}
    for c in picked:
        accs = table[c.name]
        drops = [_relative_drop(clean, a) for a in accs]
        per_corruption[c.name] = {
            "family": c.family,
            "unit": c.unit,
            "levels": [c.level(s) for s in severities],
            "acc": accs,
            "rel_drop": drops,
            "mean_acc": float(np.mean(accs)),
            "mean_rel_drop": _relative_drop(clean, float(np.mean(accs))),
        }
    families: dict[str, dict[str, Any]] = {}
    for family in dict.fromkeys(c.family for c in picked):
        rows = np.array([v["acc"] for v in per_corruption.values() if v["family"] == family])
        families[family] = {
            "corruptions": [n for n, v in per_corruption.items() if v["family"] == family],
            "acc": rows.mean(axis=0).tolist(),
            "mean_acc": float(rows.mean()),
        }
    mca = float(np.mean([v["acc"] for v in per_corruption.values()]))
    return {
        "source": data.source,
        "synthetic": data.synthetic,
        "n_images": len(data),
        "seed": seed,
        "severities": severities,
        "clean_acc": clean,
        "mean_corruption_acc": mca,
        "relative_drop": _relative_drop(clean, mca),
        "families": families,
        "corruptions": per_corruption,
    }
