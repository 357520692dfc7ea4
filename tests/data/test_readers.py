"""Readers: every public layout gives the same arrays and splits, and every kind of bad input its error."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_lightning.data import csv_reader
from fer_lightning.data.arrays import FERArrays
from fer_lightning.data.readers import FERDataError, detect_layout, load_fer2013
from fer_lightning.fer2013 import SPLITS, UNKNOWN
from tests.data.layouts import (
    canonical,
    pixel_text,
    random_arrays,
    row_index,
    write_fer2013_csv,
    write_icml_csv,
    write_image_folder,
    write_train_test_csv,
)


def load(path: Path, **kwargs) -> FERArrays:
    return load_fer2013(path, use_cache=False, **kwargs)


def assert_same(got: FERArrays, want: FERArrays) -> None:
    assert len(got) == len(want)
    np.testing.assert_array_equal(got.images, want.images)
    np.testing.assert_array_equal(got.labels, want.labels)
    np.testing.assert_array_equal(got.usage, want.usage)


@pytest.fixture(scope="module")
def arrays() -> FERArrays:
    return random_arrays()


def test_fer2013_csv_round_trip(tmp_path: Path, arrays: FERArrays) -> None:
    got = load(write_fer2013_csv(arrays, tmp_path / "fer2013.csv"))
    assert got.layout == "fer2013_csv"
    assert_same(got, arrays)
    assert got.ids.tolist() == [f"fer2013.csv:row {i}" for i in range(1, len(arrays) + 1)]
    assert got.skipped == []


def test_every_layout_gives_the_same_arrays_and_splits(tmp_path: Path, arrays: FERArrays) -> None:
    fer = load(write_fer2013_csv(arrays, tmp_path / "fer2013.csv"))
    write_icml_csv(arrays, (tmp_path / "kaggle").mkdir() or tmp_path / "kaggle" / "icml_face_data.csv")
    icml = load(tmp_path / "kaggle")
    folder = load(write_image_folder(arrays, tmp_path / "images"))
    assert (icml.layout, folder.layout) == ("icml_csv", "image_folder")
    assert_same(icml, fer)
    assert_same(canonical(folder), canonical(fer))

    pair = load(write_train_test_csv(arrays, tmp_path / "pair"))
    assert pair.layout == "train_test_csv"
    assert_same(pair.split("Training"), fer.split("Training"))
    rest = pair.select(pair.usage == UNKNOWN)
    np.testing.assert_array_equal(rest.images, fer.split("PublicTest", "PrivateTest").images)
    assert (rest.labels == UNKNOWN).all(), "test.csv has no labels: none may be invented"
    assert len(rest) + len(pair.split("Training")) == len(arrays)


def test_jpg_folder_matches_within_jpeg_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    smooth = np.stack(
        [cv2.resize(rng.integers(40, 216, (6, 6), dtype=np.uint8), (48, 48)) for _ in range(21)]
    )
    arrays = random_arrays((7, 7, 7))
    arrays.images[:] = smooth
    got = load(write_image_folder(arrays, tmp_path / "jpg", suffix=".jpg"))
    rows = np.array([row_index(i) for i in got.ids])
    assert sorted(rows) == list(range(len(arrays)))
    np.testing.assert_array_equal(got.labels, arrays.labels[rows])
    np.testing.assert_array_equal(got.usage, arrays.usage[rows])
    error = np.abs(got.images.astype(int) - arrays.images[rows].astype(int))
    assert error.mean() < 2 and error.max() < 40


def test_folder_names_give_split_and_ids_are_full_paths(tmp_path: Path) -> None:
    root = write_image_folder(random_arrays((7, 7, 7)), tmp_path / "images")
    # The real image folders repeat base names across classes: both images must be read, keyed by path.
    assert (root / "test" / "fear" / "PrivateTest_16.png").is_file()
    assert cv2.imwrite(str(root / "test" / "happy" / "PrivateTest_16.png"), np.full((48, 48), 7, np.uint8))
    got = load(root)
    assert len(got) == 22
    twins = [got.ids.tolist().index(f"test/{c}/PrivateTest_16.png") for c in ("fear", "happy")]
    assert got.labels[twins].tolist() == [2, 3]
    assert not np.array_equal(got.images[twins[0]], got.images[twins[1]])
    for image_id, usage in zip(got.ids, got.usage, strict=True):
        assert SPLITS[usage] == Path(image_id).name.split("_")[0]


def test_unprefixed_folder_test_split_is_unknown(tmp_path: Path) -> None:
    arrays = random_arrays((7, 7, 7))
    got = load(write_image_folder(arrays, tmp_path / "images", prefixed=False))
    assert got.split_counts() == {"Training": 7, "PublicTest": 0, "PrivateTest": 0, "unknown": 14}
    for image_id, usage in zip(got.ids, got.usage, strict=True):
        assert image_id.startswith("train/") == (usage == SPLITS.index("Training"))
    assert (got.labels >= 0).all(), "the class folder still gives the label"


def test_kaggle_download_folder_picks_the_labelled_csv(tmp_path: Path, arrays: FERArrays) -> None:
    write_icml_csv(arrays, tmp_path / "icml_face_data.csv")
    write_train_test_csv(arrays, tmp_path)
    assert detect_layout(tmp_path).name == "icml_csv"
    (tmp_path / "icml_face_data.csv").unlink()
    assert detect_layout(tmp_path).name == "train_test_csv"


def test_csv_without_extension_and_nested_folder(tmp_path: Path, arrays: FERArrays) -> None:
    folder = tmp_path / "download" / "fer2013"
    folder.mkdir(parents=True)
    bare = write_fer2013_csv(arrays, folder / "fer2013")  # as extracted on Windows
    for path in (bare, folder, folder / "fer2013.csv", tmp_path / "download"):
        got = load(path)
        assert got.source == str(bare)
        assert_same(got, arrays)


def test_missing_data_says_where_to_put_it_and_how_to_get_it(tmp_path: Path) -> None:
    missing = tmp_path / "data" / "fer2013" / "fer2013.csv"
    with pytest.raises(FileNotFoundError) as err:
        load_fer2013(missing)
    text = str(err.value)
    for needle in (
        str(missing),
        "data/fer2013/fer2013.csv",
        "kaggle.com/c/challenges-in-representation",
        "data=synthetic",
    ):
        assert needle in text
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="icml_face_data.csv, train.csv"):
        load_fer2013(tmp_path / "empty")


def _corrupt(arrays: FERArrays, path: Path, row: int, column: str, value: str) -> Path:
    """fer2013.csv with one field of data row `row` (1-based) replaced."""
    write_fer2013_csv(arrays, path)
    lines = path.read_text().splitlines()
    fields = dict(zip(("emotion", "pixels", "Usage"), lines[row].split(","), strict=True))
    fields[column] = value
    lines[row] = ",".join(fields.values())
    path.write_text("\n".join(lines) + "\n")
    return path


def _pixels(arrays: FERArrays, row: int, edit) -> str:
    values = pixel_text(arrays.images[row - 1]).split(" ")
    return " ".join(edit(values))


BAD_ROWS = {
    "too few pixels": ("pixels", lambda v: v[:-1], "2303 pixel values, expected 2304"),
    "pixel over 255": ("pixels", lambda v: v[:9] + ["256"] + v[10:], "pixel 10 is 256, expected 0..255"),
    "uint16 wrap-around": (
        "pixels",
        lambda v: v[:9] + ["65541"] + v[10:],
        "pixel 10 is 65541, expected 0..255",
    ),
    "negative pixel": ("pixels", lambda v: ["-3"] + v[1:], "pixel 1 is -3, expected 0..255"),
    "non-integer pixel": (
        "pixels",
        lambda v: v[:4] + ["12.5"] + v[5:],
        "pixel 5 is '12.5', expected an integer",
    ),
    "unknown label": ("emotion", "7", "emotion is '7', expected an integer 0..6"),
    "text label": ("emotion", "happy", "emotion is 'happy', expected an integer 0..6"),
    "unknown usage": ("Usage", "Validation", "Usage is 'Validation', expected one of Training, PublicTest"),
}


@pytest.mark.parametrize("case", BAD_ROWS)
def test_bad_row_error_names_file_row_and_expectation(tmp_path: Path, arrays: FERArrays, case: str) -> None:
    column, edit, expected = BAD_ROWS[case]
    value = _pixels(arrays, 3, edit) if callable(edit) else edit
    path = _corrupt(arrays, tmp_path / "fer2013.csv", 3, column, value)
    with pytest.raises(FERDataError) as err:
        load(path)
    assert str(path) in str(err.value)
    assert f"row 3 (line 4): {expected}" in str(err.value)
    assert "skip_bad_rows" in str(err.value)


def test_skip_bad_rows_drops_and_reports_each(tmp_path: Path, arrays: FERArrays) -> None:
    path = write_fer2013_csv(arrays, tmp_path / "fer2013.csv")
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace(",Training", ",Validation")  # row 2
    lines[5] = lines[5] + ",extra"  # row 5: a field too many
    lines[9] = ""  # row 9: blank line
    lines[12] = lines[12].replace(" ", " 999 ", 1)  # row 12: 2305 values, one out of range
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FERDataError, match="line 6"):
        load(path)
    got = load(path, skip_bad_rows=True)
    kept = np.setdiff1d(np.arange(len(arrays)), [1, 4, 8, 11])
    assert_same(got, arrays.select(kept))
    assert got.ids.tolist() == [f"fer2013.csv:row {i + 1}" for i in kept]
    assert len(got.skipped) == 4
    for row, why in ((2, "Usage is 'Validation'"), (5, "expected 3 fields"), (9, "empty line"), (12, "2305")):
        assert any(f"row {row} (line {row + 1})" in s and why in s for s in got.skipped), (row, got.skipped)


def test_bad_row_found_in_a_later_chunk_and_irregular_spaces_parse(
    tmp_path: Path, arrays: FERArrays, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_reader, "CHUNK_ROWS", 8)  # force several chunks on a small file
    path = write_fer2013_csv(arrays, tmp_path / "fer2013.csv")
    lines = path.read_text().splitlines()
    for row in (3, 20, 30):  # extra, leading and trailing spaces: valid, but off the fast path
        emotion, pixels, usage = lines[row].split(",")
        lines[row] = ",".join((emotion, "  " + pixels.replace(" ", "  ") + " ", usage))
    emotion, pixels, usage = lines[25].split(",")
    lines[25] = ",".join((emotion, " ".join(f"00{p}" for p in pixels.split(" ")), usage))  # leading zeros
    path.write_text("\n".join(lines) + "\n")
    assert_same(load(path), arrays)
    lines[41] = lines[41].replace(" ", " x ", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FERDataError, match=r"row 41 \(line 42\): pixel 2 is 'x'"):
        load(path)


def test_missing_column_and_half_a_layout(tmp_path: Path, arrays: FERArrays) -> None:
    pair = write_train_test_csv(arrays, tmp_path / "pair")
    text = (pair / "train.csv").read_text().splitlines()
    (pair / "train.csv").write_text("\n".join(["pixels"] + [line.split(",")[1] for line in text[1:]]) + "\n")
    with pytest.raises(FERDataError, match=r"train.csv: missing column emotion; found columns 'pixels'"):
        load(pair)
    with pytest.raises(FERDataError, match="pass the folder that holds both"):
        load(pair / "test.csv")
    (pair / "test.csv").unlink()
    with pytest.raises(FERDataError, match="found train.csv but not test.csv"):
        load(pair)
    odd = tmp_path / "fer2013.csv"
    odd.write_text("label,image,split\n1,2,3\n")
    with pytest.raises(
        FERDataError, match=r"layout \(missing column emotion, pixels, Usage\); expected emotion,pixels"
    ):
        load(odd)


def _folder(tmp_path: Path) -> Path:
    return write_image_folder(random_arrays((7, 7, 7)), tmp_path / "images")


BAD_FILES = {
    "unreadable": (
        "train/angry/Training_0.png",
        b"not a png",
        "train/angry/Training_0.png: not a readable image",
    ),
    "empty file": ("test/fear/PublicTest_9.png", b"", "test/fear/PublicTest_9.png: empty file"),
    "wrong size": (
        "train/sad/Training_4.png",
        "40x40",
        "train/sad/Training_4.png: image is 40x40, expected 48x48",
    ),
    "not an image": ("train/sad/notes.txt", b"hello", "train/sad/notes.txt: not an image file"),
    "split mismatch": ("train/sad/PublicTest_99.png", "48x48", "named PublicTest but stored under train/"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_image_file_error_names_path(tmp_path: Path, case: str) -> None:
    root = _folder(tmp_path)
    rel, content, expected = BAD_FILES[case]
    if isinstance(content, bytes):
        (root / rel).write_bytes(content)
    else:
        w, h = map(int, content.split("x"))
        assert cv2.imwrite(str(root / rel), np.zeros((h, w), np.uint8))
    with pytest.raises(FERDataError) as err:
        load(root)
    assert str(root) in str(err.value) and expected in str(err.value)
    got = load(root, skip_bad_rows=True)
    assert len(got.skipped) == 1 and expected in got.skipped[0]
    assert rel not in got.ids.tolist()


def test_folder_structure_errors(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    for f in (root / "test" / "disgust").iterdir():
        f.unlink()
    with pytest.raises(FERDataError, match=r"test/disgust: empty class folder; expected disgust images"):
        load(root, skip_bad_rows=True)
    shutil.rmtree(root / "test" / "disgust")
    with pytest.raises(FERDataError, match=r"test: missing class folder disgust; expected the folders angry"):
        load(root)
    (root / "test" / "disgust").mkdir()
    (root / "test" / "contempt").mkdir()
    with pytest.raises(FERDataError, match=r"unknown class folder 'contempt'"):
        load(root)
    with pytest.raises(
        FERDataError, match=r"train: holds class folders directly; pass the folder above it \(.*images\)"
    ):
        load(root / "train")
