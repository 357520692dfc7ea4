"""A look at a data set: the first faces of each class in a grid, as a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from fer_lightning.data.arrays import FERArrays
from fer_lightning.fer2013 import EMOTIONS, NUM_CLASSES


def preview_grid(arrays: FERArrays, path: str | Path, per_class: int = 6) -> Path:
    """Save a grid of the first `per_class` images of each class (one column per emotion)."""
    fig = Figure(figsize=(NUM_CLASSES * 1.3, per_class * 1.3 + 0.4))
    axes = fig.subplots(per_class, NUM_CLASSES, squeeze=False)
    for c, name in enumerate(EMOTIONS):
        members = np.flatnonzero(arrays.labels == c)[:per_class]
        axes[0, c].set_title(name, fontsize=9)
        for r in range(per_class):
            axes[r, c].axis("off")
            if r < len(members):
                axes[r, c].imshow(arrays.images[members[r]], cmap="gray", vmin=0, vmax=255)
    fig.suptitle(arrays.source, fontsize=8)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.6 / fig.get_figheight(), hspace=0.25)
    fig.savefig(path, dpi=100)
    return Path(path)
