"""`load_fer2013`: find which public FER-2013 layout a path holds, read it, and cache the decoded arrays.

Layouts (names as in `FERArrays.layout`):
- "fer2013_csv": the Kaggle challenge's fer2013.csv (emotion,pixels,Usage);
- "icml_csv": icml_face_data.csv, the same rows with the header "emotion, Usage, pixels";
- "train_test_csv": train.csv (emotion,pixels: the Training split) + test.csv (pixels only: PublicTest
  and PrivateTest mixed and unlabelled, so usage and label are UNKNOWN);
- "image_folder": train/<class>/ + test/<class>/ image files.
Each is found in a folder, or one folder below it, or inside an archive (.zip, .tar, .tar.gz / .tgz; see
`archive`) at its top or one folder below; a .csv.gz is the CSV it compresses. An archive is used when
it is the path given, or the only archive in a folder that holds no unpacked layout. On Windows an
extracted CSV may lack its .csv extension: `fer2013` is read as `fer2013.csv`.
"""

from __future__ import annotations

import logging
import os
import posixpath
import time
from dataclasses import dataclass
from pathlib import Path

from fer_lightning.data import cache
from fer_lightning.data.archive import (
    ARCHIVE_SUFFIXES,
    FolderTree,
    GzipTree,
    Tree,
    archive_kind,
    open_archive,
)
from fer_lightning.data.arrays import FERArrays
from fer_lightning.data.csv_reader import normalise_column, read_header, read_train_test_csv, read_usage_csv
from fer_lightning.data.errors import FERDataError, dataset_not_found
from fer_lightning.data.folder_reader import SPLIT_DIRS, read_image_folder
from fer_lightning.fer2013 import EMOTIONS

__all__ = ["FERDataError", "Layout", "detect_layout", "load_fer2013", "locate", "read_layout"]

log = logging.getLogger(__name__)

# Directory contents, most informative first: the Kaggle download holds icml_face_data.csv beside
# train.csv + test.csv, and only the former carries Usage and every label.
_LOOKED_FOR = "fer2013.csv, icml_face_data.csv, train.csv + test.csv, train/ + test/ class folders"
_SPLITS_HELP = " and ".join(f"{d}/<class>/" for d in SPLIT_DIRS)


@dataclass(frozen=True)
class Layout:
    """A detected layout: its name, the tree and paths the reader reads, and what its cache hashes and where
    it goes (for an archive: the archive itself, and its folder)."""

    name: str
    tree: Tree
    members: tuple[str, ...]  # the CSV files, or the folder that holds train/ and test/
    hashed: tuple[Path, ...]
    anchor: Path
    cache_name: str

    @property
    def source(self) -> str:
        """As `FERArrays.source` names it: the archive, the folder of the image layout, or the CSV files."""
        if self.tree.in_archive:
            return str(self.tree.root)
        if self.name == "image_folder":
            return self.tree.describe(self.members[0])
        return " + ".join(self.tree.describe(m) for m in self.members)


def _layout(tree: Tree, name: str, members: tuple[str, ...]) -> Layout:
    if tree.in_archive:
        return Layout(name, tree, members, (tree.root,), tree.root.parent, tree.root.name)
    paths = [tree.root / m for m in members]
    if name == "image_folder":
        return Layout(name, tree, members, tuple(paths[0] / d for d in SPLIT_DIRS), paths[0], name)
    if name == "train_test_csv":
        return Layout(name, tree, members, tuple(paths), paths[0].parent, name)
    return Layout(name, tree, members, (paths[0],), paths[0].parent, paths[0].name)


def _csv_file(tree: Tree, directory: str, stem: str) -> str | None:
    for name in (f"{stem}.csv", stem):
        if tree.is_file(rel := posixpath.join(directory, name)):
            return rel
    return None


def _usage_csv_layout(tree: Tree, rel: str) -> Layout:
    file = tree.member(rel)
    header = read_header(file)
    names = [normalise_column(h) for h in header]
    if {"emotion", "pixels", "usage"} <= set(names):
        icml = any(h != h.strip() for h in header) or names.index("usage") < names.index("pixels")
        return _layout(tree, "icml_csv" if icml else "fer2013_csv", (rel,))
    if "pixels" in names and set(names) <= {"emotion", "pixels"}:
        hint = (
            "that layout needs both files, named so"
            if tree.in_archive
            else f"pass the folder that holds both ({tree.describe(posixpath.dirname(rel))})"
        )
        raise FERDataError(
            f"{file}: header {header} has no Usage column: this looks like train.csv or test.csv of the "
            f"train.csv + test.csv layout; {hint}"
        )
    missing = ", ".join(c for c in ("emotion", "pixels", "Usage") if c.lower() not in names)
    raise FERDataError(
        f"{file}: header {header} matches no FER-2013 layout (missing column {missing}); expected "
        "emotion,pixels,Usage (fer2013.csv) or emotion, Usage, pixels (icml_face_data.csv)"
    )


