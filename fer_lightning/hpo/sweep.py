"""The sweep behind `hydra/sweeper=optuna`: ask trials, launch them as Hydra jobs through the configured
launcher, tell the study how each ended, summarise the study. The plugin
(hydra_plugins/fer_optuna_sweeper) only hands its config and launcher to `OptunaSweep`."""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.exceptions import ExperimentalWarning
from optuna.trial import Trial, TrialState

from fer_lightning.hpo.space import SearchSpace, enqueued_params, format_value, parse_search_space
from fer_lightning.hpo.study import absolute_storage_url, open_study, progress
from fer_lightning.hpo.summary import log_to_wandb, summarize
from fer_lightning.hpo.trials import Heartbeat, abandon, claim_trials, fail_stale_trials, record_outcome
from fer_lightning.results import RESULTS_FILE, read
from fer_lightning.tracking.wandb_run import resolve_mode

log = logging.getLogger(__name__)

TRIAL_CALLBACK = "fer_lightning.hpo.pruning.OptunaTrialCallback"
# launch(batch of override lists, number of the first job) -> one JobReturn per job
Launch = Callable[..., Sequence[JobReturn]]


@dataclass
class SweepSettings:
    """The sweeper's fields as plain values; hydra_plugins/fer_optuna_sweeper/config.py documents each and
    holds their defaults."""

    sampler: dict[str, Any]
    pruner: dict[str, Any]
    study_name: str | None
    storage: str
    direction: str
    n_trials: int
    n_jobs: int
    params: dict[str, Any]
    enqueue_trials: list[dict[str, Any]]
    monitor: str
    check_finite: list[str]
    trial_callback_key: str | None
    wandb_group_key: str | None
    heartbeat_interval: float
    grace_period: float
    summary: bool

    def __post_init__(self) -> None:
        # Jobs may run elsewhere (submitit, SLURM): a relative database path would move with them.
        self.storage = absolute_storage_url(self.storage)
        if self.n_trials < 1 or self.n_jobs < 1:
            raise ValueError(f"hydra.sweeper: n_trials={self.n_trials} and n_jobs={self.n_jobs} must be >= 1")
        if self.grace_period <= self.heartbeat_interval:
            raise ValueError(
                f"hydra.sweeper.grace_period={self.grace_period} must exceed "
                f"heartbeat_interval={self.heartbeat_interval}"
            )

    @property
    def grid(self) -> bool:
        return str(self.sampler.get("_target_", "")).endswith("GridSampler")


