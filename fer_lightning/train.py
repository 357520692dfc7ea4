"""`train(cfg)`: build everything from the composed config, fit, evaluate the selected checkpoint on val
and test, and write `results.json` into the run's output folder."""

from __future__ import annotations

import json
import logging
import time
import traceback
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_info, rank_zero_only

from fer_lightning.data.datamodule import FER2013DataModule
from fer_lightning.module import FERClassifier
from fer_lightning.naming import job_choices, run_name

log = logging.getLogger(__name__)


def _container(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if node is not None else None


def build_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    return [
        instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None and "_target_" in c
    ]


def build_loggers(cfg: DictConfig) -> list[pl.loggers.Logger]:
    return [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None and "_target_" in c]


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


def _selected_checkpoint(trainer: pl.Trainer, which: str) -> str:
    ckpt = trainer.checkpoint_callback
    if ckpt is None:
        raise ValueError("no ModelCheckpoint callback: add callbacks=default to choose a checkpoint to test")
    path = {"best": ckpt.best_model_path, "last": ckpt.last_model_path}.get(which)
    if path is None:
        raise ValueError(f"test_ckpt={which!r}: expected 'best' or 'last'")
    if not path:
        raise RuntimeError(f"no {which} checkpoint was written in {ckpt.dirpath}")
    return path


def _strip_stage(metrics: dict[str, float], stage: str) -> dict[str, float]:
    prefix = f"{stage}/"
    return {k[len(prefix) :]: float(v) for k, v in metrics.items() if k.startswith(prefix)}


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, then evaluate the checkpoint chosen by `cfg.test_ckpt` (best val/acc by default) on val and
    test. Returns the results that are also written to `<output_dir>/results.json`, also when building
    or training fails (status "failed", or "pruned" when a sweeper stopped the trial)."""
    started = time.perf_counter()
    output_dir = Path(cfg.paths.output_dir)
    choices = job_choices(cfg)
    results: dict[str, Any] = {
        "run_name": run_name(choices, cfg.get("seed"), synthetic=choices.get("data") == "synthetic"),
        "status": "failed",
        "error": None,
        "job_type": cfg.get("job_type", "train"),
        "choices": choices,
        "overrides": _task_overrides(),
        "seed": cfg.get("seed"),
        "max_epochs": cfg.trainer.get("max_epochs"),
        "checkpoint_selection": f"{cfg.test_ckpt} ({'max val/acc' if cfg.test_ckpt == 'best' else 'final epoch'})",
    }
    trainer: pl.Trainer | None = None
    loggers: list[pl.loggers.Logger] = []
    failed = True
    try:
        if cfg.get("seed") is not None:  # seed 0 is a seed
            pl.seed_everything(cfg.seed, workers=True)
        datamodule: FER2013DataModule = instantiate(cfg.data)
        module = FERClassifier(
            model=_container(cfg.model),
            optimizer=_container(cfg.optimizer),
            scheduler=_container(cfg.scheduler),
        )
        callbacks = build_callbacks(cfg)
        check_monitors(cfg, module, callbacks)
        results.update(
            run_name=run_name(choices, cfg.get("seed"), datamodule.synthetic),
            synthetic=datamodule.synthetic,
            data_source=datamodule.arrays.source,
            splits={role: list(splits) for role, splits in datamodule.roles.items()},
            **_complexity(module, datamodule),
        )
        loggers = build_loggers(cfg)
        trainer = instantiate(
            cfg.trainer,
            callbacks=callbacks,
            logger=loggers or False,
            deterministic=cfg.get("deterministic", False),
        )
        datamodule.check_world_size(trainer.world_size)
        from fer_lightning.tracking import log_run_config

        log_run_config(
            loggers,
            {
                **_resolved_without_hydra(cfg),
                "synthetic": datamodule.synthetic,
                "run_name": results["run_name"],
            },
            run_name=results["run_name"],
        )

        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        if trainer.interrupted:
            raise KeyboardInterrupt("training was interrupted")
        ckpt = _selected_checkpoint(trainer, cfg.test_ckpt)
        val = trainer.validate(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)[0]
        test = trainer.test(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)[0]
        results.update(
            status="completed",
            epochs=trainer.current_epoch,
            checkpoint=str(Path(ckpt).resolve()),
            hygiene=datamodule.hygiene,
            val=_strip_stage(val, "val"),
            test=_strip_stage(test, "test"),
            best_val_acc=_as_float(trainer.checkpoint_callback.best_model_score),
        )
        failed = False
        rank_zero_info(
            f"{results['run_name']}: test accuracy {100 * results['test']['acc']:.2f} % on "
            f"{'+'.join(datamodule.roles['test'])}, checkpoint {results['checkpoint']}"
        )
        return results
    except BaseException as err:
        # Matched by name: optuna is imported only by the sweeper that raises it.
        results["status"] = "pruned" if type(err).__name__ == "TrialPruned" else "failed"
        results["error"] = "".join(traceback.format_exception_only(type(err), err)).strip()
        results["epochs"] = trainer.current_epoch if trainer is not None else 0
        raise
    finally:
        results["wall_time_s"] = round(time.perf_counter() - started, 3)
        writer = trainer.is_global_zero if trainer is not None else rank_zero_only.rank == 0
        if writer:
            output_dir.mkdir(parents=True, exist_ok=True)
            (output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
            log.info("results: %s", (output_dir / "results.json").resolve())
        from fer_lightning.tracking import close_loggers

        close_loggers(loggers, failed=failed)


def _resolved_without_hydra(cfg: DictConfig) -> dict[str, Any]:
    # A composed test config carries the `hydra` node, which only resolves inside a running job.
    return {k: _container(cfg[k]) if OmegaConf.is_config(cfg[k]) else cfg[k] for k in cfg if k != "hydra"}


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _complexity(module: FERClassifier, datamodule: FER2013DataModule) -> dict[str, int]:
    from fer_lightning.models import model_complexity

    side = datamodule.augmentation.crop_size
    return model_complexity(module.net, input_shape=(1, 1, side, side))


def _task_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
