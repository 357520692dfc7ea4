"""The W&B run of a Hydra job: named from the group choices, grouped per sweep, always finished.

One job, one run: in a multirun every job runs in the same process, and WandbLogger silently reuses a
run that is still open (`wandb.run`), so each job's run is finished in `close_loggers` (called from a
`finally`) and a leftover run is finished, marked failed, before a new one starts.

wandb itself is imported where a run is made or finished: a job with logger=csv never pays its import.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger, WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from fer_lightning.naming import REPORTED_GROUPS, run_name

log = logging.getLogger(__name__)

# W&B rejects tags longer than 64 characters.
_MAX_TAG = 64
_TIME_ONLY = re.compile(r"^\d{2}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class RunIdentity:
    """How a job appears in W&B: `name` (group choices and seed), `group` (shared by all jobs of a
    sweep), `tags` (one per group choice) and whether the job is part of a multirun."""

    name: str
    group: str
    tags: tuple[str, ...]
    multirun: bool


def sweep_group(sweep_dir: str | Path) -> str:
    """The W&B group of a sweep: its folder name (`2026-11-28_12-00-00`), with the parent prepended
    when the name is a bare time of day, as in Hydra's default `multirun/<date>/<time>` layout."""
    path = Path(sweep_dir)
    if _TIME_ONLY.match(path.name) and path.parent.name:
        return f"{path.parent.name}_{path.name}"
    return path.name


def hydra_identity(seed: int | None) -> RunIdentity:
    """The identity of the running Hydra job (an error outside one: pass name and group explicitly)."""
    if not HydraConfig.initialized():
        raise RuntimeError(
            "make_wandb_logger: no running Hydra job to take the run name and group from; "
            "pass name= and group= explicitly outside `python -m fer_lightning`"
        )
    hc = HydraConfig.get()
    choices = {
        g: str(c) for g, c in hc.runtime.choices.items() if c is not None and not g.startswith("hydra")
    }
    multirun = hc.mode == RunMode.MULTIRUN
    group = sweep_group(hc.sweep.dir) if multirun else Path(hc.runtime.output_dir).name
    tagged = [g for g in (*REPORTED_GROUPS, "experiment") if g in choices]
    tags = tuple(f"{g}:{choices[g]}"[:_MAX_TAG] for g in tagged) + ("multirun" if multirun else "single",)
    # The data's synthetic flag is known only once it is loaded: log_run_config() renames the run then.
    return RunIdentity(run_name(choices, seed, synthetic=False), group, tags, multirun)


def has_wandb_credentials() -> bool:
    """True when W&B finds an API key (WANDB_API_KEY, a settings file or ~/.netrc), without prompting
    and without contacting the server."""
    import wandb

    return bool(wandb.login(prompt=False, verify=False))


def resolve_mode(offline: bool | None) -> Literal["online", "offline"] | None:
    """`offline` true/false forces the mode; null follows WANDB_MODE when set (None: let wandb read it),
    else goes offline when no API key is configured."""
    if offline is not None:
        return "offline" if offline else "online"
    if os.environ.get("WANDB_MODE"):
        return None
    if has_wandb_credentials():
        return "online"
    log.warning("No W&B API key configured (WANDB_API_KEY, ~/.netrc or `wandb login`): logging offline.")
    return "offline"


def _finish_stale_run() -> None:
    import wandb

    if wandb.run is not None:
        log.warning(
            "W&B run %s of an earlier job was still open: finishing it as failed so that this job "
            "does not log into it",
            wandb.run.name,
        )
        wandb.run.finish(exit_code=1)


def make_wandb_logger(
    project: str,
    save_dir: str | Path,
    offline: bool | None = None,
    log_model: bool | Literal["all"] = False,
    entity: str | None = None,
    job_type: str = "train",
    seed: int | None = None,
    name: str | None = None,
    group: str | None = None,
    tags: Sequence[str] = (),
    **wandb_init: Any,
) -> WandbLogger:
    """A WandbLogger for the running Hydra job (conf/logger/wandb.yaml).

    name/group/tags default to `hydra_identity(seed)`; `tags` are added to the choice tags. `log_model`
    uploads checkpoints as artifacts (offline runs keep them for `wandb sync`). Extra keyword arguments
    go to `wandb.init`.
    """
    identity = hydra_identity(seed) if name is None or group is None else None
    mode = resolve_mode(offline)
    _finish_stale_run()
    # The mode goes to wandb.init rather than WandbLogger(offline=True), which would set WANDB_MODE
    # for the rest of the process (every later job of a sweep) and refuse log_model.
    if mode is not None:
        wandb_init["mode"] = mode
    # Processes started by ddp_spawn attach to this run but place media by WANDB_DIR (else ./wandb):
    # point it at this job's folder so the images land in the run they belong to.
    os.environ["WANDB_DIR"] = str(save_dir)
    return WandbLogger(
        project=project,
        save_dir=str(save_dir),
        entity=entity,
        job_type=job_type,
        name=name or identity.name,
        group=group or identity.group,
        tags=list(dict.fromkeys([*(identity.tags if identity else ()), *tags])),
        log_model=log_model,
        **wandb_init,
    )


def log_run_config(
    loggers: Iterable[Logger], params: DictConfig | Mapping[str, Any], run_name: str | None = None
) -> None:
    """Log `params` (a DictConfig is resolved) to every logger and, for W&B, start the run now and give it
    `run_name` (results.json's, which knows whether the data is synthetic).

    Starting it before `fit` matters: with `ddp_fork` a run first opened inside the forked workers is lost.
    """
    if isinstance(params, DictConfig):
        params = OmegaConf.to_container(params, resolve=True, throw_on_missing=False)
    for logger in loggers:
        logger.log_hyperparams(params)
        if isinstance(logger, WandbLogger) and run_name is not None and rank_zero_only.rank == 0:
            logger.experiment.name = run_name


def close_loggers(loggers: Iterable[Logger], failed: bool) -> list[str]:
    """Finish each started W&B run, marked failed (exit code 1) when `failed`; returns and logs the
    `wandb sync <dir>` command of each offline run. Call it from a `finally` on every rank."""
    commands = []
    if rank_zero_only.rank != 0:
        return commands
    for logger in loggers:
        if not isinstance(logger, WandbLogger):
            continue
        # WandbLogger has no public "started?" check; `.experiment` would start a run just to end it.
        run = logger._experiment
        if run is None:
            continue
        offline = run.settings.mode == "offline"
        sync_dir = run.settings.sync_dir
        run.finish(exit_code=1 if failed else 0)
        if offline:
            commands.append(f"wandb sync {sync_dir}")
    for command in commands:
        log.info("W&B run saved offline; upload it with:  %s", command)
    return commands
