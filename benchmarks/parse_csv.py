"""Parse time of a full-size fer2013.csv: first load (parse + cache write), cached load, audit, and the CLI.

    python benchmarks/parse_csv.py [--rows 35887] [--keep DIR] [--no-cli]

Writes a 35,887-row CSV of random 48x48 images (same size on disk as the real 301 MB file: random pixels
average the same ~3.6 characters per value) with the official split sizes, in a temp dir, and prints JSON.

Measured 2026-11-28, 2 shared cores (load average 2.5-3.5 from other jobs), OMP_NUM_THREADS=1:
first load 5.4 s (6.0 s in a second run), cached load 0.29-0.39 s, audit 0.64 s. The CLI subprocess
times are then ~10 s, almost all of it importing pytorch_lightning via fer_lightning/data/__init__.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fer_lightning.classes import IMAGE_SIZE, SPLITS
from fer_lightning.data.audit import audit
from fer_lightning.data.readers import load_fer2013

OFFICIAL = (28709, 3589, 3589)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=sum(OFFICIAL))
    parser.add_argument("--keep", type=Path, default=None, help="write the CSV here and keep it")
    parser.add_argument("--no-cli", action="store_true", help="skip timing the subprocess CLI")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "fer2013.csv"
        start = time.perf_counter()
        write_csv(path, args.rows)
        write_s = time.perf_counter() - start
        for stale in folder.glob(".fer2013.csv.fer_cache.npz"):
            stale.unlink()

        start = time.perf_counter()
        arrays = load_fer2013(path)  # parse + write the cache
        first_s = time.perf_counter() - start
        cached_s = []
        for _ in range(3):
            start = time.perf_counter()
            again = load_fer2013(path)
            cached_s.append(time.perf_counter() - start)
        assert np.array_equal(again.images, arrays.images)
        start = time.perf_counter()
        report = audit(arrays)
        audit_s = time.perf_counter() - start

        result = {
            "rows": len(arrays),
            "file_mb": round(path.stat().st_size / 2**20, 1),
            "write_s": round(write_s, 2),
            "first_load_s": round(first_s, 2),
            "cached_load_s": round(statistics.median(cached_s), 3),
            "audit_s": round(audit_s, 2),
            "redundant_images": report["duplicates"]["redundant_images"],
            "cpus": os.cpu_count(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
        }
        if not args.no_cli:
            # Whole command, cache warm: interpreter start, package imports, cached load, audit, JSON.
            for flag, key in (("--no-cache", "cli_inspect_no_cache_s"), (None, "cli_inspect_cached_s")):
                command = [sys.executable, "-m", "fer_lightning.data", "inspect", str(path), "--json"]
                start = time.perf_counter()
                subprocess.run(command + ([flag] if flag else []), check=True, capture_output=True)
                result[key] = round(time.perf_counter() - start, 2)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
