"""`train(cfg)`: build -> fit -> evaluate -> record.

- `build`: the loaded DataModule, the FERClassifier, callbacks, loggers and the Trainer, from the composed
  config; fails before training on a config that cannot work (a monitor nothing logs, a batch that does
  not split across processes, no checkpoint to evaluate).
- `fit`: Lightning's fit, resumed from `ckpt_path` when given.
- `evaluate`: val and test of the checkpoint the checkpoint callback selected (`test_ckpt`).
- `recording`: the run record (fer_lightning/results.py) written to `<output_dir>/results.json` however
  the run ends; the one place where an outcome becomes a status.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger
from pytorch_lightning.utilities import rank_zero_info, rank_zero_only

from fer_lightning.data.datamodule import FER2013DataModule
from fer_lightning.models import model_complexity
from fer_lightning.module import FERClassifier
from fer_lightning.naming import REPORTED_GROUPS, run_name
from fer_lightning.results import RunRecord, stage_metrics, write
from fer_lightning.tracking import close_loggers, log_run_config

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, then evaluate the checkpoint chosen by `cfg.test_ckpt` on val and test. Returns the record as
    written to `<output_dir>/results.json`, which is also written when building or training fails."""
    record = new_record(cfg)
    with recording(record, cfg.paths.output_dir), build(cfg, record) as run:
        fit(run, record, cfg.get("ckpt_path"))
        evaluate(run, record, cfg.test_ckpt)
    return record.to_dict()


@dataclass
class TrainingRun:
    """What `build` makes. Entering it starts tracking (the resolved config on every logger, the W&B run
    opened before fit, which `ddp_fork` needs); leaving it finishes every logger, as failed on an error."""

    datamodule: FER2013DataModule
    module: FERClassifier
    trainer: pl.Trainer
    loggers: list[Logger]
    logged_config: dict[str, Any]
    name: str

    def __enter__(self) -> TrainingRun:
        try:
            log_run_config(self.loggers, self.logged_config, run_name=self.name)
        except BaseException:
            close_loggers(self.loggers, failed=True)  # a run that started must not stay open
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        close_loggers(self.loggers, failed=exc_type is not None)


def new_record(cfg: DictConfig) -> RunRecord:
    """The record of a run about to start: its name, group choices and overrides."""
    choices = job_choices(cfg)
    seed = cfg.get("seed")
    return RunRecord(
        run_name=run_name(choices, seed, synthetic=choices.get("data") == "synthetic"),
        choices=choices,
        job_type=cfg.get("job_type", "train"),
        overrides=list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else [],
        seed=seed,
        max_epochs=cfg.trainer.get("max_epochs"),
    )


@contextmanager
def recording(record: RunRecord, output_dir: str | Path) -> Iterator[RunRecord]:
    """Time the block, set the record's status from how it ends (completed, failed, pruned or
    interrupted) and write results.json on rank 0; exceptions propagate."""
    started = time.perf_counter()
    try:
        yield record
    except BaseException as err:
        record.ended(err)
        raise
    else:
        record.ended(None)
    finally:
        record.wall_time_s = round(time.perf_counter() - started, 3)
        if rank_zero_only.rank == 0:
            log.info("results: %s", write(record, output_dir).resolve())


def build(cfg: DictConfig, record: RunRecord) -> TrainingRun:
    """Everything a run needs, from the config; what is known before fitting goes into `record`."""
    check_partials(cfg)
    if cfg.get("seed") is not None:  # seed 0 is a seed
        pl.seed_everything(cfg.seed, workers=True)
    datamodule: FER2013DataModule = instantiate(cfg.data)
    arrays = datamodule.load()
    module = FERClassifier(
        model=_plain(cfg.model), optimizer=_plain(cfg.optimizer), scheduler=_plain(cfg.scheduler)
    )
    callbacks: list[pl.Callback] = _instantiate_each(cfg.get("callbacks"))
    check_monitors(cfg, module, callbacks)
    loggers: list[Logger] = _instantiate_each(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        deterministic=cfg.get("deterministic", False),
    )
    datamodule.check_world_size(trainer.world_size)
    side = datamodule.augmentation.crop_size
    record.run_name = run_name(record.choices, record.seed, arrays.synthetic)
    record.checkpoint_selection = checkpoint_selection(trainer, cfg.test_ckpt)
    record.synthetic, record.data_source = arrays.synthetic, arrays.source
    record.splits = {role: list(splits) for role, splits in datamodule.roles.items()}
    complexity = model_complexity(module.net, input_shape=(1, 1, side, side))
    record.params, record.macs = complexity["params"], complexity["macs"]
    logged = {**_resolved_without_hydra(cfg), "synthetic": arrays.synthetic, "run_name": record.run_name}
    return TrainingRun(datamodule, module, trainer, loggers, logged, record.run_name)


