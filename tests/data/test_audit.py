"""Hygiene audit: exact duplicates within and across splits, conflicting labels, blanks, leak removal."""

from __future__ import annotations

import json

import numpy as np

from fer_lightning.data.audit import audit, drop_leaks, image_keys, leak_mask
from fer_lightning.fer2013 import EMOTIONS
from tests.data.layouts import planted_arrays, random_arrays


def test_audit_finds_every_planted_defect() -> None:
    arrays, expected = planted_arrays()
    report = audit(arrays)
    json.dumps(report)  # JSON-ready
    assert report["images"] == 40
    for split, n in (("Training", 20), ("PublicTest", 10), ("PrivateTest", 10)):
        part = arrays.split(split)
        assert report["splits"][split] == {
            "images": n,
            "per_class": {e: int((part.labels == c).sum()) for c, e in enumerate(EMOTIONS)},
        }
    dup = report["duplicates"]
    assert dup["redundant_images"] == expected["redundant_images"]
    assert dup["within_split"]["Training"] == expected["within_training"]
    assert dup["within_split"]["PublicTest"]["groups"] == dup["within_split"]["PrivateTest"]["groups"] == 0
    across = {
        (c["split"], c["copies_in"]): (c["images"], c["conflicting_labels"], c["ids"])
        for c in dup["across_splits"]
    }
    assert across == expected["across"]
    assert report["blank"] == {"images": 2, "all_black": 1, "ids": expected["blank_ids"]}
    assert report["skipped"] == {"count": 0, "items": []}


def test_clean_data_reports_nothing() -> None:
    report = audit(random_arrays())
    assert report["duplicates"]["redundant_images"] == 0
    assert all(c["images"] == 0 for c in report["duplicates"]["across_splits"])
    assert report["blank"]["images"] == 0


def test_leak_mask_and_drop_leaks() -> None:
    arrays, _ = planted_arrays()
    train, public = arrays.split("Training"), arrays.split("PublicTest")
    mask = leak_mask(train, public)
    assert mask.dtype == bool and mask.tolist() == [True, True] + [False] * 8
    kept, record = drop_leaks(train, public)
    assert len(kept) == 8 and not leak_mask(train, kept).any()
    assert record == {"dropped": 2, "conflicting_labels": 1, "ids": public.ids[:2].tolist()}


def test_image_keys_equal_exactly_for_equal_pixels() -> None:
    images = np.zeros((4, 48, 48), np.uint8)
    images[1, 47, 47] = 1  # one pixel apart: not a duplicate
    images[3] = images[1]
    keys = image_keys(images)
    assert keys[0] != keys[1] and keys[1] == keys[3] and keys[2] == keys[0]
