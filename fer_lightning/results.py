"""The run record: what `results.json` holds, how a run's outcome maps to its status, `write` and `read`.

Written by `train()` (one per job), read by the sweep report and the Optuna sweeper. Plain Python and
the standard library only: the report and the sweeper plugin read records without Lightning.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.json"
# Keys the robustness callback adds to the test section (test/robustness_mca -> test.robustness_mca).
ROBUSTNESS_PREFIX = "robustness_"


class Status(str, Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    PRUNED = "pruned"  # a sweeper's pruner stopped the trial
    INTERRUPTED = "interrupted"  # Ctrl-C, or the process was told to stop: not a failure of the run

    @classmethod
    def of(cls, err: BaseException) -> Status:
        """The status of a run that ended with `err`."""
        # Matched by name: optuna is imported only by the sweeper that raises it.
        if type(err).__name__ == "TrialPruned":
            return cls.PRUNED
        # Lightning turns a Ctrl-C during fit/validate/test into sys.exit(1) after its graceful shutdown
        # (pytorch_lightning/trainer/call.py), so a SystemExit out of a run is that interrupt.
        if isinstance(err, KeyboardInterrupt | SystemExit):
            return cls.INTERRUPTED
        return cls.FAILED


@dataclass
class RunRecord:
    """One run. Fractions (accuracy, F1) are in [0, 1]; `val`/`test` hold the evaluated checkpoint's
    metrics without the stage prefix (`acc`, `f1_macro`, `recall_happy`, `robustness_mca`, ...)."""

    run_name: str
    choices: dict[str, str]
    status: Status = Status.FAILED  # until the run says otherwise
    error: str | None = None
    job_type: str = "train"
    overrides: list[str] = field(default_factory=list)
    seed: int | None = None
    max_epochs: int | None = None
    # Which checkpoint the val/test numbers come from, as the checkpoint callback chose it.
    checkpoint_selection: str | None = None
    synthetic: bool | None = None
    data_source: str | None = None
    splits: dict[str, list[str]] | None = None
    params: int | None = None
    macs: int | None = None
    epochs: int = 0
    checkpoint: str | None = None
    best_score: float | None = None  # the checkpoint callback's best monitored value
    hygiene: dict[str, Any] | None = None
    val: dict[str, float] | None = None
    test: dict[str, float] | None = None
    wall_time_s: float | None = None

    def ended(self, err: BaseException | None) -> None:
        """Record how the run ended: completed, or the status and message of `err`."""
        if err is None:
            self.status, self.error = Status.COMPLETED, None
            return
        self.status = Status.of(err)
        self.error = "".join(traceback.format_exception_only(type(err), err)).strip()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path = RESULTS_FILE) -> RunRecord:
        """The record of a parsed results.json; an error naming `source` and the key when it is not one."""
        known = {f.name for f in fields(cls)}
        for key in ("run_name", "status", "choices"):
            if key not in data:
                raise ValueError(
                    f"{source}: key {key!r} is missing (expected the {RESULTS_FILE} of fer_lightning.train)"
                )
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown keys {unknown}; a {RESULTS_FILE} has {sorted(known)}")
        try:
            status = Status(data["status"])
        except ValueError:
            raise ValueError(
                f"{source}: status={data['status']!r}, expected one of {[s.value for s in Status]}"
            ) from None
        return cls(**{**data, "status": status})


def stage_metrics(metrics: dict[str, Any], stage: str) -> dict[str, float]:
    """`{"val/acc": 0.7, "test/acc": ...}` -> the `stage` part without its prefix: `{"acc": 0.7}`."""
    prefix = f"{stage}/"
    return {k[len(prefix) :]: float(v) for k, v in metrics.items() if k.startswith(prefix)}


def write(record: RunRecord, run_dir: str | Path) -> Path:
    """`<run_dir>/results.json` (folders created)."""
    path = Path(run_dir) / RESULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record.to_dict(), indent=2) + "\n")
    return path


def read(path: str | Path) -> RunRecord:
    """A results.json file (or the run folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return RunRecord.from_dict(data, source=path)
