"""Decoded-array cache: an uncompressed .npz beside the source, valid while the source is unchanged.

The key is a fingerprint of the source (resolved path, size and mtime_ns of every file read; for a
folder, of every file below it) plus `FORMAT_VERSION`. Loading 35,887 images from it takes ~0.1 s.
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

from fer_lightning.data.arrays import FERArrays

log = logging.getLogger(__name__)

# Bump when readers change what they produce for the same bytes, so old caches are rebuilt.
FORMAT_VERSION = 1
SUFFIX = ".fer_cache.npz"


def _tree_lines(folder: str, prefix: str, out: list[str]) -> None:
    with os.scandir(folder) as entries:
        found = sorted(entries, key=lambda e: e.name)
    if not found:  # an empty folder is an error the reader reports: keep it in the key
        out.append(f"{prefix}\tempty")
    for entry in found:
        if entry.is_dir():
            _tree_lines(entry.path, f"{prefix}{entry.name}/", out)
        else:
            st = entry.stat()
            out.append(f"{prefix}{entry.name}\t{st.st_size}\t{st.st_mtime_ns}")


def _stat_lines(path: Path) -> list[str]:
    if path.is_file():
        st = path.stat()
        return [f"{path.resolve()}\t{st.st_size}\t{st.st_mtime_ns}"]
    lines = [str(path.resolve())]
    _tree_lines(str(path), "", lines)
    return lines


def fingerprint(sources: Sequence[Path]) -> str:
    """A digest of what the reader would read: the files, or every file under the folders."""
    digest = hashlib.blake2b(digest_size=16)
    for source in sources:
        digest.update("\n".join(_stat_lines(Path(source))).encode())
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
                log.info("cache %s is stale: the source changed", path)
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
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        warnings.warn(f"cache {path} is unreadable ({err}); rebuilding it from the source", stacklevel=2)
        return None
    log.info("loaded %d images from cache %s", len(arrays), path)
    return arrays


def save(path: Path, arrays: FERArrays, key: str) -> None:
    """Write the cache atomically (temp file + rename); a failure costs speed only, so it warns."""
    meta = {
        "version": FORMAT_VERSION,
        "fingerprint": key,
        "layout": arrays.layout,
        "synthetic": arrays.synthetic,
        "skipped": arrays.skipped,
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
