"""The Optuna sweeper: ask trials, launch them as Hydra jobs through the configured launcher, tell the
study how each ended. Library logic lives in fer_lightning.hpo; this module is the Hydra glue."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

if TYPE_CHECKING:
    import optuna
    from hydra.core.utils import JobReturn
    from optuna.trial import Trial

    from fer_lightning.hpo.space import SearchSpace

log = logging.getLogger(__name__)

TRIAL_CALLBACK = "fer_lightning.hpo.pruning.OptunaTrialCallback"


class OptunaSweeper(Sweeper):
    """See conf fields in config.py (`OptunaSweeperConf`)."""

    def __init__(
        self,
        sampler: DictConfig,
        pruner: DictConfig,
        study_name: str | None,
        storage: str,
        direction: str,
        n_trials: int,
        n_jobs: int,
        params: DictConfig,
        enqueue_trials: Sequence[DictConfig],
        monitor: str,
        check_finite: Sequence[str],
        trial_callback_key: str | None,
        wandb_group_key: str | None,
        heartbeat_interval: float,
        grace_period: float,
        summary: bool,
    ) -> None:
        from fer_lightning.hpo.study import absolute_storage_url

        def plain(node: Any) -> Any:
            return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node

        self.sampler_cfg: dict[str, Any] = plain(sampler)
        self.pruner_cfg: dict[str, Any] = plain(pruner)
        self.study_name = study_name
        # Jobs may run elsewhere (submitit, SLURM): a relative database path would move with them.
        self.storage = absolute_storage_url(storage)
        self.direction = direction
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.params: dict[str, Any] = plain(params) or {}
        self.enqueue_trials: list[dict[str, Any]] = [plain(e) for e in enqueue_trials]
        self.monitor = monitor
        self.check_finite = list(check_finite)
        self.trial_callback_key = trial_callback_key
        self.wandb_group_key = wandb_group_key
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.summary = summary
        if n_trials < 1 or n_jobs < 1:
            raise ValueError(f"hydra.sweeper: n_trials={n_trials} and n_jobs={n_jobs} must be >= 1")
        if grace_period <= heartbeat_interval:
            raise ValueError(
                f"hydra.sweeper.grace_period={grace_period} must exceed heartbeat_interval={heartbeat_interval}"
            )
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    # -- the sweep ----------------------------------------------------------------------------------------

    def sweep(self, arguments: list[str]) -> dict[str, Any] | None:
        from fer_lightning.hpo.space import enqueued_params, parse_search_space
        from fer_lightning.hpo.study import open_study, progress
        from fer_lightning.hpo.trials import claim_trials, fail_stale_trials

        assert self.config is not None
        space = parse_search_space(self.params, arguments)
        if not space.distributions:
            raise ValueError(
                "hydra/sweeper=optuna: nothing to search; give sweep overrides such as "
                "'scheduler.lr=tag(log,interval(1e-4,1e-1))' or 'optimizer=sgd,adam', or hydra.sweeper.params"
            )
        target = self._target(space)
        name = self.study_name or f"{self._name_prefix()}-{space.digest()}"
        study = open_study(
            self.storage, name, self.direction, space, sampler=self._sampler(space), pruner=self._pruner(),
            enqueue=enqueued_params(self.enqueue_trials, space),
        )  # fmt: skip
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        log.info("Optuna study %r in %s: %s; target %d trials", name, self.storage, progress(study), target)

        ran = 0
        while True:
            fail_stale_trials(study, self.grace_period)
            trials = claim_trials(study, target, self.n_jobs, space.distributions)
            if not trials:
                break
            self._run(study, space, trials)
            ran += len(trials)
        now = progress(study)
        log.info("Optuna study %r: this worker ran %d trial(s); the study has %s", name, ran, now)
        if now.running:
            log.info(
                "%d trial(s) still run in other workers; their results arrive when they finish", now.running
            )
        return self._summarize(study, sweep_dir, target) if self.summary else None

    def _run(self, study: optuna.Study, space: SearchSpace, trials: list[Trial]) -> None:
        """Launch the claimed trials (consecutive numbers together, so that job folders are trial numbers)
        and record each outcome. Any interruption gives up the trials not yet recorded."""
        from fer_lightning.hpo.space import format_value
        from fer_lightning.hpo.trials import Heartbeat, abandon, record_outcome

        pending = {t.number: t for t in trials}
        invalid = False
        try:
            for segment in _consecutive(trials):
                batch = [space.overrides(t.params) + self._trial_overrides(study, t) for t in segment]
                try:
                    self.validate_batch_is_legal(batch)  # a bad key fails here, before any job starts
                except Exception:
                    invalid = True
                    raise
                for t, overrides in zip(segment, batch, strict=True):
                    params = " ".join(f"{k}={format_value(v)}" for k, v in t.params.items())
                    log.info("trial %d: %s", t.number, params)
                    log.debug("trial %d overrides: %s", t.number, overrides)
                with Heartbeat(segment, self.heartbeat_interval):
                    try:
                        returns: Sequence[Any] = self.launcher.launch(
                            batch, initial_job_idx=segment[0].number
                        )
                    except Exception as err:  # e.g. a submitit job that raised: its batch failed
                        log.exception("launching trials %s failed", [t.number for t in segment])
                        returns = [err] * len(segment)
                for trial, ret in zip(segment, returns, strict=True):
                    value, error, job_dir = _job_outcome(ret)
                    state = record_outcome(study, trial, value, error, job_dir)
                    del pending[trial.number]
                    if state.name == "COMPLETE":
                        log.info("trial %d complete: %s=%.4f", trial.number, self.monitor, value)
                    else:
                        log.info("trial %d %s: %s", trial.number, state.name.lower(), error)
        except BaseException as err:
            reason = "its config does not compose" if invalid else f"interrupted ({type(err).__name__})"
            for trial in pending.values():
                abandon(study, trial, reason, retry=not invalid)
            raise

    def _trial_overrides(self, study: optuna.Study, trial: Trial) -> list[str]:
        """What makes a job a trial: OptunaTrialCallback at `trial_callback_key`, the W&B group."""
        from fer_lightning.hpo.space import format_value

        out = []
        if self.trial_callback_key:
            callback = {
                "_target_": TRIAL_CALLBACK,
                "storage": self.storage,
                "study_name": study.study_name,
                "trial_number": trial.number,
                "monitor": self.monitor,
                "pruner": self.pruner_cfg,
                "check_finite": self.check_finite,
            }
            out.append(f"++{self.trial_callback_key}={format_value(callback)}")
        if self.wandb_group_key and "." in self.wandb_group_key:
            parent = self.wandb_group_key.rsplit(".", 1)[0]
            if OmegaConf.select(self.config, parent) is not None:
                out.append(f"{self.wandb_group_key}={format_value(study.study_name)}")
        return out

    # -- helpers ------------------------------------------------------------------------------------------

    def _is_grid(self) -> bool:
        return str(self.sampler_cfg.get("_target_", "")).endswith("GridSampler")

    def _target(self, space: SearchSpace) -> int:
        if not self._is_grid():
            return self.n_trials
        size = space.grid_size()
        if self.n_trials > size:
            log.warning("grid of %d points: n_trials=%d is capped at %d", size, self.n_trials, size)
        return min(self.n_trials, size)

    def _sampler(self, space: SearchSpace) -> optuna.samplers.BaseSampler:
        import warnings

        from hydra.utils import instantiate
        from optuna.exceptions import ExperimentalWarning

        extra = {"search_space": space.grid()} if self._is_grid() else {}
        # TPE's multivariate and constant_liar options are flagged experimental by Optuna since 2.x.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return instantiate(self.sampler_cfg, **extra)

    def _pruner(self) -> optuna.pruners.BasePruner:
        from hydra.utils import instantiate

        return instantiate(self.pruner_cfg)

    def _name_prefix(self) -> str:
        assert self.config is not None
        preset = OmegaConf.select(self.config, "hydra.runtime.choices.hparams_search", default=None)
        return str(preset or OmegaConf.select(self.config, "task_name", default=None) or "study")

    def _summarize(self, study: optuna.Study, sweep_dir: Path, target: int) -> dict[str, Any]:
        from fer_lightning.hpo.summary import log_to_wandb, summarize

        summary = summarize(study, sweep_dir / "optuna", target)
        best = summary["best_trial"]
        if best is not None:
            log.info(
                "best trial %d: %s=%.4f %s (%s)", best["number"], self.monitor, best["value"],
                json.dumps(best["params"]), best["job_dir"],
            )  # fmt: skip
        log.info("study summary: %s", sweep_dir / "optuna" / "study.json")
        wandb_cfg = OmegaConf.select(self.config, "logger.wandb")
        if wandb_cfg is not None:
            from fer_lightning.tracking.wandb_run import resolve_mode

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


def _job_outcome(ret: JobReturn | BaseException) -> tuple[float | None, str | None, str | None]:
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
    path = Path(job_dir) / "results.json"
    if not path.exists():
        return f"the job returned NaN and wrote no {path}; see the job's log in {job_dir}"
    return json.loads(path.read_text()).get("error")
