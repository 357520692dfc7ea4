"""Load time of FER-2013 sources: parse, content hash (the cache key) and cached load, side by side.

    python benchmarks/parse_csv.py [--rows 35887] [--keep DIR] [--no-cli] [--no-archives]
    python benchmarks/parse_csv.py --folder ~/fer2013-trainval [--extract-baseline]

Default: writes a 35,887-row CSV of random 48x48 images (same size on disk as the real 301 MB file: random
pixels average the same ~3.6 characters per value) with the official split sizes, in a temp dir; then the
same CSV as .csv.gz, as .tar.gz (fer2013/fer2013.csv, as the Kaggle challenge ships it) and as .zip.
`--folder` measures an image folder (train/<class>/, test/<class>/) instead, and the .zip and .tar.gz of
it, built in a temp dir; `--extract-baseline` also times extracting each archive and reading the folder,
the alternative to reading members in place. Caches go to a temp dir, never beside the source.

Per source, after one untimed read (warm page cache): `parse_s` (use_cache=False), `first_load_s`
(hash + parse + cache write), `cached_load_s` (median of 3, hash included), `hash_s` (median of 3, the
key alone), and `ratios` from the same run. The CLI times are the whole `inspect` command.
Figures and commands: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from fer_lightning.data import cache
from fer_lightning.data.audit import audit
from fer_lightning.data.readers import load_fer2013, locate
from fer_lightning.fer2013 import IMAGE_SIZE, SPLIT_SIZES, SPLITS

OFFICIAL = tuple(SPLIT_SIZES[s] for s in SPLITS)


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    """fer2013.csv layout, built as bytes: each value's text comes from a 256-entry table, not str()."""
    rng = np.random.default_rng(seed)
    sizes = np.round(np.array(OFFICIAL) * rows / sum(OFFICIAL)).astype(int)
    sizes[0] += rows - sizes.sum()
    usage = np.repeat(np.arange(3), sizes)
    labels = rng.integers(0, 7, rows)
    table = np.zeros((256, 4), np.uint8)  # "v " left-aligned, zero padded
    for v in range(256):
        text = f"{v} ".encode()
        table[v, : len(text)] = np.frombuffer(text, np.uint8)
    with open(path, "wb") as f:
        f.write(b"emotion,pixels,Usage\n")
        for start in range(0, rows, 1024):
            images = rng.integers(0, 256, (min(1024, rows - start), IMAGE_SIZE * IMAGE_SIZE), dtype=np.uint8)
            if start == 0:
                images[1:50] = images[0]  # a few exact duplicates, so the audit has groups to report
            for i, chars in enumerate(table[images]):
                flat = chars.reshape(-1)
                r = start + i
                line = flat[flat != 0].tobytes()[:-1]
                f.write(b"%d,%s,%s\n" % (labels[r], line, SPLITS[usage[r]].encode()))


def _seconds(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(path: Path, cache_dir: Path) -> dict:
    """parse, first (cold-cache) load, cached load and hash of one source, with their ratios."""
    found = locate(path)
    hashed = (found,) if isinstance(found, Path) else found.hashed
    cache.fingerprint(hashed)  # reads every byte once: all figures are with a warm page cache
    parse_s, parsed = _seconds(lambda: load_fer2013(path, use_cache=False))
    first_s, _ = _seconds(lambda: load_fer2013(path, cache_dir=cache_dir))
    cached_s, again = _seconds(lambda: load_fer2013(path, cache_dir=cache_dir), repeat=3)
    hash_s, _ = _seconds(lambda: cache.fingerprint(hashed), repeat=3)
    assert np.array_equal(again.images, parsed.images) and np.array_equal(again.labels, parsed.labels)
    print(
        f"{path.name}: parse {parse_s:.2f} s, cached {cached_s:.3f} s, hash {hash_s:.3f} s", file=sys.stderr
    )
    return {
        "images": len(parsed),
        "layout": parsed.layout,
        "bytes_hashed_mb": round(sum(_size(p) for p in hashed) / 2**20, 1),
        "parse_s": round(parse_s, 3),
        "first_load_s": round(first_s, 3),
        "cached_load_s": round(cached_s, 3),
        "hash_s": round(hash_s, 3),
        "ratios": {
            "hash_over_cached_load": round(hash_s / cached_s, 2),
            "hash_over_parse": round(hash_s / parse_s, 3),
            "parse_over_cached_load": round(parse_s / cached_s, 1),
        },
    }


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def pack(folder_or_csv: Path, out: Path, kinds: list[str]) -> dict[str, Path]:
    """The source as each archive kind, built in `out`."""
    archives = {}
    for kind in kinds:
        if kind == "csv.gz":
            target = out / f"{folder_or_csv.name}.gz"
            with open(folder_or_csv, "rb") as src, gzip.open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 22)
        elif kind == "zip":
            target = out / f"{folder_or_csv.stem}.zip"
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
                if folder_or_csv.is_file():
                    zf.write(folder_or_csv, f"fer2013/{folder_or_csv.name}")
                for p in [] if folder_or_csv.is_file() else _files(folder_or_csv):
                    zf.write(p, p.relative_to(folder_or_csv).as_posix())
        else:
            target = out / f"{folder_or_csv.stem}.tar.gz"
            with tarfile.open(target, "w:gz") as tar:
                if folder_or_csv.is_file():
                    tar.add(folder_or_csv, f"fer2013/{folder_or_csv.name}")
                for p in [] if folder_or_csv.is_file() else _files(folder_or_csv):
                    tar.add(p, p.relative_to(folder_or_csv).as_posix())
        archives[kind] = target
    return archives


