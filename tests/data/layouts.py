"""Write the same `FERArrays` in each public FER-2013 layout, so readers can be compared on equal content,
and pack any layout into the archives users download (.zip, .tar.gz, .csv.gz)."""

from __future__ import annotations

import gzip
import shutil
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

from fer_lightning.data.arrays import FERArrays
from fer_lightning.fer2013 import EMOTIONS, IMAGE_SIZE, SPLITS


def random_arrays(per_split: tuple[int, int, int] = (21, 14, 14), seed: int = 0) -> FERArrays:
    """Noise images with every class in every split, as a reader would return them from fer2013.csv."""
    rng = np.random.default_rng(seed)
    n = sum(per_split)
    usage = np.repeat(np.arange(len(SPLITS)), per_split).astype(np.int8)
    labels = np.concatenate([np.arange(k) % len(EMOTIONS) for k in per_split]).astype(np.int64)
    images = rng.integers(0, 256, (n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    ids = np.array([f"fer2013.csv:row {i + 1}" for i in range(n)])
    return FERArrays(images, labels, usage, ids, source="random", layout="fer2013_csv")


def pixel_text(image: np.ndarray) -> str:
    return " ".join(map(str, image.reshape(-1).tolist()))


def csv_rows(arrays: FERArrays, columns: tuple[str, ...]) -> list[list[str]]:
    fields = {
        "emotion": [str(v) for v in arrays.labels],
        "pixels": [pixel_text(im) for im in arrays.images],
        "Usage": [SPLITS[u] for u in arrays.usage],
    }
    return [[fields[c][i] for c in columns] for i in range(len(arrays))]


def write_csv(path: Path, header: str, rows: list[list[str]]) -> Path:
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


def write_fer2013_csv(arrays: FERArrays, path: Path) -> Path:
    return write_csv(path, "emotion,pixels,Usage", csv_rows(arrays, ("emotion", "pixels", "Usage")))


def write_icml_csv(arrays: FERArrays, path: Path) -> Path:
    # The Kaggle file's header really has spaces after the commas.
    return write_csv(path, "emotion, Usage, pixels", csv_rows(arrays, ("emotion", "Usage", "pixels")))


def write_train_test_csv(arrays: FERArrays, folder: Path) -> Path:
    """train.csv = the Training rows (emotion,pixels); test.csv = the others, pixels only, labels withheld."""
    folder.mkdir(parents=True, exist_ok=True)
    train = arrays.split("Training")
    test = arrays.select(arrays.usage != SPLITS.index("Training"))
    write_csv(folder / "train.csv", "emotion,pixels", csv_rows(train, ("emotion", "pixels")))
    write_csv(folder / "test.csv", "pixels", csv_rows(test, ("pixels",)))
    return folder


def write_image_folder(arrays: FERArrays, root: Path, suffix: str = ".png", prefixed: bool = True) -> Path:
    """train/<class>/ for Training, test/<class>/ for the rest; names <Usage>_<index><suffix> (the index
    is the row, so a test can match images back) or just <index><suffix> when not prefixed."""
    for i, (image, label, usage) in enumerate(zip(arrays.images, arrays.labels, arrays.usage, strict=True)):
        split_dir = "train" if SPLITS[usage] == "Training" else "test"
        folder = root / split_dir / EMOTIONS[label]
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{SPLITS[usage]}_{i}{suffix}" if prefixed else f"{i}{suffix}"
        assert cv2.imwrite(str(folder / name), image)
    return root


def row_index(image_id: str) -> int:
    """The source row of an image written by write_image_folder ("test/sad/PublicTest_17.png" -> 17)."""
    return int(Path(image_id).stem.rsplit("_", 1)[-1])


def canonical(arrays: FERArrays) -> FERArrays:
    """The same images in an order that does not depend on the layout: by split, label, then pixels."""
    flat = arrays.images.reshape(len(arrays), -1)
    order = np.lexsort((*flat.T[::-1], arrays.labels, arrays.usage))
    return arrays.select(order)


def planted_arrays() -> tuple[FERArrays, dict]:
    """20 Training, 10 PublicTest, 10 PrivateTest noise images with known defects, and what an audit must find.

    Training 2 = copy of 1 (another label); 4, 5 = copies of 3; PublicTest 0 = Training 6 (same label),
    PublicTest 1 = Training 7 (another label); PrivateTest 0 = PublicTest 2; PrivateTest 1 = Training 8
    (another label); Training 10 all black; PrivateTest 5 uniform grey.
    """
    arrays = random_arrays((20, 10, 10), seed=3)
    t, p, q = 0, 20, 30  # first index of each split
    im, lab = arrays.images, arrays.labels

    def plant(dst: int, src: int, label: int | None = None) -> None:
        im[dst] = im[src]
        lab[dst] = lab[src] if label is None else label

    plant(t + 2, t + 1, label=(lab[t + 1] + 1) % 7)
    plant(t + 4, t + 3)
    plant(t + 5, t + 3)
    plant(p + 0, t + 6)
    plant(p + 1, t + 7, label=(lab[t + 7] + 3) % 7)
    plant(q + 0, p + 2)
    plant(q + 1, t + 8, label=(lab[t + 8] + 2) % 7)
    im[t + 10] = 0
    im[q + 5] = 128
    expected = {
        "redundant_images": 7,
        "within_training": {"groups": 2, "redundant_images": 3, "conflicting_label_groups": 1},
        "across": {
            ("PublicTest", "Training"): (2, 1, [arrays.ids[p], arrays.ids[p + 1]]),
            ("PrivateTest", "Training"): (1, 1, [arrays.ids[q + 1]]),
            ("PrivateTest", "PublicTest"): (1, 0, [arrays.ids[q]]),
        },
        "blank_ids": [arrays.ids[t + 10], arrays.ids[q + 5]],
    }
    return arrays, expected


def _files_below(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def write_zip(folder: Path, archive: Path, inside: str = "") -> Path:
    """Every file below `folder` into a .zip, under the folder `inside` of the archive ("" for its top)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in _files_below(folder):
            zf.write(path, f"{inside}/{path.relative_to(folder).as_posix()}".lstrip("/"))
    return archive


def write_tar(folder: Path, archive: Path, inside: str = "", mode: str = "w:gz") -> Path:
    """Every file below `folder` into a tar (gzip-compressed by default), under `inside`."""
    with tarfile.open(archive, mode) as tar:
        for path in _files_below(folder):
            tar.add(path, f"{inside}/{path.relative_to(folder).as_posix()}".lstrip("/"))
    return archive


def write_gz(path: Path, archive: Path | None = None) -> Path:
    """`path` gzip-compressed, as `<path>.gz` unless named."""
    archive = archive or path.with_name(path.name + ".gz")
    with open(path, "rb") as src, gzip.open(archive, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return archive


def write_image(path: Path, image: np.ndarray) -> Path:
    """Any image OpenCV writes: 8 or 16 bits, 1, 3 (BGR) or 4 (BGRA) channels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path
