"""Synthetic FER-like faces: the embedded default that lets the main job run with no download.

`make_synthetic_fer` decides the labels (FER-2013's class proportions) and the official splits (its split
sizes, stratified by class); fer_lightning/data/synthetic_faces.py draws the faces. The result is always
marked synthetic (ids, source, layout, `synthetic=True`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fer_lightning.data.arrays import FERArrays
from fer_lightning.data.synthetic_faces import draw_faces
from fer_lightning.fer2013 import CLASS_COUNTS, EMOTIONS, NUM_CLASSES, SPLIT_FRACTIONS, SPLITS, TOTAL_IMAGES


def make_synthetic_fer(
    n: int = TOTAL_IMAGES,
    seed: int = 0,
    class_counts: Sequence[int] | None = None,
    split_fractions: tuple[float, ...] = SPLIT_FRACTIONS,
    difficulty: float = 1.0,
) -> FERArrays:
    """Generate `n` synthetic FER-like faces, identical for the same arguments.

    class_counts: relative class frequencies in `EMOTIONS` order (default: FER-2013's Training counts),
    turned into exact counts by largest remainder. split_fractions: Training / PublicTest / PrivateTest,
    stratified by class. difficulty: scales pose, lighting, occlusion, noise and expression subtlety
    (0: canonical faces at full expression; 1: the default; at most 3).
    """
    weights = _check_args(n, seed, class_counts, split_fractions, difficulty)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(NUM_CLASSES), _largest_remainder(n, weights)))
    usage = _stratified_usage(labels, np.asarray(split_fractions, dtype=np.float64))
    images = draw_faces(rng, labels, difficulty, noise_seed=seed)
    return FERArrays(
        images=images,
        labels=labels.astype(np.int64),
        usage=usage,
        ids=np.char.add("synthetic:", np.arange(n).astype(str)),
        source=f"synthetic(n={n}, seed={seed}, difficulty={float(difficulty)})",
        layout="synthetic",
        synthetic=True,
    )


def _check_args(
    n: int,
    seed: int,
    class_counts: Sequence[int] | None,
    split_fractions: tuple[float, ...],
    difficulty: float,
) -> np.ndarray:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"synthetic data: n must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"synthetic data: seed must be a non-negative integer, got {seed!r}")
    weights = np.asarray(CLASS_COUNTS["Training"] if class_counts is None else class_counts, dtype=np.float64)
    if (
        weights.shape != (NUM_CLASSES,)
        or not np.isfinite(weights).all()
        or (weights < 0).any()
        or weights.sum() <= 0
    ):
        raise ValueError(
            f"synthetic data: class_counts must be {NUM_CLASSES} non-negative numbers "
            f"({', '.join(EMOTIONS)}) with a positive sum, got {class_counts!r}"
        )
    fractions = np.asarray(split_fractions, dtype=np.float64)
    if fractions.shape != (len(SPLITS),) or not (fractions >= 0).all() or abs(fractions.sum() - 1) > 1e-6:
        raise ValueError(
            f"synthetic data: split_fractions must be {len(SPLITS)} non-negative numbers "
            f"({', '.join(SPLITS)}) summing to 1, got {split_fractions!r}"
        )
    if not 0 <= difficulty <= 3:
        raise ValueError(f"synthetic data: difficulty must be in [0, 3], got {difficulty!r}")
    return weights


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integer counts summing to `total`, proportional to `weights` (Hamilton's method)."""
    quotas = total * weights / weights.sum()
    counts = np.floor(quotas).astype(np.int64)
    # Stable sort: equal remainders go to the earlier class, the same way on every machine.
    counts[np.argsort(-(quotas - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts


def _stratified_usage(labels: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Split codes per image: every class split by `fractions`, split sizes exact (28,709 / 3,589 / 3,589
    at FER-2013's size), and every split given every class where the class is big enough."""
    sizes = np.bincount(labels, minlength=NUM_CLASSES)
    table = _split_table(sizes, fractions)
    usage = np.empty(len(labels), dtype=np.int8)
    for c in range(NUM_CLASSES):
        # labels were permuted, so each class's members come in random order
        usage[labels == c] = np.repeat(np.arange(len(SPLITS), dtype=np.int8), table[c])
    return usage


def _split_table(sizes: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Images per [class, split]: rows sum to `sizes`, columns to the split sizes (controlled rounding)."""
    quotas = np.outer(sizes, fractions)
    table = np.floor(quotas).astype(np.int64)
    row_left = sizes - table.sum(1)
    col_left = _largest_remainder(int(sizes.sum()), fractions) - table.sum(0)
    # Largest remainders first, within what each class and each split still needs.
    order = np.argsort(-(quotas - table), axis=None, kind="stable")
    for c, s in zip(*np.unravel_index(order, table.shape), strict=True):
        if row_left[c] > 0 and col_left[s] > 0:
            table[c, s] += 1
            row_left[c] -= 1
            col_left[s] -= 1
    for c in np.flatnonzero(row_left):  # the greedy pass can strand a unit: place it where a split lacks one
        for _ in range(row_left[c]):
            s = int(np.argmax(col_left))
            table[c, s] += 1
            col_left[s] -= 1
    wanted = np.flatnonzero(fractions > 0)
    for c in np.flatnonzero(sizes >= len(wanted)):
        for s in wanted[table[c, wanted] == 0]:
            big = int(np.argmax(table[c]))
            table[c, big] -= 1
            table[c, s] += 1
            donor = int(np.argmax(table[:, s]))  # keep the split sizes: another class gives one back
            if table[donor, s] > 1:
                table[donor, s] -= 1
                table[donor, big] += 1
    return table
