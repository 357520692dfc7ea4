"""Reader for the image-folder layout: train/<class>/*.jpg|png and test/<class>/*, in a folder or an archive.

The official split is recovered from the file name (Training_*, PublicTest_*, PrivateTest_*); a file
without such a prefix gets Training under train/ and UNKNOWN under test/, which mixes both test splits.
Base names repeat across class folders, so every image is keyed by its path relative to the root.
Hidden files (.DS_Store and the like) are not images and are not read.

FER-2013 is 8-bit greyscale. Other images are never converted without a record: an image whose colour
channels are equal, or whose 16-bit values are exact multiples of 257 (8-bit data saved at 16 bits), is
read losslessly; real colour is converted to grey (OpenCV's BT.601 luma, a fixed formula); each is counted
per kind in `FERArrays.conversions`. A 16-bit image with other values, or one with transparent pixels, is
a bad file: mapping it to 8 opaque bits would be a guess (OpenCV's own shift by 8 turns 8-bit values
stored at 16 bits into a black image).
"""

from __future__ import annotations

import logging
import posixpath
import re
from dataclasses import dataclass

import numpy as np

from fer_lightning.data.archive import Tree
from fer_lightning.data.arrays import FERArrays
from fer_lightning.data.errors import FERDataError, bad_rows_error
from fer_lightning.fer2013 import EMOTIONS, IMAGE_SIZE, SPLITS, UNKNOWN, split_code

log = logging.getLogger(__name__)

SPLIT_DIRS: dict[str, str | None] = {"train": "Training", "test": None}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# Kinds of `FERArrays.conversions`, and what each did.
CONVERSIONS = {
    "grey_as_colour": "colour-encoded with equal channels, read as grey (lossless)",
    "16bit_to_8bit": "16-bit with values v*257, divided by 257 (lossless)",
    "colour_to_grey": "real colour, converted to grey by BT.601 luma 0.299 R + 0.587 G + 0.114 B (lossy)",
}
LOSSY = ("colour_to_grey",)
_PREFIX = re.compile(rf"^({'|'.join(SPLITS)})_")
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class ImageFile:
    member: str  # path inside the tree
    rel: str  # "train/happy/Training_10118481.jpg": the image's id, relative to the layout's root
    label: int
    usage: int


def _natural_key(name: str) -> list[int | str]:
    # Training_2.jpg before Training_10.jpg, as the numeric ids in the official names intend.
    return [int(part) if part.isdigit() else part for part in _DIGITS.split(name)]


def _visible(tree: Tree, folder: str) -> list[tuple[str, bool]]:
    entries = (e for e in tree.children(folder) if not e[0].startswith("."))
    return sorted(entries, key=lambda e: _natural_key(e[0]))


def _class_folders(tree: Tree, split_dir: str) -> tuple[dict[int, str], list[str]]:
    """Class index -> folder, and the stray files found beside the folders."""
    folders: dict[int, str] = {}
    stray = []
    split_name = posixpath.basename(split_dir)
    for name, is_dir in _visible(tree, split_dir):
        folder = posixpath.join(split_dir, name)
        if not is_dir:
            stray.append(f"{split_name}/{name}: a file outside the class folders, expected it inside one")
            continue
        if name.lower() not in EMOTIONS:
            raise FERDataError(
                f"{tree.describe(folder)}: unknown class folder {name!r}; expected the folders {', '.join(EMOTIONS)}"
            )
        label = EMOTIONS.index(name.lower())
        if label in folders:
            # Reading both would merge them without a word, keeping one would drop the other's images;
            # on a case-insensitive file system a copy would merge them anyway.
            raise FERDataError(
                f"{tree.describe(folders[label])} and {tree.describe(folder)}: two folders for class "
                f"{EMOTIONS[label]}, named apart only by case; merge them into one"
            )
        folders[label] = folder
    missing = [EMOTIONS[i] for i in range(len(EMOTIONS)) if i not in folders]
    if missing:
        raise FERDataError(
            f"{tree.describe(split_dir)}: missing class folder {', '.join(missing)}; "
            f"expected the folders {', '.join(EMOTIONS)}"
        )
    return folders, stray


