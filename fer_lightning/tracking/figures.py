"""Matplotlib figures of the tracking callbacks: confusion matrices, saliency grids, faces with captions
(written with fer_lightning.plotting.save_png)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure


def confusion_figure(counts: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Row-normalised confusion matrix (rows: true class, each row sums to 1), percentages and counts
    in the cells, class names on both axes."""
    counts = np.asarray(counts, dtype=np.int64)
    n = len(class_names)
    if counts.shape != (n, n):
        raise ValueError(f"confusion counts of shape {counts.shape} do not match {n} class names")
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    fig = Figure(figsize=(1.0 + 0.85 * n, 0.6 + 0.8 * n))
    ax = fig.add_subplot()
    im = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    labels = [f"{name}\n(n={int(t)})" for name, t in zip(class_names, totals[:, 0], strict=True)]
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            color = "white" if rates[i, j] > 0.55 else "black"
            ax.text(
                j,
                i,
                f"{100 * rates[i, j]:.0f}%\n{counts[i, j]}",
                ha="center",
                va="center",
                fontsize=7,
                color=color,
            )
    accuracy = np.trace(counts) / max(int(counts.sum()), 1)
    ax.set_title(f"{title}  (accuracy {100 * accuracy:.2f}%, {int(counts.sum())} faces)", fontsize=10)
    return fig


def _show_face(ax, face: np.ndarray) -> None:
    ax.imshow(face, cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])


def saliency_figure(
    faces: np.ndarray,
    saliency: np.ndarray,
    gradcam: np.ndarray,
    labels: Sequence[int],
    preds: Sequence[int],
    confidence: Sequence[float],
    class_names: Sequence[str],
    per_row: int,
    title: str,
    slots: Sequence[tuple[int, int]] | None = None,
) -> Figure:
    """Blocks of face | saliency overlay | Grad-CAM overlay, `per_row` blocks per row; maps in [0, 1].
    `slots` gives each face's (row, block); by default faces fill the rows in order."""
    n = len(faces)
    slots = list(slots) if slots is not None else [divmod(k, per_row) for k in range(n)]
    rows = max(r for r, _ in slots) + 1 if slots else 1
    fig = Figure(figsize=(3 * per_row * 1.25, rows * 1.45))
    axes = fig.subplots(rows, 3 * per_row, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for k in range(n):
        r, c = slots[k]
        face_ax, sal_ax, cam_ax = axes[r, 3 * c : 3 * c + 3]
        for ax in (face_ax, sal_ax, cam_ax):
            ax.set_axis_on()
            _show_face(ax, faces[k])
        sal_ax.imshow(saliency[k], cmap="inferno", alpha=0.6, vmin=0.0, vmax=1.0)
        cam_ax.imshow(gradcam[k], cmap="jet", alpha=0.45, vmin=0.0, vmax=1.0)
        ok = labels[k] == preds[k]
        face_ax.set_title(f"true {class_names[labels[k]]}", fontsize=7)
        sal_ax.set_title(
            f"pred {class_names[preds[k]]} {confidence[k]:.2f}", fontsize=7, color="black" if ok else "red"
        )
        cam_ax.set_title("Grad-CAM", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def faces_figure(
    faces: np.ndarray,
    captions: Sequence[str],
    title: str,
    per_row: int = 8,
) -> Figure:
    """A grid of faces with one caption each (the predictions table's most confident mistakes)."""
    n = len(faces)
    rows = max(1, -(-n // per_row))
    fig = Figure(figsize=(per_row * 1.3, rows * 1.55))
    axes = fig.subplots(rows, per_row, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for k in range(n):
        ax = axes.flat[k]
        ax.set_axis_on()
        _show_face(ax, faces[k])
        ax.set_title(captions[k], fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
