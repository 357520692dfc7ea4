"""File trees the readers walk: a folder on disk, or an archive read in place.

Archives are recognised by their first bytes, not their names: .zip, .tar, .tar.gz / .tgz, and a
gzip-compressed CSV (.csv.gz). They are read in memory and never extracted. Measured on the real image
folder (32,298 JPEGs, benchmarks/README.md): extracting to disk and reading the folder took 2.6-3.0x the
in-place read for the .zip (9-14 s against 3.5-4.7 s) and 8-21x for the .tar.gz (47-166 s against
6-8 s: 32k file creations), and in place there is no extracted copy to clean up or to go stale. A member is named `<archive>:<path inside>` in every message.

Paths inside a tree are relative POSIX strings; "" is the top.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import posixpath
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from fer_lightning.data.errors import FERDataError

__all__ = ["ARCHIVE_SUFFIXES", "FolderTree", "Member", "Tree", "archive_kind", "open_archive"]

# Names that make a file in a data folder a candidate archive (the content decides what it is).
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".csv.gz")
# What damaged compressed data raises, from the stdlib modules involved.
_CORRUPT = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)
# Members up to this size (every 48x48 image) are kept from a tar's listing pass, so the image-folder
# layout costs one pass over a .tar.gz, not one per image; a bigger member (a CSV) is streamed again.
_KEEP_BYTES = 1 << 20
# Entries an archiver adds that are never data.
_ARCHIVER_JUNK = ("__MACOSX",)
# How many entries an error lists when an archive holds no layout.
_LISTED = 10

ArchiveKind = Literal["zip", "tar", "gzip"]


class Tree:
    """Files below `root`, addressed by relative paths."""

    root: Path
    in_archive = False

    def describe(self, rel: str = "") -> str:
        """How messages name `rel`."""
        raise NotImplementedError

    def is_dir(self, rel: str) -> bool:
        raise NotImplementedError

    def is_file(self, rel: str) -> bool:
        raise NotImplementedError

    def children(self, rel: str) -> list[tuple[str, bool]]:
        """(name, is a folder) of each entry directly in folder `rel`, in no particular order."""
        raise NotImplementedError

    def open(self, rel: str) -> contextlib.AbstractContextManager[BinaryIO]:
        raise NotImplementedError

    def read_files(self, rels: Sequence[str]) -> Iterator[tuple[int, bytes | str]]:
        """(index into rels, the file's bytes or why it cannot be read), in whatever order is fastest."""
        for i, rel in enumerate(rels):
            with self.open(rel) as f:
                yield i, f.read()

    def close(self) -> None:
        """Release what the tree holds open (a zip's file handle)."""

    def member(self, rel: str) -> Member:
        return Member(self, rel)


@dataclass(frozen=True)
class Member:
    """One file of a tree: what a CSV reader opens, names in image ids, and shows in errors."""

    tree: Tree
    rel: str

    @property
    def name(self) -> str:
        return posixpath.basename(self.rel)

    def open(self) -> contextlib.AbstractContextManager[BinaryIO]:
        return self.tree.open(self.rel)

    def __str__(self) -> str:
        return self.tree.describe(self.rel)


def _read_whole(path: str) -> bytes:
    # os.open + one exact-size read: 0.42 s for the 32,298 real images, against 0.66-1.0 s for
    # open().read() or Path.read_bytes() (measured on this machine's shared cores).
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, size + 1)
        if len(data) == size:
            return data
        parts = [data]  # a short read, or the file grew since fstat: read on to its end
        while chunk := os.read(fd, 1 << 20):
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


class FolderTree(Tree):
    """A folder on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self, rel: str = "") -> str:
        return str(self.root / rel) if rel else str(self.root)

    def is_dir(self, rel: str) -> bool:
        return (self.root / rel).is_dir()

    def is_file(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def children(self, rel: str) -> list[tuple[str, bool]]:
        with os.scandir(self.root / rel) as entries:
            return [(e.name, e.is_dir()) for e in entries]

    def open(self, rel: str) -> contextlib.AbstractContextManager[BinaryIO]:
        return open(self.root / rel, "rb")

    def read_files(self, rels: Sequence[str]) -> Iterator[tuple[int, bytes | str]]:
        for i, rel in enumerate(rels):
            try:
                yield i, _read_whole(os.path.join(self.root, rel))
            except OSError as err:
                yield i, f"cannot be read ({err.strerror or err})"


def _normalise(name: str) -> str | None:
    """A member name as a relative path ("./a//b/" -> "a/b"), or None for the archive's top itself."""
    rel = posixpath.normpath(name.replace("\\", "/").lstrip("/"))
    return None if rel in (".", "") else rel


class _ArchiveTree(Tree):
    in_archive = True

    def __init__(self, path: Path) -> None:
        self.root = path
        self._dirs: dict[str, dict[str, bool]] = {"": {}}
        self._order: list[str] = []  # entries in archive order, for messages

    def _add(self, name: str, is_dir: bool) -> str | None:
        rel = _normalise(name)
        if rel is None or rel.split("/", 1)[0] in _ARCHIVER_JUNK:
            return None
        self._order.append(rel + ("/" if is_dir else ""))
        parts = rel.split("/")
        for depth in range(len(parts)):
            parent, child = "/".join(parts[:depth]), parts[depth]
            folder = depth < len(parts) - 1 or is_dir
            self._dirs.setdefault(parent, {})
            self._dirs[parent][child] = self._dirs[parent].get(child, False) or folder
        if is_dir:
            self._dirs.setdefault(rel, {})
        return rel

    def describe(self, rel: str = "") -> str:
        return f"{self.root}:{rel}" if rel else str(self.root)

    def is_dir(self, rel: str) -> bool:
        return rel in self._dirs

    def is_file(self, rel: str) -> bool:
        return rel in self._files

    def children(self, rel: str) -> list[tuple[str, bool]]:
        return list(self._dirs.get(rel, {}).items())

    def files(self) -> list[str]:
        return list(self._files)

    def first_entries(self) -> str:
        """The first entries in archive order, for an error saying what the archive holds."""
        if not self._order:
            return "nothing (an empty archive)"
        more = len(self._order) - _LISTED
        return ", ".join(self._order[:_LISTED]) + (f" ... and {more} more" if more > 0 else "")

    @contextlib.contextmanager
    def _guard(self, rel: str) -> Iterator[None]:
        try:
            yield
        except _CORRUPT as err:
            raise FERDataError(f"{self.describe(rel)}: corrupt or truncated archive data ({err})") from None


