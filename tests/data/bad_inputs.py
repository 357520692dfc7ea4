"""The bad inputs a user can hand the readers, one row each: how to build it, what must be raised, and a
regex the message must match. `test_bad_input.py` runs every row through `load_fer2013` and the inspect
CLI. To see the messages by hand:

    python -m tests.data.bad_inputs /tmp/bad     # builds every case, prints: case, path
    python -m fer_lightning.data inspect <path>
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_lightning.data.errors import FERDataError
from tests.data.layouts import (
    random_arrays,
    write_fer2013_csv,
    write_gz,
    write_image,
    write_image_folder,
    write_tar,
    write_train_test_csv,
    write_zip,
)

SKIP = r"data\.source\.skip_bad_rows=true \(training app\) or --skip-bad-rows \(inspect\)"


@dataclass(frozen=True)
class Case:
    build: Callable[[Path], Path]  # writes the input below an empty folder, returns the path to pass
    raises: type[Exception]
    message: str  # a regex; the path it names is matched as written by the builder


def _csv(folder: Path, n: tuple[int, int, int] = (7, 7, 7)) -> Path:
    return write_fer2013_csv(random_arrays(n), folder / "fer2013.csv")


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _edit(path: Path, old: str, new: str) -> Path:
    path.write_text(path.read_text().replace(old, new, 1))
    return path


def _images(folder: Path) -> Path:
    return write_image_folder(random_arrays((7, 7, 7)), folder / "images")


def _with_image(image: np.ndarray, rel: str = "train/sad/Training_4.png") -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        root = _images(folder)
        write_image(root / rel, image)
        return root

    return build


def _bad_row(folder: Path) -> Path:
    return _edit(_csv(folder), ",Training", ",Validation")


def _extra_field(folder: Path) -> Path:
    path = _csv(folder)
    lines = path.read_text().splitlines()
    lines[3] += ",extra"
    path.write_text("\n".join(lines) + "\n")
    return path


def _case_twins(folder: Path) -> Path:
    root = _images(folder)
    (root / "train" / "angry").rename(root / "train" / "Angry")
    write_image(root / "train" / "angry" / "Training_500.png", np.zeros((48, 48), np.uint8))
    return root


def _no_test(folder: Path) -> Path:
    root = _images(folder)
    for image in (root / "test").rglob("*.png"):
        image.unlink()
    for sub in sorted((root / "test").rglob("*"), reverse=True):
        sub.rmdir()
    (root / "test").rmdir()
    return root


def _empty_class(folder: Path) -> Path:
    root = _images(folder)
    for image in (root / "test" / "disgust").iterdir():
        image.unlink()
    return root


def _truncated(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _kaggle_tar(folder: Path) -> Path:
    """The challenge download: fer2013.tar.gz holding fer2013/fer2013.csv."""
    inner = folder / "unpacked"
    inner.mkdir()
    _csv(inner)
    return write_tar(inner, folder / "fer2013.tar.gz", inside="fer2013")


def _bad_row_in_tar(folder: Path) -> Path:
    inner = folder / "unpacked"
    inner.mkdir()
    _edit(_csv(inner), ",Training", ",Validation")
    return write_tar(inner, folder / "fer2013.tar.gz", inside="fer2013")


def _bad_image_in_zip(folder: Path) -> Path:
    root = _with_image(np.zeros((40, 40), np.uint8))(folder)
    return write_zip(root, folder / "images.zip")


def _case_twins_in_zip(folder: Path) -> Path:
    # In a zip the twins survive on any file system, also a case-insensitive one.
    return write_zip(_case_twins(folder), folder / "images.zip")


def _nothing_inside(folder: Path) -> Path:
    (folder / "notes").mkdir()
    (folder / "notes" / "README.txt").write_text("FER-2013, see Kaggle")
    (folder / "notes" / "labels.txt").write_text("angry disgust fear happy sad surprise neutral")
    return write_zip(folder / "notes", folder / "download.zip", inside="fer")


def _two_archives(folder: Path) -> Path:
    data = folder / "data"
    data.mkdir()
    _kaggle_tar(folder).rename(data / "fer2013.tar.gz")
    write_zip(_images(folder), data / "images.zip")
    return data


def _only_train_csv(folder: Path) -> Path:
    write_train_test_csv(random_arrays(), folder / "pair")
    (folder / "pair" / "test.csv").unlink()
    return folder / "pair"


CASES: dict[str, Case] = {
    # -- paths ---------------------------------------------------------------------------------------------
    "missing path": Case(
        lambda f: f / "fer2013.csv", FileNotFoundError, r"FER-2013 not found at .*fer2013\.csv"
    ),
    "empty folder": Case(lambda f: f, FileNotFoundError, r"not found at .*looked for fer2013\.csv, .*\.zip"),
    # -- CSV files -----------------------------------------------------------------------------------------
    "bad row": Case(
        _bad_row,
        FERDataError,
        rf"fer2013\.csv: 1 bad row:\n  row 1 \(line 2\): Usage is 'Validation'.*{SKIP}",
    ),
    "extra field": Case(
        _extra_field, FERDataError, rf"fer2013\.csv: row 3 \(line 4\): 4 fields, expected 3 .*{SKIP}"
    ),
    "binary file": Case(
        lambda f: _write(f / "fer2013.csv", b"\xff\xd8\xff\xe0 jpeg"),
        FERDataError,
        r"fer2013\.csv: not a text CSV file \(nor a \.zip, \.tar, \.tar\.gz or \.csv\.gz archive\)",
    ),
    "empty file": Case(lambda f: _write(f / "fer2013.csv", b""), FERDataError, r"fer2013\.csv: empty file"),
    "missing column": Case(
        lambda f: _edit(_csv(f), "emotion,pixels,Usage", "emotion,pixels,Split"),
        FERDataError,
        r"fer2013\.csv: header \['emotion', 'pixels', 'Split'\] matches no FER-2013 layout \(missing column Usage\)",
    ),
    "only train.csv": Case(_only_train_csv, FERDataError, r"pair: found train\.csv but not test\.csv"),
    # -- image folders -------------------------------------------------------------------------------------
    "case twins": Case(
        _case_twins,
        FERDataError,
        r"train/Angry and .*train/angry: two folders for class angry, named apart only by case",
    ),
    "no test/": Case(
        _no_test,
        FERDataError,
        r"images: has train/ but no test/; the image-folder layout needs both .* in this folder",
    ),
    "train/ passed": Case(
        lambda f: _images(f) / "train",
        FERDataError,
        r"images/train: holds class folders directly; pass the folder above it \(.*images\)",
    ),
    "empty class folder": Case(_empty_class, FERDataError, r"test/disgust: empty class folder"),
    "corrupt image": Case(
        lambda f: _write(_images(f) / "train/angry/Training_0.png", b"not a png").parents[2],
        FERDataError,
        rf"images: 1 bad file:\n  train/angry/Training_0\.png: not a readable image.*{SKIP}",
    ),
    "16-bit image": Case(
        _with_image(np.arange(48 * 48, dtype=np.uint16).reshape(48, 48) * 20),
        FERDataError,
        r"train/sad/Training_4\.png: 16-bit image \(values up to 46060\), expected 8-bit greyscale",
    ),
    "transparent image": Case(
        _with_image(np.dstack([np.full((48, 48, 3), 90, np.uint8), np.full((48, 48), 128, np.uint8)])),
        FERDataError,
        r"train/sad/Training_4\.png: has transparent pixels",
    ),
    # -- archives ------------------------------------------------------------------------------------------
    "bad row in .tar.gz": Case(
        _bad_row_in_tar,
        FERDataError,
        r"fer2013\.tar\.gz:fer2013/fer2013\.csv: 1 bad row:\n  row 1 \(line 2\)",
    ),
    "bad row in .csv.gz": Case(
        lambda f: write_gz(_bad_row(f)), FERDataError, r"fer2013\.csv\.gz: 1 bad row:\n  row 1 \(line 2\)"
    ),
    "bad image in .zip": Case(
        _bad_image_in_zip,
        FERDataError,
        r"images\.zip: 1 bad file:\n  train/sad/Training_4\.png: image is 40x40",
    ),
    "case twins in .zip": Case(
        _case_twins_in_zip,
        FERDataError,
        r"images\.zip:train/Angry and .*images\.zip:train/angry: two folders",
    ),
    "no layout in archive": Case(
        _nothing_inside,
        FERDataError,
        r"download\.zip: no FER-2013 layout inside .*; it holds fer/README\.txt, fer/labels\.txt$",
    ),
    "empty .zip": Case(
        lambda f: write_zip(_mkdir(f / "nothing"), f / "empty.zip"),
        FERDataError,
        r"empty\.zip: no FER-2013 layout .*an empty archive",
    ),
    "truncated .tar.gz": Case(
        lambda f: _truncated(_kaggle_tar(f)),
        FERDataError,
        r"fer2013\.tar\.gz: corrupt or truncated tar archive",
    ),
    "truncated .csv.gz": Case(
        lambda f: _truncated(write_gz(_csv(f))),
        FERDataError,
        r"fer2013\.csv\.gz: corrupt or truncated gzip data",
    ),
    "truncated .zip": Case(
        lambda f: _truncated(write_zip(_images(f), f / "images.zip")),
        FERDataError,
        r"images\.zip: not a readable zip archive",
    ),
    "two archives in a folder": Case(
        _two_archives,
        FERDataError,
        r"data: several archives \(fer2013\.tar\.gz, images\.zip\) and nothing unpacked",
    ),
}


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    for name, case in CASES.items():
        folder = out / name.replace(" ", "_").replace("/", "").replace(".", "")
        folder.mkdir(parents=True, exist_ok=False)
        print(f"{name}\t{case.build(folder)}")


if __name__ == "__main__":
    main(sys.argv[1:])
