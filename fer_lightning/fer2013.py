"""FER-2013's facts, in one place: classes, official splits with their sizes and class counts, the public
layouts, the image size, Khaireddin & Chen's split roles and the ten-crop views.

Every other module imports them from here; `conf/` reads them through the `fer.*` resolvers
(fer_lightning/resolvers.py), and tests/test_facts.py checks the few YAML lines that state one (the split
roles, which a reader of the data config should see spelled out).
"""

from __future__ import annotations

# Kaggle challenge label order (fer2013.csv `emotion` column).
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)

# Official `Usage` values; an image's split is stored as the index into this tuple, -1 when unknown.
SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
UNKNOWN = -1

IMAGE_SIZE = 48

# Images per class, in EMOTIONS order, of each official split (shared/PAPER.md).
CLASS_COUNTS: dict[str, tuple[int, ...]] = {
    "Training": (3995, 436, 4097, 7215, 4830, 3171, 4965),
    "PublicTest": (467, 56, 496, 895, 653, 415, 607),
    "PrivateTest": (491, 55, 528, 879, 594, 416, 626),
}
# 28,709 / 3,589 / 3,589 of 35,887: a copy with other sizes is partial or re-packed.
SPLIT_SIZES: dict[str, int] = {split: sum(counts) for split, counts in CLASS_COUNTS.items()}
TOTAL_IMAGES = sum(SPLIT_SIZES.values())
SPLIT_FRACTIONS: tuple[float, ...] = tuple(SPLIT_SIZES[s] / TOTAL_IMAGES for s in SPLITS)

# The public layouts of the download, as `FERArrays.layout` names them (fer_lightning.data.readers).
LAYOUTS: tuple[str, ...] = ("fer2013_csv", "icml_csv", "train_test_csv", "image_folder")

# Khaireddin & Chen's code: train on Training, select the checkpoint and step the plateau scheduler on
# PrivateTest, report PublicTest (the 73.28 % headline).
PAPER_ROLES: dict[str, tuple[str, ...]] = {
    "train": ("Training",),
    "val": ("PrivateTest",),
    "test": ("PublicTest",),
}

# torchvision's TenCrop order: top-left, top-right, bottom-left, bottom-right, centre, then the same five
# of the mirrored image. Without ten-crop the centre crop is the only view.
TEN_CROP_VIEWS = 10
TEN_CROP_CENTRE = 4


def split_code(name: str) -> int:
    """Return the index of an official split name, with an error that lists the valid names."""
    try:
        return SPLITS.index(name)
    except ValueError:
        raise ValueError(f"unknown split {name!r}: expected one of {', '.join(SPLITS)}") from None