def extract_then_read(archive: Path, scratch: Path) -> float:
    """The alternative to reading in place: extract to disk, read the folder, delete the copy."""
    start = time.perf_counter()
    target = Path(tempfile.mkdtemp(dir=scratch))
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(target)
    else:
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    load_fer2013(target, use_cache=False)
    shutil.rmtree(target)
    return round(time.perf_counter() - start, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=sum(OFFICIAL))
    parser.add_argument("--keep", type=Path, default=None, help="write the CSV here and keep it")
    parser.add_argument("--folder", type=Path, default=None, help="measure this image folder, not a CSV")
    parser.add_argument("--no-cli", action="store_true", help="skip timing the subprocess CLI")
    parser.add_argument("--no-archives", action="store_true", help="skip the archives of the source")
    parser.add_argument(
        "--extract-baseline", action="store_true", help="also time extract + read for each archive (slow)"
    )
    args = parser.parse_args()

    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache_dir = tmp / "cache"
        if args.folder is not None:
            source = args.folder.expanduser()
            result["folder"] = measure(source, cache_dir)
            kinds = ["zip", "tar.gz"]
        else:
            folder = args.keep or tmp
            folder.mkdir(parents=True, exist_ok=True)
            source = folder / "fer2013.csv"
            write_s, _ = _seconds(lambda: write_csv(source, args.rows))
            result["csv"] = {"file_mb": round(source.stat().st_size / 2**20, 1), "write_s": round(write_s, 2)}
            result["csv"].update(measure(source, cache_dir))
            audit_s, report = _seconds(lambda: audit(load_fer2013(source, cache_dir=cache_dir)))
            result["csv"]["audit_s"] = round(audit_s, 2)
            result["csv"]["redundant_images"] = report["duplicates"]["redundant_images"]
            kinds = ["csv.gz", "tar.gz", "zip"]
        if not args.no_archives:
            (tmp / "archives").mkdir()
            result["archives"] = {}
            for kind, archive in pack(source, tmp / "archives", kinds).items():
                entry = {
                    "archive_mb": round(archive.stat().st_size / 2**20, 1),
                    **measure(archive, cache_dir),
                }
                if args.extract_baseline and kind != "csv.gz":
                    entry["extract_then_read_s"] = extract_then_read(archive, tmp)
                    entry["ratios"]["extract_then_read_over_parse"] = round(
                        entry["extract_then_read_s"] / entry["parse_s"], 1
                    )
                result["archives"][kind] = entry
        if not args.no_cli and args.folder is None:
            # Whole command, cache warm: interpreter start, package imports, cached load, audit, JSON.
            for flag, key in (("--no-cache", "cli_inspect_no_cache_s"), (None, "cli_inspect_cached_s")):
                command = [sys.executable, "-m", "fer_lightning.data", "inspect", str(source), "--json"]
                command += ["--cache-dir", str(cache_dir)] + ([flag] if flag else [])
                elapsed, _ = _seconds(lambda c=command: subprocess.run(c, check=True, capture_output=True))
                result[key] = round(elapsed, 2)
    result.update(
        cpus=os.cpu_count(),
        load_average=[round(x, 1) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
        python=platform.python_version(),
        numpy=np.__version__,
        pandas=pd.__version__,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
