"""Shared fixtures: compose the real Hydra config with CPU-sized overrides, and keep W&B offline and
inside the test's temp dir."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

import fer_lightning  # noqa: F401  registers the `fer.*` resolvers that conf/ interpolates

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"


@pytest.fixture(autouse=True)
def _isolated_wandb(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    wandb_home = tmp_path_factory.mktemp("wandb_home")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR"):
        monkeypatch.setenv(var, str(wandb_home))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_is_delivered() -> None:
    # A suite started in the background of a non-interactive shell inherits SIGINT ignored, and so do the
    # app processes it starts: the Ctrl-C tests would then see no interrupt at all. Restore Python's default.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True, scope="session")
def _two_threads() -> None:
    torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """compose_cfg("optimizer=adam", ...) -> the composed training config, CPU-sized by `debug=tiny`
    unless tiny=False, output in tmp_path, with the Hydra node set as a running job would have it (group
    choices, overrides)."""

    def _compose(*overrides: str, tiny: bool = True, output_dir: Path | None = None) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(
                "train",
                overrides=[*(["debug=tiny"] if tiny else []), *overrides],
                return_hydra_config=True,
            )
        out = output_dir or tmp_path
        with open_dict(cfg):
            cfg.paths.output_dir = str(out)
            cfg.hydra.runtime.output_dir = str(out)
        HydraConfig.instance().set_config(cfg)
        return cfg

    yield _compose
    GlobalHydra.instance().clear()
    HydraConfig.instance().cfg = None