def fit(run: TrainingRun, record: RunRecord, ckpt_path: str | None = None) -> None:
    """Train; `record.epochs` says how far it got, also when it stops with an error."""
    try:
        run.trainer.fit(run.module, datamodule=run.datamodule, ckpt_path=ckpt_path)
    finally:
        record.epochs = run.trainer.current_epoch


def evaluate(run: TrainingRun, record: RunRecord, which: str) -> None:
    """Val and test metrics of the `which` checkpoint ("best" or "last") into `record`."""
    ckpt = selected_checkpoint(run.trainer, which)
    trainer, module, datamodule = run.trainer, run.module, run.datamodule
    val = trainer.validate(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)[0]
    test = trainer.test(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)[0]
    best = trainer.checkpoint_callback.best_model_score
    record.checkpoint = str(Path(ckpt).resolve())
    record.best_score = None if best is None else float(best)
    # Under ddp_spawn the DataModule was set up in the spawned processes only; setting it up here (a no-op
    # when this process already did) gives the same split sizes and dropped leaks.
    datamodule.setup("test")
    record.hygiene = datamodule.hygiene
    record.val, record.test = stage_metrics(val, "val"), stage_metrics(test, "test")
    rank_zero_info(
        f"{record.run_name}: test accuracy {100 * record.test['acc']:.2f} % on "
        f"{'+'.join(datamodule.roles['test'])}, checkpoint {record.checkpoint}"
    )


def check_monitors(cfg: DictConfig, module: FERClassifier, callbacks: list[pl.Callback]) -> None:
    """Fail before training when a scheduler or checkpoint watches a metric the module never logs."""
    watched = {"scheduler.monitor": cfg.scheduler.get("monitor")}
    for cb in callbacks:
        if isinstance(cb, pl.callbacks.ModelCheckpoint | pl.callbacks.EarlyStopping):
            watched[f"callbacks: {type(cb).__name__}.monitor"] = cb.monitor
    for key, metric in watched.items():
        if metric is not None and metric not in module.monitorable:
            raise ValueError(
                f"{key}={metric!r} is not a logged metric; expected one of {sorted(module.monitorable)}"
            )


def check_partials(cfg: DictConfig) -> None:
    """Fail before training when the optimizer or the schedule cannot be built from its config: a node
    without `_target_`, or a key its target does not take (momentum for Adam, an experiment's plateau
    settings under another schedule)."""
    for key in ("optimizer", "scheduler.scheduler"):
        node = OmegaConf.select(cfg, key)
        if node is None:
            continue
        if "_target_" not in node:
            raise ValueError(f"{key} sets {sorted(node)} but no _target_; expected a class to build")
        params = inspect.signature(get_class(node._target_)).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            continue
        unknown = sorted(k for k in node if not str(k).startswith("_") and k not in params)
        if unknown:
            raise ValueError(
                f"{key}: {node._target_} takes no {unknown}; expected some of {sorted(set(params) - {'self'})}"
            )


def checkpoint_selection(trainer: pl.Trainer, which: str) -> str:
    """How the evaluated checkpoint is chosen, in the checkpoint callback's terms: "best (max val/acc)"."""
    ckpt = trainer.checkpoint_callback
    if ckpt is None:
        raise ValueError("no ModelCheckpoint callback: add callbacks=default to choose a checkpoint to test")
    if which == "last":
        return "last (final epoch)"
    if which != "best":
        raise ValueError(f"test_ckpt={which!r}: expected 'best' or 'last'")
    return f"best ({ckpt.mode} {ckpt.monitor})" if ckpt.monitor else "best (no monitor: the latest save)"


def selected_checkpoint(trainer: pl.Trainer, which: str) -> str:
    """The path of the `which` checkpoint the callback wrote."""
    ckpt = trainer.checkpoint_callback
    path = ckpt.best_model_path if which == "best" else ckpt.last_model_path
    if not path:
        raise RuntimeError(f"no {which} checkpoint was written in {ckpt.dirpath}")
    return path


def job_choices(cfg: DictConfig) -> dict[str, str]:
    """The option chosen in each config group: from the running Hydra job, else from a composed config
    that carries its `hydra` node (compose API with return_hydra_config=True)."""
    choices: Mapping | None = None
    if HydraConfig.initialized():
        choices = HydraConfig.get().runtime.choices
    elif "hydra" in cfg and cfg.hydra.get("runtime") is not None:
        choices = cfg.hydra.runtime.choices
    choices = dict(choices or {})
    return {g: str(choices[g]) for g in REPORTED_GROUPS if choices.get(g) is not None}


def _instantiate_each(group: DictConfig | None) -> list[Any]:
    """One object per entry of a callbacks/logger group that has a `_target_` (`null` entries switch off)."""
    return [instantiate(c) for c in (group or {}).values() if c is not None and "_target_" in c]


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if node is not None else None


def _resolved_without_hydra(cfg: DictConfig) -> dict[str, Any]:
    # A composed test config carries the `hydra` node, which only resolves inside a running job.
    return {k: _plain(cfg[k]) if OmegaConf.is_config(cfg[k]) else cfg[k] for k in cfg if k != "hydra"}
