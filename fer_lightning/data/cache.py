"""Decoded-array cache: an uncompressed .npz beside the source, valid while the bytes read are unchanged.

The key is a content hash (xxh3-128) of what the reader reads: each file's name and bytes; for a folder,
every visible file below it (relative path and bytes) and every folder, in name order; for an archive,
its bytes. Size + mtime is not enough: copy tools, archivers and sync tools restore an edited file's
mtime. Measured (benchmarks/README.md, 2 shared cores): hashing the 282 MB fer2013.csv takes 0.09-0.11 s
of a 0.18-0.24 s cached load (parse: 7.7-9.8 s); the real image folder's 32,298 files 0.43-0.49 s of a
0.71-0.75 s cached load (parse: 2.5 s). Opening 32k files is the cost; the same folder as a .zip hashes
in 0.02 s, the way out for a slow file system. Hidden files are not read by the readers, nor hashed.
Plus `FORMAT_VERSION`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xxhash

from fer_lightning.data.arrays import FERArrays

log = logging.getLogger(__name__)

# Bump when readers change what they produce for the same bytes, or the key changes, so old caches are
# rebuilt. 2: content-hash key, `conversions`.
FORMAT_VERSION = 2
SUFFIX = ".fer_cache.npz"
_BLOCK = 1 << 22
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def _hash_file(path: str, name: bytes, digest: xxhash.xxh3_128) -> None:
    # os.open and one exact-size os.read per image, not open().read() nor a fixed-size buffer: 1.5x
    # faster over the 32,298 files of the real image folder.
    fd = os.open(path, _READ_FLAGS)
    try:
        size = os.fstat(fd).st_size
        digest.update(name + size.to_bytes(8, "little"))
        if size < _BLOCK:
            data = os.read(fd, size + 1)
            digest.update(data)
            if len(data) == size:
                return
        while chunk := os.read(fd, _BLOCK):  # a big file, or one that changed size while read
            digest.update(chunk)
    finally:
        os.close(fd)


def _hash_tree(folder: str, prefix: str, digest: xxhash.xxh3_128) -> None:
    with os.scandir(folder) as entries:
        found = sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)
    for entry in found:
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            digest.update(f"{name}/\0".encode())  # so an empty folder, an error for the reader, counts
            _hash_tree(entry.path, f"{name}/", digest)
        else:
            _hash_file(entry.path, f"{name}\0".encode(), digest)


def fingerprint(sources: Sequence[Path]) -> str:
    """A content hash of what the reader would read: the files, or every file under the folders."""
    digest = xxhash.xxh3_128()
    for source in sources:
        source = Path(source)
        name = f"{source.name}\0".encode()  # image ids carry the file name
        if source.is_dir():
            digest.update(name)
            _hash_tree(str(source), "", digest)
        else:
            _hash_file(str(source), name, digest)
        digest.update(b"\0")
    return digest.hexdigest()


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fer_lightning"


def cache_path(anchor: Path, name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the cache for a source lives: `<anchor>/.<name>.fer_cache.npz`, or in `cache_dir` (given, or
    the user cache dir when anchor is read-only) under a name that also encodes the anchor's path."""
    if cache_dir is None and os.access(anchor, os.W_OK):
        return anchor / f".{name}{SUFFIX}"
    where = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    tag = hashlib.blake2b(str(anchor.resolve()).encode(), digest_size=6).hexdigest()
    return where / f"{name}-{tag}{SUFFIX}"


def load(path: Path, key: str, source: str) -> FERArrays | None:
    """The cached arrays if `path` holds a cache for this fingerprint and format, else None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as cached:
            meta = json.loads(str(cached["meta"]))
            if meta.get("version") != FORMAT_VERSION or meta.get("fingerprint") != key:
                log.info("cache %s is stale: the source bytes (or the cache format) changed", path)
                return None
            arrays = FERArrays(
                images=cached["images"],
                labels=cached["labels"],
                usage=cached["usage"],
                ids=cached["ids"],
                source=source,
                layout=meta["layout"],
                synthetic=meta["synthetic"],
                skipped=meta["skipped"],
                conversions=meta["conversions"],
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        warnings.warn(f"cache {path} is unreadable ({err}); rebuilding it from the source", stacklevel=2)
        return None
    log.info("loaded %d images from cache %s", len(arrays), path)
    return arrays


def save(path: Path, arrays: FERArrays, key: str) -> None:
    """Write the cache atomically (temp file + rename); a failure costs speed only, so it warns.

    Nothing is written for 0 images: an empty source is re-read and reported each time.
    """
    if not len(arrays):
        return
    meta = {
        "version": FORMAT_VERSION,
        "fingerprint": key,
        "layout": arrays.layout,
        "synthetic": arrays.synthetic,
        "skipped": arrays.skipped,
        "conversions": arrays.conversions,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    images=arrays.images,
                    labels=arrays.labels,
                    usage=arrays.usage,
                    ids=arrays.ids.astype(str),
                    meta=np.array(json.dumps(meta)),
                )
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as err:
        warnings.warn(f"could not write cache {path} ({err}); every load will parse the source", stacklevel=2)
        return
    log.info("cached %d images to %s", len(arrays), path)
