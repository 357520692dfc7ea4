"""Every optimizer and scheduler composes and steps; bad configurations fail before training."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from hydra.errors import MissingConfigException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fer_lightning.module import FERClassifier
from fer_lightning.train import train
from tests.conftest import CONF_DIR

OPTIMIZERS = {
    "sgd": (torch.optim.SGD, {"momentum": 0.9, "nesterov": False}),
    "sgd_nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    "asgd": (torch.optim.ASGD, {}),
    "adam": (torch.optim.Adam, {"amsgrad": False}),
    "amsgrad": (torch.optim.Adam, {"amsgrad": True}),
    "adagrad": (torch.optim.Adagrad, {}),
    "adadelta": (torch.optim.Adadelta, {}),
}
SCHEDULERS = ["plateau", "step", "one_cycle", "cosine", "cosine_restarts", "constant"]


def _module(cfg) -> FERClassifier:
    parts = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("model", "optimizer", "scheduler")}
    return FERClassifier(**parts)


def _fit_steps(cfg, steps: int) -> tuple[FERClassifier, pl.Trainer]:
    module = _module(cfg)
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, num_sanity_val_steps=0, limit_val_batches=1, use_distributed_sampler=False,
    )  # fmt: skip
    trainer.fit(module, datamodule=instantiate(cfg.data))
    return module, trainer


def test_the_groups_hold_the_papers_options() -> None:
    assert {p.stem for p in (CONF_DIR / "optimizer").glob("*.yaml")} == set(OPTIMIZERS)
    assert {p.stem for p in (CONF_DIR / "scheduler").glob("*.yaml")} == set(SCHEDULERS)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_optimizer_composes_and_steps(compose_cfg, name: str) -> None:
    cfg = compose_cfg(f"optimizer={name}", "data.source.n=200", "augmentation.ten_crop=false")
    torch.manual_seed(0)
    before = [p.detach().clone() for p in _module(cfg).net.parameters()]
    torch.manual_seed(0)  # the trained module starts from the same weights
    module, trainer = _fit_steps(cfg, steps=2)
    optimizer = trainer.optimizers[0]
    cls, expected = OPTIMIZERS[name]
    assert type(optimizer) is cls
    group = optimizer.param_groups[0]
    assert group["weight_decay"] == pytest.approx(1e-4) and group["lr"] == pytest.approx(0.01)
    for key, value in expected.items():
        assert group[key] == value
    assert trainer.global_step == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, module.net.parameters(), strict=True))


@pytest.mark.parametrize("name", SCHEDULERS)
def test_each_scheduler_composes_and_steps_at_its_interval(compose_cfg, name: str) -> None:
    cfg = compose_cfg(f"scheduler={name}", "data.source.n=200", "augmentation.ten_crop=false")
    module, trainer = _fit_steps(cfg, steps=3)
    configs = trainer.lr_scheduler_configs
    if name == "constant":
        assert configs == [] and trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.001)
        return
    (config,) = configs
    assert config.interval == cfg.scheduler.interval
    assert config.monitor == cfg.scheduler.monitor
    if name == "one_cycle":
        # stepped every batch: after 3 of its total steps the rate has left its starting value
        sched = config.scheduler
        assert config.interval == "step" and sched.total_steps == trainer.estimated_stepping_batches
        assert sched.last_epoch == 3
        assert trainer.optimizers[0].param_groups[0]["lr"] != pytest.approx(0.01 / 25)


def test_unknown_option_lists_the_valid_ones(compose_cfg) -> None:
    with pytest.raises(MissingConfigException) as err:
        compose_cfg("optimizer=lion")
    message = str(err.value)
    assert "lion" in message and "sgd_nesterov" in message and "adadelta" in message


def test_scheduler_watching_an_unlogged_metric_fails_before_training(compose_cfg, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"scheduler.monitor='val/nope' is not a logged metric.*val/acc"):
        train(compose_cfg("scheduler.monitor=val/nope"))
    assert not (tmp_path / "checkpoints").exists()


def test_impossible_crop_size_is_a_clear_error(compose_cfg) -> None:
    with pytest.raises(Exception, match=r"crop_size=60 is impossible"):
        train(compose_cfg("augmentation.crop_size=60"))


def test_batch_that_does_not_divide_across_devices_fails_before_training(compose_cfg, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"data.batch_size=33 does not divide across 2 processes"):
        train(compose_cfg("trainer=ddp_cpu", "data.batch_size=33"))
    assert not (tmp_path / "checkpoints").exists()


def test_experiments_compose_to_the_papers_settings(compose_cfg) -> None:
    paper = compose_cfg("experiment=khaireddin2021", tiny=False)
    assert paper.hydra.runtime.choices.data == "fer2013"
    assert paper.optimizer.lr == 0.01 and paper.optimizer.nesterov and paper.optimizer.momentum == 0.9
    assert paper.scheduler.scheduler.factor == 0.75 and paper.scheduler.scheduler.patience == 5
    assert paper.trainer.max_epochs == 300 and paper.data.batch_size == 64 and paper.augmentation.ten_crop

    finetune = compose_cfg("experiment=khaireddin2021_finetune", tiny=False)
    assert finetune.hydra.runtime.choices.scheduler == "cosine"
    assert finetune.optimizer.lr == pytest.approx(1e-4) and finetune.trainer.max_epochs == 50
    assert list(finetune.data.train_splits) == ["Training", "PrivateTest"] and finetune.test_ckpt == "last"
    assert finetune.job_type == "finetune"

    quick = compose_cfg("experiment=quickstart", tiny=False)
    assert quick.hydra.runtime.choices.data == "synthetic" and quick.trainer.accelerator == "cpu"