class OptunaSweep:
    """One sweep command: `run(arguments)` works the study towards its target and returns its summary."""

    def __init__(
        self, settings: SweepSettings, config: DictConfig, launch: Launch, validate: Callable[[list], None]
    ) -> None:
        self.s, self.config, self.launch, self.validate = settings, config, launch, validate

    def run(self, arguments: list[str]) -> dict[str, Any] | None:
        s = self.s
        space = parse_search_space(s.params, arguments)
        if not space.distributions:
            raise ValueError(
                "hydra/sweeper=optuna: nothing to search; give sweep overrides such as "
                "'optimizer.lr=tag(log,interval(1e-4,1e-1))' or 'optimizer=sgd,adam', or hydra.sweeper.params"
            )
        target = self._target(space)
        name = s.study_name or f"{self._name_prefix()}-{space.digest()}"
        study = open_study(
            s.storage, name, s.direction, space, sampler=self._sampler(space), pruner=instantiate(s.pruner),
            enqueue=enqueued_params(s.enqueue_trials, space),
        )  # fmt: skip
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        log.info("Optuna study %r in %s: %s; target %d trials", name, s.storage, progress(study), target)

        ran = 0
        while True:
            fail_stale_trials(study, s.grace_period)
            trials = claim_trials(study, target, s.n_jobs, space.distributions)
            if not trials:
                break
            self._run_trials(study, space, trials)
            ran += len(trials)
        now = progress(study)
        log.info("Optuna study %r: this worker ran %d trial(s); the study has %s", name, ran, now)
        if now.running:
            log.info(
                "%d trial(s) still run in other workers; their results arrive when they finish", now.running
            )
        return self._summarize(study, sweep_dir, target) if s.summary else None

    def _run_trials(self, study: optuna.Study, space: SearchSpace, trials: list[Trial]) -> None:
        """Launch the claimed trials (consecutive numbers together, so that job folders are trial numbers)
        and record each outcome. Any interruption gives up the trials not yet recorded."""
        pending = {t.number: t for t in trials}
        invalid = False
        try:
            for segment in _consecutive(trials):
                batch = [space.overrides(t.params) + self._trial_overrides(study, t) for t in segment]
                try:
                    self.validate(batch)  # a bad key fails here, before any job starts
                except Exception:
                    invalid = True
                    raise
                for t, overrides in zip(segment, batch, strict=True):
                    params = " ".join(f"{k}={format_value(v)}" for k, v in t.params.items())
                    log.info("trial %d: %s", t.number, params)
                    log.debug("trial %d overrides: %s", t.number, overrides)
                with Heartbeat(segment, self.s.heartbeat_interval):
                    try:
                        returns: Sequence[Any] = self.launch(batch, initial_job_idx=segment[0].number)
                    except Exception as err:  # e.g. a submitit job that raised: its batch failed
                        log.exception("launching trials %s failed", [t.number for t in segment])
                        returns = [err] * len(segment)
                for trial, ret in zip(segment, returns, strict=True):
                    value, error, job_dir = job_outcome(ret)
                    state = record_outcome(study, trial, value, error, job_dir)
                    del pending[trial.number]
                    if state == TrialState.COMPLETE:
                        log.info("trial %d complete: %s=%.4f", trial.number, self.s.monitor, value)
                    else:
                        log.info("trial %d %s: %s", trial.number, state.name.lower(), error)
        except BaseException as err:
            reason = "its config does not compose" if invalid else f"interrupted ({type(err).__name__})"
            for trial in pending.values():
                abandon(study, trial, reason, retry=not invalid)
            raise

    def _trial_overrides(self, study: optuna.Study, trial: Trial) -> list[str]:
        """What makes a job a trial: OptunaTrialCallback at `trial_callback_key`, the W&B group."""
        s, out = self.s, []
        if s.trial_callback_key:
            callback = {
                "_target_": TRIAL_CALLBACK,
                "storage": s.storage,
                "study_name": study.study_name,
                "trial_number": trial.number,
                "monitor": s.monitor,
                "pruner": s.pruner,
                "check_finite": s.check_finite,
            }
            out.append(f"++{s.trial_callback_key}={format_value(callback)}")
        if s.wandb_group_key and "." in s.wandb_group_key:
            parent = s.wandb_group_key.rsplit(".", 1)[0]
            if OmegaConf.select(self.config, parent) is not None:
                out.append(f"{s.wandb_group_key}={format_value(study.study_name)}")
        return out

    def _target(self, space: SearchSpace) -> int:
        if not self.s.grid:
            return self.s.n_trials
        size = space.grid_size()
        if self.s.n_trials > size:
            log.warning("grid of %d points: n_trials=%d is capped at %d", size, self.s.n_trials, size)
        return min(self.s.n_trials, size)

    def _sampler(self, space: SearchSpace) -> optuna.samplers.BaseSampler:
        extra = {"search_space": space.grid()} if self.s.grid else {}
        # TPE's multivariate and constant_liar options are flagged experimental by Optuna since 2.x.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return instantiate(self.s.sampler, **extra)

    def _name_prefix(self) -> str:
        preset = OmegaConf.select(self.config, "hydra.runtime.choices.hparams_search", default=None)
        return str(preset or OmegaConf.select(self.config, "task_name", default=None) or "study")

    def _summarize(self, study: optuna.Study, sweep_dir: Path, target: int) -> dict[str, Any]:
        summary = summarize(study, sweep_dir / "optuna", target)
        best = summary["best_trial"]
        if best is not None:
            log.info(
                "best trial %d: %s=%.4f %s (%s)", best["number"], self.s.monitor, best["value"],
                json.dumps(best["params"]), best["job_dir"],
            )  # fmt: skip
        log.info("study summary: %s", sweep_dir / "optuna" / "study.json")
        wandb_cfg = OmegaConf.select(self.config, "logger.wandb")
        if wandb_cfg is not None:
            run_dir = log_to_wandb(
                summary, sweep_dir / "optuna", project=wandb_cfg.project, entity=wandb_cfg.get("entity"),
                mode=resolve_mode(wandb_cfg.get("offline")),
            )  # fmt: skip
            log.info("study summary on W&B: %s", run_dir)
        return summary


def _consecutive(trials: Sequence[Trial]) -> list[list[Trial]]:
    """Split trials into runs of consecutive numbers (a launch numbers its jobs from one index)."""
    runs: list[list[Trial]] = []
    for trial in sorted(trials, key=lambda t: t.number):
        if runs and runs[-1][-1].number + 1 == trial.number:
            runs[-1].append(trial)
        else:
            runs.append([trial])
    return runs


def job_outcome(ret: JobReturn | BaseException) -> tuple[float | None, str | None, str | None]:
    """(value, error, job folder) of one launched job. fer_lightning's `main` returns NaN for a failed
    job in a multirun; the error is then read from the job's results.json."""
    if isinstance(ret, BaseException):
        return None, f"{type(ret).__name__}: {ret}", None
    job_dir = (
        OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir") if ret.hydra_cfg is not None else None
    )
    try:
        value = ret.return_value
    except Exception as err:  # the task function raised
        return None, f"{type(err).__name__}: {err}", job_dir
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None, f"the job returned {value!r}, not a number", job_dir
    if math.isfinite(value):
        return value, None, job_dir
    return value, _results_error(job_dir) or f"the job returned {value}", job_dir


def _results_error(job_dir: str | None) -> str | None:
    if job_dir is None:
        return None
    path = Path(job_dir) / RESULTS_FILE
    if not path.exists():
        return f"the job returned NaN and wrote no {path}; see the job's log in {job_dir}"
    return read(path).error


def plain(node: Any) -> Any:
    """A config node as plain Python (a plain value as it is)."""
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def settings_from(fields_: Mapping[str, Any]) -> SweepSettings:
    """SweepSettings from the sweeper's config fields (DictConfig nodes made plain)."""
    values = {k: plain(v) for k, v in fields_.items()}
    values["params"] = values.get("params") or {}
    values["enqueue_trials"] = [plain(e) for e in values.get("enqueue_trials") or []]
    return SweepSettings(**values)
