"""Read an offline W&B run back from its `run-<id>.wandb` file (wandb 0.31 writes no wandb-summary.json).

The file is a LevelDB-style log: a 7-byte header (`:W&B`, magic, version), then 32 KiB blocks of chunks,
each with a 7-byte header (crc32 4, length 2 little-endian, type 1: full / first / middle / last).
Each reassembled record is a `wandb_internal_pb2.Record`.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from wandb.proto import wandb_internal_pb2

_BLOCK = 32 * 1024
_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def records(path: Path) -> list[wandb_internal_pb2.Record]:
    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path}: not a W&B run file (first bytes {data[:4]!r})")
    out, pending, pos = [], b"", _HEADER
    while pos + _HEADER <= len(data):
        room = _BLOCK - pos % _BLOCK
        if room < _HEADER:  # block trailer padding
            pos += room
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        chunk = data[pos + _HEADER : pos + _HEADER + length]
        pos += _HEADER + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (_FULL, _FIRST) else pending + chunk
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


@dataclass
class OfflineRun:
    """What a test needs from one offline run folder."""

    folder: Path
    run: wandb_internal_pb2.RunRecord | None = None
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    exit_code: int | None = None
    # artifact name -> {path inside the artifact: local file staged for `wandb sync`}
    artifacts: dict[str, dict[str, Path]] = field(default_factory=dict)

    def media(self, kind: str) -> list[Path]:
        """Files under files/media/<kind>/ (images, table)."""
        return sorted((self.folder / "files" / "media" / kind).rglob("*.*"))

    def keys(self) -> set[str]:
        return {k for row in self.history for k in row}

    def values(self, key: str) -> list:
        return [row[key] for row in self.history if key in row]


def _item_key(item) -> str:
    return item.key or "/".join(item.nested_key)


def read_run(folder: Path) -> OfflineRun:
    (wandb_file,) = folder.glob("run-*.wandb")
    result = OfflineRun(folder)
    for rec in records(wandb_file):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            result.run = rec.run
            for item in rec.run.config.update:
                result.config[_item_key(item)] = json.loads(item.value_json)
        elif kind == "config":
            for item in rec.config.update:
                result.config[_item_key(item)] = json.loads(item.value_json)
        elif kind == "history":
            result.history.append({_item_key(i): json.loads(i.value_json) for i in rec.history.item})
        elif kind == "summary":
            for item in rec.summary.update:
                result.summary[_item_key(item)] = json.loads(item.value_json)
        elif kind == "exit":
            result.exit_code = rec.exit.exit_code
        elif kind == "artifact":
            entries = {e.path: Path(e.local_path) for e in rec.artifact.manifest.contents}
            result.artifacts[rec.artifact.name] = entries
    return result


def read_finished_run(folder: Path, timeout: float = 60.0) -> OfflineRun:
    """`read_run` once the run's exit record is on disk: wandb-core writes the file asynchronously, and
    `run.finish()` can return before the last records are flushed (seen under load with wandb 0.31)."""
    deadline = time.monotonic() + timeout
    while True:
        run = read_run(folder)
        if run.exit_code is not None or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def offline_runs(root: Path) -> list[OfflineRun]:
    """Every offline run folder under `root`, oldest first, each read once it is finished."""
    return [read_finished_run(p) for p in sorted(root.rglob("offline-run-*")) if p.is_dir()]
