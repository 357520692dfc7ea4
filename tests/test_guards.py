"""Guards for the twins that remain on purpose: the paper's figures name config options, the W&B sweep files
search the spaces of the Optuna presets, and the metrics a config may watch are the ones the module logs."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import yaml
from hydra.utils import instantiate
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from fer_lightning.hpo.space import parse_search_space
from fer_lightning.module import FERClassifier
from fer_lightning.paper_figures import FIGURES
from fer_lightning.report.grid import SPLIT_OF
from tests.conftest import CONF_DIR
from tests.helpers import ROOT

WANDB_SWEEPS = ROOT / "sweeps" / "wandb"


def _options(group: str) -> set[str]:
    return {p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_")}


def test_every_setting_of_the_paper_figures_is_a_config_option() -> None:
    for figure in FIGURES:
        assert figure.model in _options("model"), figure.name
        for (optimizer, scheduler), splits in figure.cells.items():
            assert optimizer in _options("optimizer"), (figure.name, optimizer)
            assert scheduler in _options("scheduler"), (figure.name, scheduler)
            assert set(splits) <= set(SPLIT_OF.values()), (figure.name, splits)


def _wandb_distribution(key: str, spec: dict):
    """The Optuna distribution a W&B sweep parameter means."""
    if "values" in spec:
        return CategoricalDistribution(spec["values"])
    kind, low, high = spec["distribution"], spec["min"], spec["max"]
    if kind == "log_uniform_values":
        return FloatDistribution(low, high, log=True)
    if kind == "uniform":
        return FloatDistribution(low, high)
    if kind == "int_uniform":
        return IntDistribution(low, high)
    raise AssertionError(f"{key}: W&B distribution {kind!r} has no twin here; add it")


@pytest.mark.parametrize("path", sorted(WANDB_SWEEPS.glob("*.yaml")), ids=lambda p: p.stem)
def test_each_wandb_sweep_searches_the_space_of_its_optuna_preset(path: Path) -> None:
    preset = yaml.safe_load((CONF_DIR / "hparams_search" / path.name).read_text())
    space = parse_search_space(preset["hydra"]["sweeper"]["params"])
    sweep = yaml.safe_load(path.read_text())
    wandb = {key: _wandb_distribution(key, spec) for key, spec in sweep["parameters"].items()}
    assert wandb == space.distributions
    assert {p.stem for p in WANDB_SWEEPS.glob("*.yaml")} == _options("hparams_search")


def test_the_metrics_a_config_may_watch_are_exactly_what_the_module_logs(compose_cfg) -> None:
    cfg = compose_cfg("data.source.n=200", "augmentation.ten_crop=false")
    parts = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("model", "optimizer", "scheduler")}
    module = FERClassifier(**parts)
    trainer = pl.Trainer(
        accelerator="cpu", max_epochs=1, limit_train_batches=2, limit_val_batches=1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, num_sanity_val_steps=0,
        use_distributed_sampler=False,
    )  # fmt: skip
    trainer.fit(module, datamodule=instantiate(cfg.data))
    logged = set(trainer.callback_metrics)
    # Not watchable: the per-step loss (a scheduler or checkpoint acts once per epoch) and the learning
    # rate, which is what a scheduler sets.
    per_step, rates = {"train/loss_step"}, {k for k in logged if k == "lr" or k.startswith("lr/")}
    assert per_step <= logged and rates
    assert logged - per_step - rates == module.monitorable
