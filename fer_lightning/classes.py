"""FER-2013's label set and official splits, the vocabulary every other module speaks."""

from __future__ import annotations

# Kaggle challenge label order (fer2013.csv `emotion` column).
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)

# Official `Usage` values; an image's split is stored as the index into this tuple, -1 when unknown.
SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
UNKNOWN = -1

IMAGE_SIZE = 48

# FER-2013 Training split per class (Khaireddin & Chen's Table; see the data docs): the default class
# proportions of the synthetic set.
TRAINING_CLASS_COUNTS: tuple[int, ...] = (3995, 436, 4097, 7215, 4830, 3171, 4965)


def split_code(name: str) -> int:
    """Return the index of an official split name, with an error that lists the valid names."""
    try:
        return SPLITS.index(name)
    except ValueError:
        raise ValueError(f"unknown split {name!r}: expected one of {', '.join(SPLITS)}") from None
