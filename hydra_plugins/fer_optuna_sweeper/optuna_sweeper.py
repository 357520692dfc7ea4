"""The Optuna sweeper as Hydra sees it: its config in, the launcher set up, the sweep handed to
fer_lightning.hpo.sweep.OptunaSweep.

Hydra imports this module at every start of every app (plugin discovery): fer_lightning.hpo, and Optuna
with it, are imported only when this sweeper is instantiated for a sweep.
"""

from __future__ import annotations

from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class OptunaSweeper(Sweeper):
    """See the config fields in config.py (`OptunaSweeperConf`)."""

    def __init__(self, **fields: Any) -> None:
        from fer_lightning.hpo.sweep import settings_from

        self.settings = settings_from(fields)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> dict[str, Any] | None:
        from fer_lightning.hpo.sweep import OptunaSweep

        assert self.config is not None, "Hydra calls setup() before sweep()"
        sweep = OptunaSweep(self.settings, self.config, self.launcher.launch, self.validate_batch_is_legal)
        return sweep.run(arguments)
