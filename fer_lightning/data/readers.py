"""`load_fer2013`: find which public FER-2013 layout a path holds, read it, and cache the decoded arrays.

Layouts (names as in `FERArrays.layout`):
- "fer2013_csv": the Kaggle challenge's fer2013.csv (emotion,pixels,Usage);
- "icml_csv": icml_face_data.csv, the same rows with the header "emotion, Usage, pixels";
- "train_test_csv": train.csv (emotion,pixels: the Training split) + test.csv (pixels only: PublicTest
  and PrivateTest mixed and unlabelled, so usage and label are UNKNOWN);
- "image_folder": train/<class>/ + test/<class>/ image files.
On Windows an extracted CSV may lack its .csv extension: `fer2013` is read as `fer2013.csv`.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from fer_lightning.classes import EMOTIONS
from fer_lightning.data import cache
from fer_lightning.data.arrays import FERArrays
from fer_lightning.data.csv_reader import normalise_column, read_header, read_train_test_csv, read_usage_csv
from fer_lightning.data.errors import FERDataError, dataset_not_found
from fer_lightning.data.folder_reader import SPLIT_DIRS, read_image_folder

__all__ = ["FERDataError", "Layout", "detect_layout", "load_fer2013", "read_layout"]

log = logging.getLogger(__name__)

LAYOUTS = ("fer2013_csv", "icml_csv", "train_test_csv", "image_folder")
# Directory contents, most informative first: the Kaggle download holds icml_face_data.csv beside
# train.csv + test.csv, and only the former carries Usage and every label.
_LOOKED_FOR = "fer2013.csv, icml_face_data.csv, train.csv + test.csv, train/ + test/ class folders"


@dataclass(frozen=True)
class Layout:
    """A detected layout: its name, the files or folders the reader reads, and where its cache goes."""

    name: str
    sources: tuple[Path, ...]
    anchor: Path
    cache_name: str

    @property
    def source(self) -> str:
        """As the reader writes it in `FERArrays.source`."""
        if self.name == "image_folder":
            return str(self.anchor)
        return " + ".join(str(s) for s in self.sources)


def _csv_file(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.csv", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def _usage_csv_layout(path: Path) -> Layout:
    header = read_header(path)
    names = [normalise_column(h) for h in header]
    if {"emotion", "pixels", "usage"} <= set(names):
        icml = any(h != h.strip() for h in header) or names.index("usage") < names.index("pixels")
        return Layout("icml_csv" if icml else "fer2013_csv", (path,), path.parent, path.name)
    if "pixels" in names:
        raise FERDataError(
            f"{path}: header {header} has no Usage column: this looks like train.csv or test.csv of the "
            f"train.csv + test.csv layout; pass the folder that holds both ({path.parent})"
        )
    raise FERDataError(
        f"{path}: header {header} matches no FER-2013 layout; expected emotion,pixels,Usage (fer2013.csv) "
        "or emotion, Usage, pixels (icml_face_data.csv)"
    )


def _directory_layout(directory: Path) -> Layout | None:
    for stem in ("fer2013", "icml_face_data"):
        found = _csv_file(directory, stem)
        if found is not None:
            return _usage_csv_layout(found)
    train, test = _csv_file(directory, "train"), _csv_file(directory, "test")
    if train and test:
        return Layout("train_test_csv", (train, test), directory, "train_test_csv")
    if train or test:
        raise FERDataError(
            f"{directory}: found {(train or test).name} but not {'test' if train else 'train'}.csv; "
            "the train.csv + test.csv layout needs both"
        )
    if all((directory / d).is_dir() for d in SPLIT_DIRS):
        return Layout("image_folder", tuple(directory / d for d in SPLIT_DIRS), directory, "image_folder")
    if any((directory / e).is_dir() for e in EMOTIONS):
        raise FERDataError(
            f"{directory}: holds class folders directly; pass its parent, which must hold both "
            f"{' and '.join(f'{d}/' for d in SPLIT_DIRS)}"
        )
    return None


def detect_layout(path: str | os.PathLike) -> Layout:
    """Which layout `path` holds: a CSV file (by its header), or a folder (by its contents, or those of
    its one subfolder holding a layout, as archives often extract into one)."""
    path = Path(path).expanduser()
    if not path.exists():
        if path.suffix.lower() == ".csv" and path.with_suffix("").is_file():
            return _usage_csv_layout(path.with_suffix(""))
        raise dataset_not_found(str(path), "that path, and the same name without .csv")
    if path.is_file():
        return _usage_csv_layout(path)
    found = _directory_layout(path)
    if found is not None:
        return found
    nested = [
        layout
        for sub in sorted(p for p in path.iterdir() if p.is_dir())
        if (layout := _directory_layout(sub))
    ]
    if len(nested) == 1:
        return nested[0]
    if len(nested) > 1:
        raise FERDataError(
            f"{path}: several FER-2013 copies in its subfolders ({', '.join(n.source for n in nested)}); "
            "pass the one to use"
        )
    raise dataset_not_found(str(path), f"{_LOOKED_FOR}, in it or one folder below")


def read_layout(layout: Layout, *, skip_bad_rows: bool = False) -> FERArrays:
    """Parse a detected layout (no cache)."""
    if layout.name in ("fer2013_csv", "icml_csv"):
        return read_usage_csv(layout.sources[0], layout.name, skip_bad_rows=skip_bad_rows)
    if layout.name == "train_test_csv":
        return read_train_test_csv(*layout.sources, skip_bad_rows=skip_bad_rows)
    return read_image_folder(layout.anchor, skip_bad_rows=skip_bad_rows)


def load_fer2013(
    path: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    skip_bad_rows: bool = False,
) -> FERArrays:
    """Read FER-2013 from any public layout at `path` into `FERArrays`, through the cache.

    Bad input raises `FERDataError` naming the file, the row or path, and what was expected; with
    `skip_bad_rows` those rows or files are dropped instead and listed in `.skipped`. A cache written
    with skipped rows is not reused by a strict load, which re-reads and raises.
    """
    layout = detect_layout(path)
    target = key = None
    if use_cache:
        key = cache.fingerprint(layout.sources)
        target = cache.cache_path(layout.anchor, layout.cache_name, cache_dir)
        cached = cache.load(target, key, layout.source)
        if cached is not None and (skip_bad_rows or not cached.skipped):
            return cached
    start = time.perf_counter()
    arrays = read_layout(layout, skip_bad_rows=skip_bad_rows)
    log.info(
        "read %d images (%s) from %s in %.1f s",
        len(arrays),
        layout.name,
        layout.source,
        time.perf_counter() - start,
    )
    if target is not None and key is not None:
        cache.save(target, arrays, key)
    return arrays
