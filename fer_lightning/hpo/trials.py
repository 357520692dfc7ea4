"""Trial lifecycle across worker processes sharing one storage: claim, heartbeat, outcome, give up.

Several workers are the same command started several times against one storage. None of them holds a
lock; they agree through the storage alone:
- claim: ask, then re-read the study; trial numbers are assigned atomically, so every worker ranks the
  running trials the same way, and a trial ranked beyond the free slots gives itself up (`surplus`).
- heartbeat: the asking process stamps its running trials every `interval` seconds; a running trial whose
  stamp is older than the grace period belonged to a dead worker: it is failed and its point re-queued.
- interrupts: Ctrl-C gives up the trials in flight (re-queued) with SIGINT held while the storage is
  written, so the study is never left with a half-told trial.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, Trial, TrialState

from fer_lightning.hpo.study import (
    ABANDONED,
    ENQUEUED,
    ERROR,
    HEARTBEAT,
    JOB_DIR,
    PRUNED_AT,
    WORKER,
    is_counted,
    open_storage,
)

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT for the duration of a storage write, then deliver it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and callable(previous):
            previous(signal.SIGINT, None)
        elif received and previous == signal.SIG_DFL:
            raise KeyboardInterrupt


def _tell(study: optuna.Study, trial: Trial | int, **kwargs: Any) -> None:
    try:
        study.tell(trial, skip_if_finished=True, **kwargs)
    except RuntimeError as err:
        # GridSampler calls study.stop() once the grid is exhausted, which Optuna only allows inside
        # study.optimize(); the trial's state is stored before that (Optuna 4-5, samplers/_grid.py).
        if "Study.stop" not in str(err):
            raise


def claim_trials(
    study: optuna.Study, target: int, n: int, distributions: Mapping[str, BaseDistribution]
) -> list[Trial]:
    """Ask up to `n` trials without letting the study exceed `target` counted trials, whatever other
    workers do at the same time. Returns the trials this worker should run (empty: the target is met)."""
    asked: list[Trial] = []
    try:
        with deferred_interrupts():
            trials = study.get_trials(deepcopy=False)
            counted = sum(is_counted(t) for t in trials)
            running = sum(t.state == TrialState.RUNNING for t in trials)
            for _ in range(max(0, min(n, target - counted - running))):
                trial = study.ask(dict(distributions))
                trial.set_user_attr(WORKER, worker_id())
                trial.set_user_attr(HEARTBEAT, time.time())
                asked.append(trial)
            return settle_claims(study, asked, target) if asked else []
    except BaseException as err:  # a Ctrl-C held during the asks arrives here: give the trials back
        for trial in asked:
            abandon(study, trial, f"interrupted ({type(err).__name__})", retry=True)
        raise


def settle_claims(study: optuna.Study, asked: Sequence[Trial], target: int) -> list[Trial]:
    """Keep the asked trials that fit under `target`; give up the others (`surplus`).

    Another worker may have asked between our count and our ask. Every worker ranks the running trials
    by number and gives the free slots to the lowest; trials that finished meanwhile leave the running
    list and enter the count, so the ranking stays consistent.
    """
    with deferred_interrupts():
        trials = study.get_trials(deepcopy=False)
        slots = target - sum(is_counted(t) for t in trials)
        running_numbers = sorted(t.number for t in trials if t.state == TrialState.RUNNING)
        keep = set(running_numbers[: max(slots, 0)])
        for trial in asked:
            if trial.number not in keep:
                abandon(study, trial, "surplus: other workers already run the remaining trials",
                        retry=ENQUEUED in trial.user_attrs)  # fmt: skip
        return [t for t in asked if t.number in keep]


def abandon(study: optuna.Study, trial: Trial, reason: str, retry: bool) -> None:
    """Give up a trial of this worker: FAIL without an error (not counted); `retry` queues its point
    again so that the next run evaluates it."""
    with deferred_interrupts():
        if running_trial(study, trial.number) is None:
            return  # its outcome was recorded, or settle_claims / another worker already gave it up
        try:
            trial.set_user_attr(ABANDONED, reason)
        except Exception as err:  # already finished by another worker (stale check) or the storage is gone
            log.warning("trial %d: could not record why it was abandoned: %s", trial.number, err)
        _tell(study, trial, state=TrialState.FAIL)
        if retry:
            study.enqueue_trial(trial.params, user_attrs={ENQUEUED: f"retry of trial {trial.number}"})
    log.warning(
        "trial %d abandoned (%s)%s", trial.number, reason, "; its point is queued again" if retry else ""
    )


def fail_stale_trials(study: optuna.Study, grace_period: float) -> list[int]:
    """Fail running trials whose heartbeat is older than `grace_period` seconds (their worker died
    without a word: SIGKILL, a lost node) and queue their points again. Returns their numbers."""
    now = time.time()
    stale = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        beat = trial.user_attrs.get(HEARTBEAT)
        if beat is None and trial.datetime_start is not None:
            beat = trial.datetime_start.timestamp()
        if beat is None or now - beat <= grace_period:
            continue
        with deferred_interrupts():
            _tell(study, trial.number, state=TrialState.FAIL)
            study.enqueue_trial(trial.params, user_attrs={ENQUEUED: f"retry of stale trial {trial.number}"})
        log.warning(
            "trial %d of worker %s: no heartbeat for %.0f s (grace %.0f s): failed, its point queued again",
            trial.number, trial.user_attrs.get(WORKER, "?"), now - beat, grace_period,
        )  # fmt: skip
        stale.append(trial.number)
    return stale


def running_trial(study: optuna.Study, number: int) -> FrozenTrial | None:
    """A fresh copy of running trial `number` from the storage (Trial objects cache their attributes)."""
    return next(
        (t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if t.number == number),
        None,
    )


def record_outcome(
    study: optuna.Study, trial: Trial, value: float | None, error: str | None, job_dir: str | None
) -> TrialState:
    """Tell the study how the trial's job ended: PRUNED when its callback stopped it, COMPLETE with a
    finite value, else FAIL with the error (a failed trial counts)."""
    with deferred_interrupts():
        fresh = running_trial(study, trial.number)
        if fresh is None:
            log.warning(
                "trial %d is no longer running (failed as stale by another worker?): result dropped",
                trial.number,
            )
            return TrialState.FAIL
        if job_dir is not None:
            trial.set_user_attr(JOB_DIR, job_dir)
        if fresh.user_attrs.get(PRUNED_AT) is not None:
            _tell(study, trial, state=TrialState.PRUNED)
            return TrialState.PRUNED
        if error is None and value is not None and math.isfinite(value):
            _tell(study, trial, values=value)
            return TrialState.COMPLETE
        trial.set_user_attr(ERROR, error or f"the job returned {value}")
        _tell(study, trial, state=TrialState.FAIL)
        return TrialState.FAIL


class Heartbeat:
    """While in the `with` block, stamp `trials` with the time every `interval` seconds (a daemon thread)."""

    def __init__(self, trials: Sequence[Trial], interval: float) -> None:
        self.trials = list(trials)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="optuna-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            now = time.time()
            for trial in self.trials:
                try:
                    trial.set_user_attr(HEARTBEAT, now)
                except Exception as err:  # a storage hiccup must not kill the sweep; the next beat retries
                    log.warning("heartbeat of trial %d not recorded: %s", trial.number, err)


def attach_trial(
    storage_url: str, study_name: str, number: int, pruner: optuna.pruners.BasePruner | None = None
) -> Trial:
    """The running trial `number` of a study, as a Trial that can report and ask the pruner: what a
    training job (possibly another process or node) uses to take part in the sweeper's trial."""
    study = optuna.load_study(
        study_name=study_name,
        storage=open_storage(storage_url),
        sampler=optuna.samplers.RandomSampler(),  # the job samples nothing; avoids building TPE state
        pruner=pruner or optuna.pruners.NopPruner(),
    )
    frozen = running_trial(study, number)
    if frozen is None:
        raise RuntimeError(
            f"trial {number} of study {study_name!r} in {storage_url} is not running; a trial job must be "
            "started by the Optuna sweeper (python -m fer_lightning -m hydra/sweeper=optuna ...)"
        )
    # Optuna has no public way to re-open a running trial by number; Trial(study, trial_id) is what
    # Study.ask() itself returns.
    return optuna.trial.Trial(study, frozen._trial_id)
