"""OmegaConf resolvers used by `conf/`."""

from __future__ import annotations

import os

from omegaconf import OmegaConf


def ddp_strategy() -> str:
    """`ddp` in a single run or a SLURM job of several tasks, `ddp_spawn` inside a local Hydra multirun.

    Lightning's `ddp` relaunches `sys.argv` for ranks > 0; under `-m` that argv is the whole sweep, so
    every extra rank would re-run the sweep (into a second multirun folder, with other parameters when a
    sampler draws them). `ddp_spawn` starts the ranks from inside the job instead.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        return "ddp"  # SLURM started one task per device; Lightning joins them and launches nothing
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return "ddp_spawn"
    return "ddp"


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("fer.ddp_strategy"):
        OmegaConf.register_new_resolver("fer.ddp_strategy", ddp_strategy)
