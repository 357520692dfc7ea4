"""Reader for the image-folder layout: train/<class>/*.jpg|png and test/<class>/*.

The official split is recovered from the file name (Training_*, PublicTest_*, PrivateTest_*); a file
without such a prefix gets Training under train/ and UNKNOWN under test/, which mixes both test splits.
Base names repeat across class folders, so every image is keyed by its path relative to the root.
Hidden files (.DS_Store and the like) are not images and are not read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_lightning.classes import EMOTIONS, IMAGE_SIZE, UNKNOWN, split_code
from fer_lightning.data.arrays import FERArrays
from fer_lightning.data.errors import FERDataError, bad_rows_error

SPLIT_DIRS: dict[str, str | None] = {"train": "Training", "test": None}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_PREFIX = re.compile(r"^(Training|PublicTest|PrivateTest)_")
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class ImageFile:
    path: Path
    rel: str  # "train/happy/Training_10118481.jpg": the image's id
    label: int
    usage: int


def _natural_key(name: str) -> list[int | str]:
    # Training_2.jpg before Training_10.jpg, as the numeric ids in the official names intend.
    return [int(part) if part.isdigit() else part for part in _DIGITS.split(name)]


def _visible(directory: Path) -> list[os.DirEntry]:
    with os.scandir(directory) as entries:
        return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: _natural_key(e.name))


def _class_folders(split_dir: Path) -> tuple[dict[int, Path], list[str]]:
    """Class index -> folder, and the stray files found beside the folders."""
    folders: dict[int, Path] = {}
    stray = []
    for entry in _visible(split_dir):
        if not entry.is_dir():
            stray.append(
                f"{split_dir.name}/{entry.name}: a file outside the class folders, expected it inside one"
            )
            continue
        name = entry.name.lower()
        if name not in EMOTIONS:
            raise FERDataError(
                f"{entry.path}: unknown class folder {entry.name!r}; expected the folders {', '.join(EMOTIONS)}"
            )
        folders[EMOTIONS.index(name)] = Path(entry.path)
    missing = [EMOTIONS[i] for i in range(len(EMOTIONS)) if i not in folders]
    if missing:
        raise FERDataError(
            f"{split_dir}: missing class folder {', '.join(missing)}; expected the folders {', '.join(EMOTIONS)}"
        )
    return folders, stray


def list_images(root: Path) -> tuple[list[ImageFile], list[str]]:
    """Every image file under root/train and root/test, and every entry that cannot be one (with why)."""
    files: list[ImageFile] = []
    problems: list[str] = []
    for split_dir, default_split in SPLIT_DIRS.items():
        folders, stray = _class_folders(root / split_dir)
        problems += stray
        for label, folder in sorted(folders.items()):
            entries = _visible(folder)
            if not entries:
                raise FERDataError(f"{folder}: empty class folder; expected {EMOTIONS[label]} images in it")
            for entry in entries:
                rel = f"{split_dir}/{folder.name}/{entry.name}"
                if not entry.is_file() or not entry.name.lower().endswith(IMAGE_SUFFIXES):
                    problems.append(f"{rel}: not an image file, expected {' / '.join(IMAGE_SUFFIXES)}")
                    continue
                prefix = _PREFIX.match(entry.name)
                split = prefix.group(1) if prefix else default_split
                if prefix and (split == "Training") != (split_dir == "train"):
                    problems.append(
                        f"{rel}: named {split} but stored under {split_dir}/, expected it in the other"
                    )
                    continue
                files.append(ImageFile(Path(entry.path), rel, label, split_code(split) if split else UNKNOWN))
    return files, problems


def _decode(path: Path) -> np.ndarray | str:
    """The image as uint8 [48, 48], or what is wrong with the file."""
    import cv2  # OpenCV is imported where it is used: it costs import time elsewhere.

    data = np.fromfile(path, np.uint8)  # with imdecode, also reads non-ASCII Windows paths
    if data.size == 0:
        return "empty file, expected a 48x48 image"
    try:
        image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    except cv2.error:
        image = None
    if image is None:
        return "not a readable image (corrupt, or not JPEG/PNG)"
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE):
        return f"image is {image.shape[1]}x{image.shape[0]}, expected {IMAGE_SIZE}x{IMAGE_SIZE}"
    return image


def read_image_folder(root: Path, *, skip_bad_rows: bool = False) -> FERArrays:
    """Decode every image under root/train/<class>/ and root/test/<class>/ (grayscale, 48x48)."""
    files, problems = list_images(root)
    images = np.zeros((len(files), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    keep = np.ones(len(files), bool)
    for i, item in enumerate(files):
        decoded = _decode(item.path)
        if isinstance(decoded, str):
            problems.append(f"{item.rel}: {decoded}")
            keep[i] = False
        else:
            images[i] = decoded
    if problems and not skip_bad_rows:
        raise bad_rows_error(str(root), problems, what="files")
    kept = [f for f, k in zip(files, keep, strict=True) if k]
    return FERArrays(
        images=images[keep],
        labels=np.array([f.label for f in kept], np.int64),
        usage=np.array([f.usage for f in kept], np.int8),
        ids=np.array([f.rel for f in kept], dtype=str),
        source=str(root),
        layout="image_folder",
        skipped=problems,
    )
