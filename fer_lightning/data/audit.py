"""Data hygiene: exact pixel duplicates within and across splits, and blank images.

FER-2013 has ~1,850 redundant exact duplicates, several hundred PublicTest/PrivateTest images whose exact
copy is in Training (some under another label), and about a dozen all-black or uniform images
(see shared/PAPER.md). Images are compared byte for byte, so a "duplicate" here is never a near-duplicate.
"""

from __future__ import annotations

import numpy as np

from fer_lightning.data.arrays import FERArrays
from fer_lightning.fer2013 import EMOTIONS, NUM_CLASSES, SPLITS, UNKNOWN

__all__ = ["audit", "drop_leaks", "image_keys", "leak_mask"]


def _flat(images: np.ndarray) -> np.ndarray:
    # An explicit row length: reshape(0, -1) is ambiguous and fails on a source with 0 images.
    return np.ascontiguousarray(images).reshape(len(images), int(np.prod(images.shape[1:])))


def image_keys(images: np.ndarray) -> np.ndarray:
    """int64 [N]: equal exactly where two images have identical pixels (np.unique over a raw-bytes view)."""
    flat = _flat(images)
    rows = flat.view(np.dtype((np.void, flat.shape[1]))).ravel()
    return np.unique(rows, return_inverse=True)[1].reshape(-1).astype(np.int64)


def leak_mask(reference: FERArrays, candidate: FERArrays) -> np.ndarray:
    """bool [len(candidate)]: True where a candidate image has an exact pixel copy in reference."""
    keys = image_keys(np.concatenate([reference.images, candidate.images]))
    return np.isin(keys[len(reference) :], keys[: len(reference)])


def _conflicts(
    ref_keys: np.ndarray, ref_labels: np.ndarray, keys: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """bool: the image has a copy in the reference whose (known) label differs from its own."""
    known = ref_labels != UNKNOWN
    pairs = np.unique(ref_keys[known] * NUM_CLASSES + ref_labels[known])
    labels_per_key = np.bincount(pairs // NUM_CLASSES, minlength=int(keys.max(initial=-1)) + 1)
    same = np.isin(keys * NUM_CLASSES + labels, pairs)
    return (labels != UNKNOWN) & (labels_per_key[keys] > same)


def drop_leaks(reference: FERArrays, candidate: FERArrays) -> tuple[FERArrays, dict]:
    """candidate without the images that have an exact copy in reference, and a record of what went."""
    keys = image_keys(np.concatenate([reference.images, candidate.images]))
    leaks = np.isin(keys[len(reference) :], keys[: len(reference)])
    conflict = _conflicts(keys[: len(reference)], reference.labels, keys[len(reference) :], candidate.labels)
    record = {
        "dropped": int(leaks.sum()),
        "conflicting_labels": int((leaks & conflict).sum()),
        "ids": candidate.ids[leaks].tolist(),
    }
    return candidate.select(~leaks), record


def _group_masks(arrays: FERArrays) -> dict[str, np.ndarray]:
    masks = {name: arrays.usage == i for i, name in enumerate(SPLITS)}
    masks["unknown"] = arrays.usage == UNKNOWN
    return {name: m for name, m in masks.items() if m.any()}


def _counts(labels: np.ndarray) -> dict:
    per_class = {EMOTIONS[c]: int((labels == c).sum()) for c in range(NUM_CLASSES)}
    unlabelled = int((labels == UNKNOWN).sum())
    if unlabelled:
        per_class["unlabelled"] = unlabelled
    return {"images": len(labels), "per_class": per_class}


def _within(keys: np.ndarray, labels: np.ndarray) -> dict:
    """Duplicate groups inside one split: how many groups, the redundant copies, groups with >1 label."""
    _, inverse, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    dup = sizes[inverse] > 1
    known = dup & (labels != UNKNOWN)
    label_pairs = np.unique(inverse[known] * NUM_CLASSES + labels[known])
    labels_per_group = np.bincount(label_pairs // NUM_CLASSES, minlength=len(sizes))
    return {
        "groups": int((sizes > 1).sum()),
        "redundant_images": int((sizes - 1).sum()),
        "conflicting_label_groups": int((labels_per_group > 1).sum()),
    }


def audit(arrays: FERArrays, *, max_ids: int = 100, blank_range: int = 0) -> dict:
    """A JSON-ready hygiene report: counts per split and class, duplicates within and across splits
    (with conflicting labels), blank images (max - min <= blank_range; 0 means uniform), and the rows
    skipped and images converted by the reader.

    Id lists are cut at `max_ids`; every count is exact.
    """
    keys = image_keys(arrays.images)
    groups = _group_masks(arrays)
    cross = []
    names = list(groups)
    for later in range(len(names)):
        for earlier in range(later):
            ref, cand = groups[names[earlier]], groups[names[later]]
            leaked = np.isin(keys[cand], keys[ref])
            conflict = leaked & _conflicts(keys[ref], arrays.labels[ref], keys[cand], arrays.labels[cand])
            cross.append(
                {
                    "split": names[later],
                    "copies_in": names[earlier],
                    "images": int(leaked.sum()),
                    "conflicting_labels": int(conflict.sum()),
                    "ids": arrays.ids[cand][leaked][:max_ids].tolist(),
                }
            )
    flat = _flat(arrays.images)
    brightest = flat.max(axis=1, initial=0)
    blank = brightest.astype(np.int16) - flat.min(axis=1, initial=255) <= blank_range
    return {
        "source": arrays.source,
        "layout": arrays.layout,
        "synthetic": arrays.synthetic,
        "images": len(arrays),
        "splits": {name: _counts(arrays.labels[m]) for name, m in groups.items()},
        "duplicates": {
            "redundant_images": int(len(keys) - len(np.unique(keys))),
            "within_split": {name: _within(keys[m], arrays.labels[m]) for name, m in groups.items()},
            "across_splits": cross,
        },
        "blank": {
            "images": int(blank.sum()),
            "all_black": int((blank & (brightest == 0)).sum()),
            "ids": arrays.ids[blank][:max_ids].tolist(),
        },
        "skipped": {"count": len(arrays.skipped), "items": arrays.skipped[:max_ids]},
        "conversions": {
            kind: {"count": len(ids), "ids": ids[:max_ids]} for kind, ids in arrays.conversions.items()
        },
    }