class ZipTree(_ArchiveTree):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            self._zip = zipfile.ZipFile(path)
        except _CORRUPT as err:
            raise FERDataError(f"{path}: not a readable zip archive ({err})") from None
        self._files: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            rel = self._add(info.filename, info.is_dir())
            if rel is not None and not info.is_dir():
                self._files[rel] = info

    @contextlib.contextmanager
    def open(self, rel: str) -> Iterator[BinaryIO]:
        with self._guard(rel):
            try:
                handle = self._zip.open(self._files[rel])
            except (RuntimeError, NotImplementedError) as err:  # encrypted; unsupported compression
                raise FERDataError(f"{self.describe(rel)}: cannot be read from the archive ({err})") from None
            with handle:
                yield handle

    def read_files(self, rels: Sequence[str]) -> Iterator[tuple[int, bytes | str]]:
        for i, rel in enumerate(rels):
            try:
                yield i, self._zip.read(self._files[rel])
            except (*_CORRUPT, RuntimeError, NotImplementedError) as err:
                yield i, f"cannot be read from the archive ({err})"

    def close(self) -> None:
        self._zip.close()


class _ForwardOnly(io.RawIOBase):
    """A member of a streamed tar: tarfile's file object claims seekable() and fails when asked."""

    def __init__(self, member: BinaryIO) -> None:
        self._member = member

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._member.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class TarTree(_ArchiveTree):
    """A .tar or compressed tar, listed in one streaming pass (a .tar.gz has no index to seek by)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        # bytes: kept from the listing pass; None: streamed when read; str: why it cannot be read.
        self._files: dict[str, bytes | str | None] = {}
        try:
            with tarfile.open(path, "r|*") as tar:
                for info in tar:
                    rel = self._add(info.name, info.isdir())
                    if rel is None or info.isdir():
                        continue
                    if not info.isfile():
                        self._files[rel] = "a link or special file in the archive, expected a regular file"
                    elif info.size <= _KEEP_BYTES:
                        self._files[rel] = tar.extractfile(info).read()
                    else:
                        self._files[rel] = None
        except _CORRUPT as err:
            raise FERDataError(f"{path}: corrupt or truncated tar archive ({err})") from None

    @contextlib.contextmanager
    def open(self, rel: str) -> Iterator[BinaryIO]:
        kept = self._files[rel]
        if isinstance(kept, str):
            raise FERDataError(f"{self.describe(rel)}: {kept}")
        if isinstance(kept, bytes):
            yield io.BytesIO(kept)
            return
        with self._guard(rel), tarfile.open(self.root, "r|*") as tar:
            for info in tar:
                if _normalise(info.name) == rel:
                    yield io.BufferedReader(_ForwardOnly(tar.extractfile(info)), 1 << 20)
                    return
        raise FERDataError(f"{self.describe(rel)}: vanished from the archive while it was read")

    def read_files(self, rels: Sequence[str]) -> Iterator[tuple[int, bytes | str]]:
        streamed: dict[str, list[int]] = {}
        for i, rel in enumerate(rels):
            kept = self._files[rel]
            if kept is None:
                streamed.setdefault(rel, []).append(i)
            else:
                yield i, kept
        if streamed:
            with self._guard(""), tarfile.open(self.root, "r|*") as tar:
                for info in tar:
                    for i in streamed.get(_normalise(info.name) or "", []):
                        yield i, tar.extractfile(info).read()


class GzipTree(Tree):
    """A gzip-compressed CSV: one file, named as the archive without its .gz."""

    in_archive = True

    def __init__(self, path: Path) -> None:
        self.root = path
        self.name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name

    def describe(self, rel: str = "") -> str:
        return str(self.root)

    def is_dir(self, rel: str) -> bool:
        return rel == ""

    def is_file(self, rel: str) -> bool:
        return rel == self.name

    def children(self, rel: str) -> list[tuple[str, bool]]:
        return [(self.name, False)] if rel == "" else []

    @contextlib.contextmanager
    def open(self, rel: str) -> Iterator[BinaryIO]:
        try:
            with gzip.open(self.root, "rb") as f:
                yield f
        except _CORRUPT as err:
            raise FERDataError(f"{self.root}: corrupt or truncated gzip data ({err})") from None


def archive_kind(path: Path) -> ArchiveKind | None:
    """What `path` is, from its first bytes: "zip", "tar" (plain or compressed), "gzip" (a compressed file
    that is no tar), or None (anything else: a CSV)."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # a zip; an empty zip is only its end record
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"\x1f\x8b"):
        try:
            with gzip.open(path, "rb") as f:
                inner = f.read(512)
        except _CORRUPT as err:
            raise FERDataError(f"{path}: corrupt or truncated gzip data ({err})") from None
        return "tar" if inner[257:262] == b"ustar" else "gzip"
    return None


def open_archive(path: Path, kind: ArchiveKind) -> Tree:
    return {"zip": ZipTree, "tar": TarTree, "gzip": GzipTree}[kind](path)
