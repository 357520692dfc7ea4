"""OmegaConf resolvers used by `conf/`: the FER-2013 facts (`${fer.num_classes:}` and the like, so that no
YAML restates a number of fer_lightning/fer2013.py) and the DDP strategy of a run."""

from __future__ import annotations

import os

from omegaconf import OmegaConf

from fer_lightning import fer2013

# `${fer.<name>:}` -> the fact it names.
FACTS = {
    "fer.num_classes": fer2013.NUM_CLASSES,
    "fer.image_size": fer2013.IMAGE_SIZE,
    "fer.total_images": fer2013.TOTAL_IMAGES,
}


def ddp_strategy() -> str:
    """`ddp` in a single run or a SLURM job of several tasks, `ddp_spawn` inside a local Hydra multirun.

    Lightning's `ddp` relaunches `sys.argv` for ranks > 0; under `-m` that argv is the whole sweep, so
    every extra rank would re-run the sweep (into a second multirun folder, with other parameters when a
    sampler draws them). `ddp_spawn` starts the ranks from inside the job instead.
    """
    # Imported here: every `import fer_lightning` (the data and report CLIs included) registers these
    # resolvers, and hydra.core costs import time that only a Hydra run needs.
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
    for name, value in FACTS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, lambda value=value: value)
