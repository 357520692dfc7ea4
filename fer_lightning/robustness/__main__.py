"""`python -m fer_lightning.robustness ckpt_path=... [data=...] [severities=[1,3,5]] ...`"""

from __future__ import annotations

import logging
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from fer_lightning.checkpoint import open_checkpoint, resolve_device
from fer_lightning.robustness.report import headline, write_report
from fer_lightning.robustness.suite import run_suite

log = logging.getLogger("fer_lightning.robustness")


def evaluate(cfg: DictConfig, task_overrides: list[str] | None = None) -> dict[str, Any]:
    """Run the suite on `cfg.ckpt_path` and write the report into `cfg.output_dir`; returns the result."""
    device = resolve_device(cfg.device)
    opened = open_checkpoint(cfg, task_overrides or [], groups=("data", "augmentation"), device=device)
    cfg = opened.cfg
    if cfg.get("data") is None:
        raise ValueError(
            f"no run config next to {cfg.ckpt_path} (expected ../.hydra/config.yaml) and no data chosen: "
            "pass data=fer2013 (with paths.data_dir=...) or data=synthetic"
        )
    overrides = {"test_splits": list(cfg.splits)} if cfg.get("splits") is not None else {}
    datamodule = instantiate(cfg.data, augmentation=opened.augmentation, **overrides)
    datamodule.setup("test")
    result = run_suite(
        opened.module,
        datamodule.test_data,
        datamodule.eval_views,
        corruptions=list(cfg.corruptions) if cfg.corruptions is not None else None,
        severities=list(cfg.severities),
        seed=cfg.seed,
        batch_size=cfg.batch_size,
        device=device,
        max_images=cfg.max_images,
    )
    splits = list(datamodule.roles["test"])
    result.update(checkpoint=str(opened.path), splits=splits, run_config=opened.run_config)
    paths = write_report(
        result, cfg.output_dir, face=datamodule.test_data.images[0], title=f"test split {'+'.join(splits)}"
    )
    log.info("%s on %s: %s", opened.path.name, "+".join(splits), headline(result))
    for kind, path in paths.items():
        log.info("%s: %s", kind, path)
    return result


@hydra.main(version_base="1.3", config_path="../../conf", config_name="robustness")
def main(cfg: DictConfig) -> float:
    return evaluate(cfg, list(HydraConfig.get().overrides.task))["mean_corruption_acc"]


if __name__ == "__main__":
    main()
