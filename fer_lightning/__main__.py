"""`python -m fer_lightning [-m] group=option key=value ...`: the Hydra training app."""

from __future__ import annotations

import logging
import math

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from fer_lightning.results import Status

log = logging.getLogger("fer_lightning")


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Train one configuration; return the value a sweeper maximises (`cfg.optimized_metric` of the
    evaluated checkpoint, val accuracy by default).

    In a multirun a failing job is recorded (results.json, W&B run marked failed) and the sweep goes on;
    its return value is NaN. A single run re-raises.
    """
    # Imported here, not at the top: `--help`, `--cfg job` and `--info` answer without the seconds that
    # Lightning, torchmetrics and W&B take to import.
    from fer_lightning.train import train

    try:
        results = train(cfg)
    except Exception as err:
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            raise
        if Status.of(err) is Status.PRUNED:
            log.info("job %s was pruned by the sweeper: %s", HydraConfig.get().job.num, err)
        else:
            log.exception("job %s failed; the sweep continues", HydraConfig.get().job.num)
        return math.nan
    stage, _, key = cfg.optimized_metric.partition("/")
    return results[stage][key]


if __name__ == "__main__":
    main()
