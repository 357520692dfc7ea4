"""Archives read in place: each gives what its unpacked layout gives, is found in a data folder, and is
cached by its bytes."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from fer_lightning.data import archive, readers
from fer_lightning.data.arrays import FERArrays
from fer_lightning.data.readers import FERDataError, detect_layout, load_fer2013
from tests.data.layouts import (
    random_arrays,
    write_fer2013_csv,
    write_gz,
    write_icml_csv,
    write_image_folder,
    write_tar,
    write_train_test_csv,
    write_zip,
)


def _same(got: FERArrays, want: FERArrays) -> None:
    for name in ("images", "labels", "usage", "ids"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    assert (got.layout, got.skipped) == (want.layout, want.skipped)


@pytest.fixture(scope="module")
def arrays() -> FERArrays:
    return random_arrays()


@pytest.fixture
def unpacked(tmp_path: Path, arrays: FERArrays) -> Path:
    """fer2013/fer2013.csv, images/{train,test}/<class>/, pair/{train,test}.csv side by side."""
    (tmp_path / "fer2013").mkdir()
    write_fer2013_csv(arrays, tmp_path / "fer2013" / "fer2013.csv")
    write_image_folder(arrays, tmp_path / "images")
    write_train_test_csv(arrays, tmp_path / "pair")
    return tmp_path


PACK = {
    "zip": lambda folder, archive, inside: write_zip(folder, archive.with_suffix(".zip"), inside),
    "tar.gz": lambda folder, archive, inside: write_tar(folder, archive.with_suffix(".tar.gz"), inside),
    "tgz": lambda folder, archive, inside: write_tar(folder, archive.with_suffix(".tgz"), inside),
    "tar": lambda folder, archive, inside: write_tar(folder, archive.with_suffix(".tar"), inside, mode="w"),
}


@pytest.mark.parametrize("kind", PACK)
@pytest.mark.parametrize("layout", ["fer2013", "images", "pair"])
@pytest.mark.parametrize("inside", ["", "wrapped"])
def test_an_archive_reads_as_its_unpacked_layout(
    unpacked: Path, tmp_path: Path, kind: str, layout: str, inside: str
) -> None:
    want = load_fer2013(unpacked / layout, use_cache=False)
    (tmp_path / "packed").mkdir()
    archive = PACK[kind](unpacked / layout, tmp_path / "packed" / layout, inside)
    got = load_fer2013(archive, use_cache=False)
    _same(got, want)
    assert got.source == str(archive)


@pytest.mark.parametrize("layout", ["fer2013", "images"])
def test_tar_members_too_big_to_keep_are_streamed(
    unpacked: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    monkeypatch.setattr(archive, "_KEEP_BYTES", 0)  # as the 300 MB CSV of a real download
    packed = write_tar(unpacked / layout, tmp_path / f"{layout}.tar.gz", inside="fer2013")
    _same(load_fer2013(packed, use_cache=False), load_fer2013(unpacked / layout, use_cache=False))


def test_the_kaggle_downloads(unpacked: Path, tmp_path: Path, arrays: FERArrays) -> None:
    # The challenge archive: fer2013.tar.gz holding fer2013/fer2013.csv.
    challenge = write_tar(unpacked / "fer2013", tmp_path / "fer2013.tar.gz", inside="fer2013")
    assert detect_layout(challenge).name == "fer2013_csv"
    _same(load_fer2013(challenge, use_cache=False), load_fer2013(unpacked / "fer2013", use_cache=False))
    # The competition zip: icml_face_data.csv beside train.csv, test.csv and the challenge archive.
    kaggle = tmp_path / "kaggle"
    write_train_test_csv(arrays, kaggle)
    write_icml_csv(arrays, kaggle / "icml_face_data.csv")
    challenge.rename(kaggle / "fer2013.tar.gz")
    bundle = write_zip(kaggle, tmp_path / "challenges-in-representation-learning.zip")
    assert detect_layout(bundle).name == "icml_csv"


def test_a_csv_gz_and_a_lone_csv_in_an_archive_are_read_by_their_header(
    unpacked: Path, tmp_path: Path
) -> None:
    csv = unpacked / "fer2013" / "fer2013.csv"
    want = load_fer2013(csv, use_cache=False)
    gz = write_gz(csv, tmp_path / "fer2013.csv.gz")
    _same(load_fer2013(gz, use_cache=False), want)
    assert (
        load_fer2013(write_gz(csv, tmp_path / "download.csv.gz"), use_cache=False).ids[0]
        == "download.csv:row 1"
    )
    lone = tmp_path / "lone"
    lone.mkdir()
    csv.rename(lone / "faces.csv")
    got = load_fer2013(write_zip(lone, tmp_path / "faces.zip"), use_cache=False)
    assert got.ids[0] == "faces.csv:row 1"
    np.testing.assert_array_equal(got.images, want.images)


def test_a_folder_whose_only_data_is_an_archive(unpacked: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    archive = write_zip(unpacked / "images", data / "fer2013-images.zip")
    (data / "README.md").write_text("downloaded from Kaggle")
    got = load_fer2013(data, use_cache=False)
    assert (got.layout, got.source) == ("image_folder", str(archive))
    # Unpacked data beside the archive is what is read.
    write_image_folder(random_arrays((7, 7, 7), seed=5), data / "unpacked")
    assert load_fer2013(data, use_cache=False).source == str(data / "unpacked")


def test_an_archive_is_cached_by_its_bytes_and_not_opened_on_a_hit(
    unpacked: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    archive = write_tar(unpacked / "images", tmp_path / "images.tar.gz")
    first = load_fer2013(archive)
    assert (tmp_path / ".images.tar.gz.fer_cache.npz").is_file()

    def not_opened(path: Path):
        raise AssertionError(f"{path} was opened although its cache is valid")

    monkeypatch.setattr(readers, "_archive_layout", not_opened)
    with caplog.at_level(logging.INFO, logger="fer_lightning.data.cache"):
        _same(load_fer2013(archive), first)
    assert "from cache" in caplog.text
    monkeypatch.undo()
    # Other bytes under the same name: read again, never served from the old cache.
    write_tar(unpacked / "fer2013", archive)
    assert load_fer2013(archive).layout == "fer2013_csv"


def test_an_image_folder_edited_in_place_is_not_served_stale(unpacked: Path) -> None:
    root = unpacked / "images"
    first = load_fer2013(root)
    # Two images swap their bytes (noise PNGs all have one size) and get their mtimes back: a size +
    # mtime key cannot tell; the images must follow their bytes.
    a, b = (
        sorted((root / "train" / "angry").glob("*.png"))[0],
        sorted((root / "train" / "happy").glob("*.png"))[0],
    )
    assert a.stat().st_size == b.stat().st_size
    stats = [p.stat() for p in (a, b)]
    data = [p.read_bytes() for p in (a, b)]
    for path, new, st in zip((a, b), data[::-1], stats, strict=True):
        path.write_bytes(new)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = load_fer2013(root)
    ids = first.ids.tolist()
    at = {f"train/{p.parent.name}/{p.name}": ids.index(f"train/{p.parent.name}/{p.name}") for p in (a, b)}
    (ia, ib) = at.values()
    np.testing.assert_array_equal(again.images[ia], first.images[ib])
    np.testing.assert_array_equal(again.images[ib], first.images[ia])
    # The same bytes moved to another class folder: another label.
    a.rename(root / "train" / "sad" / a.name)
    moved = load_fer2013(root)
    assert moved.labels[moved.ids.tolist().index(f"train/sad/{a.name}")] == 4


def test_an_archive_error_names_the_archive_and_what_it_holds(tmp_path: Path) -> None:
    folder = tmp_path / "stuff"
    folder.mkdir()
    for i in range(12):
        (folder / f"note{i:02d}.txt").write_text("x")
    with pytest.raises(
        FERDataError, match=r"stuff\.zip: no FER-2013 layout .* note09\.txt \.\.\. and 2 more$"
    ):
        load_fer2013(write_zip(folder, tmp_path / "stuff.zip"))
