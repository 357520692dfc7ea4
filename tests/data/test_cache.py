"""The decoded-array cache: written beside the source, used while the source is unchanged, rebuilt after."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_lightning.data import cache
from fer_lightning.data.readers import FERDataError, load_fer2013
from tests.data.layouts import random_arrays, write_fer2013_csv, write_image_folder


def _same(a, b) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("images", "labels", "usage", "ids"))


def _edit_keeping_stat(path: Path, old: bytes, new: bytes) -> None:
    """Change bytes without changing size or mtime: only a cache can then return the old content."""
    st = path.stat()
    data = path.read_bytes()
    assert len(old) == len(new) and old in data
    path.write_bytes(data.replace(old, new, 1))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.fixture
def csv_path(tmp_path: Path) -> Path:
    return write_fer2013_csv(random_arrays((14, 7, 7)), tmp_path / "fer2013.csv")


def test_second_load_comes_from_the_cache_beside_the_source(csv_path: Path, caplog) -> None:
    first = load_fer2013(csv_path)
    cached = csv_path.parent / ".fer2013.csv.fer_cache.npz"
    assert cached.is_file()
    with caplog.at_level(logging.INFO, logger="fer_lightning.data.cache"):
        second = load_fer2013(csv_path)
    assert "from cache" in caplog.text
    assert _same(first, second)
    assert (second.source, second.layout) == (str(csv_path), "fer2013_csv")
    # A cache written for other content is never served: the arrays come back from the cache file only
    # while it holds what the source holds.
    assert cache.load(cached, cache.fingerprint([csv_path]), "x") is not None
    assert cache.load(cached, "another key", "x") is None


def test_an_edit_that_keeps_size_and_mtime_is_not_served_stale(csv_path: Path, caplog) -> None:
    first = load_fer2013(csv_path)
    first_row = csv_path.read_bytes().split(b"\n")[1]
    pixel = first_row.split(b",")[1].split(b" ")[0]
    other = bytes([pixel[0] ^ 1]) + pixel[1:]  # another digit, same length
    _edit_keeping_stat(csv_path, b"," + pixel + b" ", b"," + other + b" ")
    with caplog.at_level(logging.INFO, logger="fer_lightning.data.cache"):
        again = load_fer2013(csv_path)
    assert "stale" in caplog.text
    assert again.images[0, 0, 0] == int(other) != first.images[0, 0, 0]
    assert _same(load_fer2013(csv_path), again)  # the rebuilt cache serves the new content


def test_a_size_change_invalidates(csv_path: Path) -> None:
    before = load_fer2013(csv_path)
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join(lines + [lines[1]]) + "\n")
    after = load_fer2013(csv_path)
    assert len(after) == len(before) + 1
    assert after.ids[-1] == f"fer2013.csv:row {len(before) + 1}"


def test_cache_dir_and_no_cache(csv_path: Path, tmp_path: Path) -> None:
    load_fer2013(csv_path, use_cache=False)
    assert not list(csv_path.parent.glob("*.npz"))
    elsewhere = tmp_path / "cache"
    first = load_fer2013(csv_path, cache_dir=elsewhere)
    (written,) = elsewhere.glob("fer2013.csv-*.fer_cache.npz")
    assert not list(csv_path.parent.glob("*.npz"))
    assert _same(cache.load(written, cache.fingerprint([csv_path]), "x"), first)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_source_folder_caches_in_the_user_cache(
    csv_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    csv_path.parent.chmod(0o555)
    try:
        load_fer2013(csv_path)
    finally:
        csv_path.parent.chmod(0o755)
    assert list((tmp_path / "xdg" / "fer_lightning").glob("fer2013.csv-*.fer_cache.npz"))


def test_image_folder_cache_follows_the_file_list(tmp_path: Path) -> None:
    root = write_image_folder(random_arrays((7, 7, 7)), tmp_path / "images")
    first = load_fer2013(root)
    assert (root / ".image_folder.fer_cache.npz").is_file()
    assert _same(load_fer2013(root), first)
    assert cv2.imwrite(str(root / "test" / "sad" / "PrivateTest_100.png"), np.zeros((48, 48), np.uint8))
    after = load_fer2013(root)
    assert len(after) == len(first) + 1 and "test/sad/PrivateTest_100.png" in after.ids


def test_a_cache_with_skipped_rows_never_serves_a_strict_load(csv_path: Path) -> None:
    text = csv_path.read_text().replace(",Training", ",Validation", 1)
    csv_path.write_text(text)
    lenient = load_fer2013(csv_path, skip_bad_rows=True)
    assert len(lenient.skipped) == 1
    assert load_fer2013(csv_path, skip_bad_rows=True).skipped == lenient.skipped  # from the cache
    with pytest.raises(FERDataError, match="row 1 \\(line 2\\): Usage is 'Validation'"):
        load_fer2013(csv_path)


def test_a_corrupt_cache_is_rebuilt_with_a_warning(csv_path: Path) -> None:
    first = load_fer2013(csv_path)
    target = csv_path.parent / ".fer2013.csv.fer_cache.npz"
    target.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable"):
        again = load_fer2013(csv_path)
    assert _same(again, first)
    assert cache.load(target, cache.fingerprint([csv_path]), "x") is not None
