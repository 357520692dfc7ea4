"""Every optimizer and scheduler composes and steps as the paper sets it; the learning rate follows the
schedule; the presets and debug options compose; bad configurations fail before training."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
import yaml
from hydra.errors import MissingConfigException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch.optim import lr_scheduler

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
# The paper's scheduler figure (shared/PAPER.md): class, stepping interval, watched metric and settings.
SCHEDULERS = {
    "plateau": (lr_scheduler.ReduceLROnPlateau, "epoch", "val/acc", {"mode": "max", "factor": 0.75, "patience": 5}),
    "step": (lr_scheduler.StepLR, "epoch", None, {"step_size": 20, "gamma": 0.5}),
    "one_cycle": (lr_scheduler.OneCycleLR, "step", None, {}),
    "cosine": (lr_scheduler.CosineAnnealingLR, "epoch", None, {"T_max": 10, "eta_min": 1e-6}),
    "cosine_restarts": (lr_scheduler.CosineAnnealingWarmRestarts, "epoch", None, {"T_0": 10, "eta_min": 1e-6}),
    "constant": (None, None, None, {}),
}  # fmt: skip


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
    # _base.yaml holds what every option of the group shares
    assert {p.stem for p in (CONF_DIR / "optimizer").glob("*.yaml")} == {*OPTIMIZERS, "_base"}
    assert {p.stem for p in (CONF_DIR / "scheduler").glob("*.yaml")} == {*SCHEDULERS, "_base"}


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


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_each_scheduler_is_the_papers_and_steps_at_its_interval(compose_cfg, name: str) -> None:
    cfg = compose_cfg(f"scheduler={name}", "data.source.n=200", "augmentation.ten_crop=false")
    module, trainer = _fit_steps(cfg, steps=3)
    cls, interval, monitor, settings = SCHEDULERS[name]
    optimizer = trainer.optimizers[0]
    # The paper pairs the starting rate with the schedule: 0.001 constant, 0.01 for the others.
    assert optimizer.defaults["lr"] == pytest.approx(0.001 if name == "constant" else 0.01)
    configs = trainer.lr_scheduler_configs
    if cls is None:
        assert configs == [] and optimizer.param_groups[0]["lr"] == pytest.approx(0.001)
        return
    (config,) = configs
    sched = config.scheduler
    assert type(sched) is cls and (config.interval, config.monitor) == (interval, monitor)
    for key, value in settings.items():
        assert getattr(sched, key) == pytest.approx(value), key
    if name == "one_cycle":
        # stepped every batch: after 3 of its total steps the rate has left its starting value
        assert optimizer.param_groups[0]["max_lr"] == pytest.approx(0.01)
        assert config.interval == "step" and sched.total_steps == trainer.estimated_stepping_batches
        assert sched.last_epoch == 3
        assert optimizer.param_groups[0]["lr"] != pytest.approx(0.01 / 25)


@pytest.mark.parametrize(
    ("overrides", "lr"),
    [
        (["optimizer=sgd", "scheduler=constant"], 0.001),
        (["optimizer=adam", "scheduler=constant"], 0.001),
        (["optimizer=sgd", "scheduler=plateau"], 0.01),
        (["optimizer=adam", "scheduler=plateau"], 0.01),
        (["scheduler=constant", "optimizer.lr=0.05"], 0.05),
        (["optimizer.lr=0.05", "scheduler=constant"], 0.05),
        (["experiment=khaireddin2021_protocol", "optimizer=asgd", "scheduler=constant"], 0.001),
        (["experiment=khaireddin2021_finetune", "scheduler=constant"], 1e-4),
    ],
)
def test_the_learning_rate_follows_the_schedule_and_the_command_line_wins(
    compose_cfg, overrides: list[str], lr: float
) -> None:
    assert compose_cfg(*overrides, tiny=False).optimizer.lr == pytest.approx(lr)


def _leaves(node: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_the_paper_experiment_states_every_number_and_changes_none(compose_cfg) -> None:
    """khaireddin2021.yaml's body is the paper's table; it restates what its groups hold, so it can be
    read as the recipe and can never disagree with the groups it selects."""
    body = yaml.safe_load((CONF_DIR / "experiment" / "khaireddin2021.yaml").read_text())
    body.pop("defaults")
    paper = compose_cfg("experiment=khaireddin2021", tiny=False)
    groups = compose_cfg("experiment=khaireddin2021_protocol", tiny=False)
    leaves = _leaves(body)
    assert len(leaves) >= 25, sorted(leaves)
    for key, value in leaves.items():
        assert OmegaConf.select(paper, key) == value == OmegaConf.select(groups, key), key

    def resolved(cfg) -> dict:
        return {
            k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
            for k, v in cfg.items()
            if k != "hydra"
        }

    assert resolved(paper) == resolved(groups)


def test_an_experiment_that_pins_another_optimizer_fails_before_training(compose_cfg, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"optimizer: torch.optim.Adam takes no \['momentum', 'nesterov'\]"):
        train(compose_cfg("experiment=khaireddin2021", "data=synthetic", "optimizer=adam"))
    with pytest.raises(
        ValueError, match=r"scheduler.scheduler sets \['factor', 'mode', 'patience'\] but no _target_"
    ):
        train(compose_cfg("experiment=khaireddin2021", "data=synthetic", "scheduler=constant"))
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize(("option", "epochs"), [("limit", 2), ("overfit", 1), ("profiler", 1)])
def test_each_debug_option_runs(compose_cfg, option: str, epochs: int) -> None:
    cfg = compose_cfg(f"debug=[tiny,{option}]", f"trainer.max_epochs={epochs}", "augmentation.ten_crop=false")
    results = train(cfg)
    assert results["status"] == "completed" and results["epochs"] == epochs
    if option == "limit":
        assert results["test"]["n_images"] == 2 * cfg.data.batch_size


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
