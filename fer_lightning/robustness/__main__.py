"""`python -m fer_lightning.robustness ckpt_path=... [data=...] [severities=[1,3,5]] ...`"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

log = logging.getLogger("fer_lightning.robustness")


def evaluate(cfg: DictConfig, task_overrides: list[str] | None = None) -> dict[str, Any]:
    """Run the suite on `cfg.ckpt_path` and write the report into `cfg.output_dir`; returns the result."""
    from hydra.utils import instantiate

    from fer_lightning.checkpoint import (
        check_views,
        load_classifier,
        load_run_config,
        resolve_device,
        with_run_config,
    )
    from fer_lightning.robustness.report import headline, write_report
    from fer_lightning.robustness.suite import run_suite

    device = resolve_device(cfg.device)
    module = load_classifier(cfg.ckpt_path, device)
    run_cfg = load_run_config(cfg.ckpt_path) if cfg.from_run else None
    if run_cfg is not None:
        cfg = with_run_config(cfg, run_cfg, task_overrides or [])
    if cfg.get("data") is None:
        raise ValueError(
            f"no run config next to {cfg.ckpt_path} (expected ../.hydra/config.yaml) and no data chosen: "
            "pass data=fer2013 (with paths.data_dir=...) or data=synthetic"
        )
    overrides = {"test_splits": list(cfg.splits)} if cfg.get("splits") is not None else {}
    datamodule = instantiate(cfg.data, **overrides)
    check_views(module.hparams.model, datamodule.augmentation, cfg.ckpt_path)
    datamodule.setup("test")
    result = run_suite(
        module,
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
    result.update(
        checkpoint=str(Path(cfg.ckpt_path).resolve()), splits=splits, run_config=run_cfg is not None
    )
    paths = write_report(
        result, cfg.output_dir, face=datamodule.test_data.images[0], title=f"test split {'+'.join(splits)}"
    )
    log.info("%s on %s: %s", Path(cfg.ckpt_path).name, "+".join(splits), headline(result))
    for kind, path in paths.items():
        log.info("%s: %s", kind, path)
    return result


@hydra.main(version_base="1.3", config_path="../../conf", config_name="robustness")
def main(cfg: DictConfig) -> float:
    from hydra.core.hydra_config import HydraConfig

    return evaluate(cfg, list(HydraConfig.get().overrides.task))["mean_corruption_acc"]


if __name__ == "__main__":
    main()