def _directory_layout(tree: Tree, directory: str) -> Layout | None:
    here = tree.describe(directory)
    for stem in ("fer2013", "icml_face_data"):
        found = _csv_file(tree, directory, stem)
        if found is not None:
            return _usage_csv_layout(tree, found)
    train, test = _csv_file(tree, directory, "train"), _csv_file(tree, directory, "test")
    if train and test:
        return _layout(tree, "train_test_csv", (train, test))
    if train or test:
        raise FERDataError(
            f"{here}: found {posixpath.basename(train or test)} but not {'test' if train else 'train'}.csv; "
            "the train.csv + test.csv layout needs both"
        )
    present = [d for d in SPLIT_DIRS if tree.is_dir(posixpath.join(directory, d))]
    if len(present) == len(SPLIT_DIRS):
        return _layout(tree, "image_folder", (directory,))
    if present:
        (missing,) = (d for d in SPLIT_DIRS if d not in present)
        raise FERDataError(
            f"{here}: has {present[0]}/ but no {missing}/; the image-folder layout needs both {_SPLITS_HELP} "
            "in this folder"
        )
    if any(tree.is_dir(posixpath.join(directory, e)) for e in EMOTIONS):
        # "Pass its parent" only where the parent is not what the user passed already.
        if isinstance(tree, FolderTree) and directory == "" and tree.root.name in SPLIT_DIRS:
            fix = f"pass the folder above it ({tree.root.parent}), which must hold both {_SPLITS_HELP}"
        else:
            fix = f"the image-folder layout needs them one level down, in {_SPLITS_HELP}"
        raise FERDataError(f"{here}: holds class folders directly; {fix}")
    return None


def _tree_layout(tree: Tree) -> Layout | None:
    """The layout at the top of `tree`, or in its one subfolder holding one (archives often wrap one)."""
    found = _directory_layout(tree, "")
    if found is not None:
        return found
    subfolders = sorted(name for name, is_dir in tree.children("") if is_dir and not name.startswith("."))
    nested = [layout for sub in subfolders if (layout := _directory_layout(tree, sub))]
    if len(nested) > 1:
        raise FERDataError(
            f"{tree.describe()}: several FER-2013 copies in its subfolders "
            f"({', '.join(tree.describe(n.members[0]) for n in nested)}); pass the one to use"
        )
    return nested[0] if nested else None


def _archive_layout(path: Path) -> Layout:
    tree = open_archive(path, archive_kind(path))
    try:
        if isinstance(tree, GzipTree):
            return _usage_csv_layout(tree, tree.name)
        found = _tree_layout(tree)
        if found is None and len(tree.files()) == 1 and tree.files()[0].lower().endswith(".csv"):
            found = _usage_csv_layout(tree, tree.files()[0])  # the header decides, as for a CSV path
        if found is None:
            raise FERDataError(
                f"{path}: no FER-2013 layout inside (looked for {_LOOKED_FOR}, at its top or one folder "
                f"below); it holds {tree.first_entries()}"
            )
        return found
    except BaseException:
        tree.close()
        raise


def locate(path: str | os.PathLike) -> Layout | Path:
    """The unpacked layout at `path`, or the archive to read: `path` itself, or the only archive in a
    folder that holds no unpacked layout. Cheap: an archive is not opened."""
    path = Path(path).expanduser()
    if not path.exists():
        if path.suffix.lower() == ".csv" and path.with_suffix("").is_file():
            path = path.with_suffix("")
        else:
            raise dataset_not_found(str(path), "that path, and the same name without .csv")
    if path.is_file():
        if archive_kind(path) is not None:
            return path
        return _usage_csv_layout(FolderTree(path.parent), path.name)
    found = _tree_layout(FolderTree(path))
    if found is not None:
        return found
    archives = sorted(
        p.name
        for p in path.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(ARCHIVE_SUFFIXES)
    )
    if len(archives) > 1:
        raise FERDataError(
            f"{path}: several archives ({', '.join(archives)}) and nothing unpacked; pass the one to use"
        )
    if archives:
        return path / archives[0]
    raise dataset_not_found(
        str(path), f"{_LOOKED_FOR}, in it or one folder below, or an archive ({', '.join(ARCHIVE_SUFFIXES)})"
    )


def detect_layout(path: str | os.PathLike) -> Layout:
    """Which layout `path` holds: a CSV file (by its header), a folder (by its contents, or those of its
    one subfolder holding a layout), or an archive (the same, inside it)."""
    found = locate(path)
    return found if isinstance(found, Layout) else _archive_layout(found)


def read_layout(layout: Layout, *, skip_bad_rows: bool = False) -> FERArrays:
    """Parse a detected layout (no cache)."""
    tree = layout.tree
    if layout.name in ("fer2013_csv", "icml_csv"):
        arrays = read_usage_csv(tree.member(layout.members[0]), layout.name, skip_bad_rows=skip_bad_rows)
    elif layout.name == "train_test_csv":
        train, test = (tree.member(m) for m in layout.members)
        arrays = read_train_test_csv(train, test, skip_bad_rows=skip_bad_rows)
    else:
        arrays = read_image_folder(tree, layout.members[0], skip_bad_rows=skip_bad_rows)
    arrays.source = layout.source
    return arrays


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
    with skipped rows is not reused by a strict load, which re-reads and raises. The cache is keyed by
    the bytes read (see `cache`); an archive is opened only when its cache misses.
    """
    found = locate(path)
    if isinstance(found, Layout):
        hashed, anchor, cache_name, source = found.hashed, found.anchor, found.cache_name, found.source
    else:
        hashed, anchor, cache_name, source = (found,), found.parent, found.name, str(found)
    target = key = None
    if use_cache:
        key = cache.fingerprint(hashed)
        target = cache.cache_path(anchor, cache_name, cache_dir)
        cached = cache.load(target, key, source)
        if cached is not None and (skip_bad_rows or not cached.skipped):
            return cached
    start = time.perf_counter()
    layout = found if isinstance(found, Layout) else _archive_layout(found)
    try:
        arrays = read_layout(layout, skip_bad_rows=skip_bad_rows)
    finally:
        layout.tree.close()
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