def list_images(tree: Tree, root: str = "") -> tuple[list[ImageFile], list[str]]:
    """Every image file under root/train and root/test, and every entry that cannot be one (with why)."""
    files: list[ImageFile] = []
    problems: list[str] = []
    for split_dir, default_split in SPLIT_DIRS.items():
        folders, stray = _class_folders(tree, posixpath.join(root, split_dir))
        problems += stray
        for label, folder in sorted(folders.items()):
            entries = _visible(tree, folder)
            if not entries:
                raise FERDataError(
                    f"{tree.describe(folder)}: empty class folder; expected {EMOTIONS[label]} images in it"
                )
            for name, is_dir in entries:
                rel = f"{split_dir}/{posixpath.basename(folder)}/{name}"
                if is_dir or not name.lower().endswith(IMAGE_SUFFIXES):
                    problems.append(f"{rel}: not an image file, expected {' / '.join(IMAGE_SUFFIXES)}")
                    continue
                prefix = _PREFIX.match(name)
                split = prefix.group(1) if prefix else default_split
                if prefix and (split == "Training") != (split_dir == "train"):
                    problems.append(
                        f"{rel}: named {split} but stored under {split_dir}/, expected it in the other"
                    )
                    continue
                usage = split_code(split) if split else UNKNOWN
                files.append(ImageFile(posixpath.join(folder, name), rel, label, usage))
    return files, problems


def _decode(data: bytes) -> tuple[np.ndarray, list[str]] | str:
    """The image as uint8 [48, 48] and the conversions it took, or what is wrong with the file."""
    import cv2  # OpenCV is imported where it is used: it costs import time elsewhere.

    if not data:
        return "empty file, expected a 48x48 image"
    try:
        # UNCHANGED, not GRAYSCALE: the reader decides about colour and depth, and reports it.
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None:
        return "not a readable image (corrupt, or not JPEG/PNG)"
    if image.shape[:2] != (IMAGE_SIZE, IMAGE_SIZE):
        return f"image is {image.shape[1]}x{image.shape[0]}, expected {IMAGE_SIZE}x{IMAGE_SIZE}"
    kinds = []
    if image.dtype == np.uint16:
        high = (image >> 8).astype(np.uint8)
        if not np.array_equal(image & 0xFF, high):
            return (
                f"16-bit image (values up to {int(image.max())}), expected 8-bit greyscale; which 8 bits "
                "to keep would be a guess: convert it to 8 bits yourself"
            )
        image = high
        kinds.append("16bit_to_8bit")
    elif image.dtype != np.uint8:
        return f"{image.dtype} pixels, expected 8-bit greyscale"
    if image.ndim == 3:
        if image.shape[2] == 4:
            if (image[..., 3] != 255).any():
                return "has transparent pixels, expected an opaque greyscale image"
            image = image[..., :3]
        b, g, r = image[..., 0], image[..., 1], image[..., 2]
        if np.array_equal(b, g) and np.array_equal(b, r):
            image = np.ascontiguousarray(b)
            kinds.append("grey_as_colour")
        else:
            image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2GRAY)
            kinds.append("colour_to_grey")
    return image, kinds


def read_image_folder(tree: Tree, root: str = "", *, skip_bad_rows: bool = False) -> FERArrays:
    """Decode every image under root/train/<class>/ and root/test/<class>/ of `tree` (48x48 greyscale)."""
    files, problems = list_images(tree, root)
    images = np.zeros((len(files), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    bad: dict[int, str] = {}
    converted: dict[str, list[int]] = {}
    for i, data in tree.read_files([f.member for f in files]):
        decoded = data if isinstance(data, str) else _decode(data)
        if isinstance(decoded, str):
            bad[i] = decoded
            continue
        images[i], kinds = decoded
        for kind in kinds:
            converted.setdefault(kind, []).append(i)
    problems += [f"{files[i].rel}: {why}" for i, why in sorted(bad.items())]
    if problems and not skip_bad_rows:
        raise bad_rows_error(tree.describe(root), problems, what="files")
    conversions = {k: [files[i].rel for i in sorted(converted[k])] for k in CONVERSIONS if k in converted}
    for kind in LOSSY:
        if kind in conversions:
            log.warning(
                "%s: %d images converted: %s (first: %s)",
                tree.describe(root),
                len(conversions[kind]),
                CONVERSIONS[kind],
                conversions[kind][0],
            )
    keep = np.ones(len(files), bool)
    keep[list(bad)] = False
    kept = [f for f, k in zip(files, keep, strict=True) if k]
    return FERArrays(
        images=images[keep],
        labels=np.array([f.label for f in kept], np.int64),
        usage=np.array([f.usage for f in kept], np.int8),
        ids=np.array([f.rel for f in kept], dtype=str),
        source=tree.describe(root),
        layout="image_folder",
        skipped=problems,
        conversions=conversions,
    )
