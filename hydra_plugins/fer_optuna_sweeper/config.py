"""The `optuna` sweeper's config and its sampler / pruner options, registered in Hydra's ConfigStore.

Select with `hydra/sweeper=optuna`, then `hydra/sweeper/sampler=tpe|random|grid` and
`hydra/sweeper/pruner=median|hyperband|none`; any field is a `hydra.sweeper.<field>=...` override.
"""

# No `from __future__ import annotations`: Hydra runs this module before putting it in sys.modules,
# where dataclasses look up string annotations (Hydra 1.3, core/plugins.py).
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class OptunaSweeperConf:
    defaults: list[Any] = field(default_factory=lambda: ["_self_", {"sampler": "tpe"}, {"pruner": "median"}])
    _target_: str = "hydra_plugins.fer_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    # The sweeper builds sampler and pruner itself: GridSampler needs the search space, and the pruner's
    # config also travels to every trial's job.
    _recursive_: bool = False

    sampler: Any = None
    pruner: Any = None
    # null: "<hparams_search preset or task name>-<digest of the search space and fixed overrides>", so
    # the same command resumes its study and a changed one starts another.
    study_name: str | None = None
    # sqlite:///<file>, journal:<file> (shared filesystems), or a database URL (postgresql://...).
    storage: str = "sqlite:///${paths.log_dir}/optuna/optuna.db"
    direction: str = "maximize"
    # Trials that count (completed, pruned or failed), across reruns and workers.
    n_trials: int = 20
    # Trials launched together; in parallel with a parallel launcher (submitit), else one after another.
    n_jobs: int = 1
    # key -> Hydra sweep text, e.g. {optimizer.lr: "tag(log, interval(1e-4, 1e-1))"}; command-line sweep
    # overrides add to it and win for the same key.
    params: dict[str, Any] = field(default_factory=dict)
    # Points evaluated first, when the study is created, e.g. the paper's configuration.
    enqueue_trials: list[dict[str, Any]] = field(default_factory=list)
    # What each trial reports after every epoch (the pruner's input) and which losses must stay finite.
    monitor: str = "${optimized_metric}"
    check_finite: list[str] = field(default_factory=lambda: ["val/loss"])
    # Where the sweeper adds OptunaTrialCallback in a trial's config (null: no reports, no pruning).
    trial_callback_key: str | None = "callbacks.optuna_trial"
    # Set to the study name in each trial when the config has that node's parent (logger.wandb).
    wandb_group_key: str | None = "logger.wandb.group"
    # Seconds between a worker's signs of life on its running trials, and the silence after which a
    # running trial is taken to belong to a dead worker (failed, its point queued again).
    heartbeat_interval: float = 60.0
    grace_period: float = 600.0
    # Study summary (study.json, PNG plots; a W&B run with logger=wandb) in <sweep dir>/optuna/.
    summary: bool = True


SAMPLERS: dict[str, dict[str, Any]] = {
    # constant_liar keeps concurrent workers from sampling the same point; both options are Optuna's
    # recommended settings for parallel TPE.
    "tpe": {
        "_target_": "optuna.samplers.TPESampler",
        "seed": None,
        "n_startup_trials": 10,
        "multivariate": True,
        "constant_liar": True,
    },
    "random": {"_target_": "optuna.samplers.RandomSampler", "seed": None},
    # Every parameter must be a choice or a range; n_trials is capped at the grid's size.
    "grid": {"_target_": "optuna.samplers.GridSampler", "seed": None},
}

PRUNERS: dict[str, dict[str, Any]] = {
    "median": {
        "_target_": "optuna.pruners.MedianPruner",
        "n_startup_trials": 5,
        "n_warmup_steps": 10,
        "interval_steps": 1,
    },
    "hyperband": {
        "_target_": "optuna.pruners.HyperbandPruner",
        "min_resource": 5,
        "max_resource": "${trainer.max_epochs}",
        "reduction_factor": 3,
    },
    "none": {"_target_": "optuna.pruners.NopPruner"},
}

_store = ConfigStore.instance()
_store.store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="fer_optuna_sweeper")
for _name, _node in SAMPLERS.items():
    _store.store(group="hydra/sweeper/sampler", name=_name, node=_node, provider="fer_optuna_sweeper")
for _name, _node in PRUNERS.items():
    _store.store(group="hydra/sweeper/pruner", name=_name, node=_node, provider="fer_optuna_sweeper")
