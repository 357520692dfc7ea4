"""The persistent study: storage URLs, create-or-resume, and what counts toward `n_trials`.

A trial counts when it ran to an outcome: COMPLETE, PRUNED, or FAIL with the job's error recorded
(`user_attrs["error"]`). A FAIL without an error is a trial that was given up before its job finished
(Ctrl-C, a worker that died, a surplus ask by a concurrent worker): it does not count, and its point is
enqueued again, so rerunning the same command finishes exactly the missing trials.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import IntegrityError, OperationalError

from fer_lightning.hpo.space import SearchSpace

log = logging.getLogger(__name__)

# Trial user attributes written by the sweeper and the job.
ERROR = "error"  # the job's error: a failed trial that counts
ABANDONED = "abandoned"  # why a trial was given up (interrupted, surplus): it does not count
ENQUEUED = "enqueued"  # why a point was queued (preset, retry of trial N)
HEARTBEAT = "heartbeat"  # time.time() of the owner's last sign of life
WORKER = "worker"  # host:pid of the process that asked the trial
JOB_DIR = "job_dir"  # the Hydra job folder (results.json, checkpoints, W&B run)
PRUNED_AT = "pruned_at_epoch"  # set by the job's OptunaTrialCallback when the pruner stops it
# Study user attribute: the search space and fixed overrides the study was created with.
SPACE = "search_space"


def open_storage(url: str) -> BaseStorage:
    """`sqlite:///<file>` (folders created), `journal:<file>` (an append-only log that works on shared
    filesystems such as NFS), or any SQLAlchemy URL (`postgresql://user:pass@host/db`) for many workers."""
    if url.startswith("journal:"):
        path = Path(url.removeprefix("journal:").removeprefix("//"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # SQLite's default 5 s lock timeout is shorter than a busy worker may hold the file.
        return _rdb_storage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    if "://" in url:
        return _rdb_storage(url)
    raise ValueError(
        f"hydra.sweeper.storage={url!r}: expected sqlite:///<file>, journal:<file> or a database URL "
        "such as postgresql://user:password@host/db"
    )


def _rdb_storage(url: str, attempts: int = 5, **kwargs: Any) -> BaseStorage:
    for _ in range(attempts - 1):
        try:
            return RDBStorage(url, **kwargs)
        except (IntegrityError, OperationalError):
            # Workers that create a new database at the same moment race on its schema (the unique
            # alembic version row, or "table already exists"); the loser finds it made on its next try.
            time.sleep(0.5 + random.random())
    return RDBStorage(url, **kwargs)


def absolute_storage_url(url: str) -> str:
    """The URL with a relative sqlite or journal file made absolute (jobs may run in another folder)."""
    if url.startswith("journal:"):
        return "journal:" + str(Path(url.removeprefix("journal:").removeprefix("//")).resolve())
    path = url.removeprefix("sqlite:///")
    if url.startswith("sqlite:///") and path and path != ":memory:":
        return "sqlite:///" + str(Path(path).resolve())
    return url


def open_study(
    storage_url: str,
    study_name: str,
    direction: str,
    space: SearchSpace,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    enqueue: Sequence[Mapping[str, Any]] = (),
) -> optuna.Study:
    """Create the study, or resume it when it exists. `enqueue` points are queued only at creation, so a
    rerun does not queue them twice. Resuming with another search space or direction is an error."""
    storage = open_storage(storage_url)
    kwargs = {"storage": storage, "study_name": study_name, "sampler": sampler, "pruner": pruner}
    try:
        study = optuna.create_study(direction=direction, load_if_exists=False, **kwargs)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(**kwargs)
        _check_resumable(study, storage_url, direction, space)
        return study
    study.set_user_attr(SPACE, space.to_json())
    for params in enqueue:
        study.enqueue_trial(dict(params), user_attrs={ENQUEUED: "preset"})
    return study


def _check_resumable(study: optuna.Study, storage_url: str, direction: str, space: SearchSpace) -> None:
    where = f"study {study.study_name!r} in {storage_url}"
    if study.direction.name.lower() != direction.lower():
        raise ValueError(
            f"{where} has direction {study.direction.name.lower()}; hydra.sweeper.direction={direction!r}"
        )
    stored = study.user_attrs.get(SPACE)
    if stored is None:  # created by another tool, or by a worker that has not written it yet
        log.info("%s has no recorded search space; resuming without checking it", where)
        return
    now = json.loads(json.dumps(space.to_json()))
    changed = [
        f"param {name}: study has {stored['params'].get(name)}, this command has {now['params'].get(name)}"
        for name in sorted(set(stored["params"]) | set(now["params"]))
        if stored["params"].get(name) != now["params"].get(name)
    ]
    if changed:
        raise ValueError(
            f"{where} was created with another search space:\n  "
            + "\n  ".join(changed)
            + "\n  Rerun the command that created it, or start a new study with hydra.sweeper.study_name=<name>."
        )
    # Other fixed overrides may be harmless (logger, paths) or not (data, epochs): say so, go on.
    for fixed in sorted(set(stored["fixed"]) ^ set(now["fixed"])):
        where_only = "the study's command" if fixed in stored["fixed"] else "this command"
        log.warning(
            "%s: override %r is only in %s; its trials may not be comparable", where, fixed, where_only
        )


def is_counted(trial: FrozenTrial) -> bool:
    """Whether a trial counts toward n_trials (see the module docstring)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and ERROR in trial.user_attrs


@dataclass(frozen=True)
class Progress:
    """Trials of a study by how they stand toward its target."""

    counted: int
    running: int
    abandoned: int
    waiting: int

    def __str__(self) -> str:
        return (
            f"{self.counted} done, {self.running} running, {self.waiting} queued, {self.abandoned} abandoned"
        )


def progress(study: optuna.Study) -> Progress:
    trials = study.get_trials(deepcopy=False)
    counted = sum(is_counted(t) for t in trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    waiting = sum(t.state == TrialState.WAITING for t in trials)
    return Progress(counted, running, len(trials) - counted - running - waiting, waiting)
