"""Run names and group choices, shared by results.json, W&B and the sweep report."""

from __future__ import annotations

from collections.abc import Mapping

from omegaconf import DictConfig

# The config groups whose choice defines a run (in this order in run names).
NAMED_GROUPS: tuple[str, ...] = ("model", "optimizer", "scheduler")
REPORTED_GROUPS: tuple[str, ...] = ("model", "optimizer", "scheduler", "augmentation", "data", "trainer")


def job_choices(cfg: DictConfig) -> dict[str, str]:
    """The option chosen in each config group: from the running Hydra job, else from a composed config
    that carries its `hydra` node (compose API with return_hydra_config=True)."""
    from hydra.core.hydra_config import HydraConfig

    choices: Mapping | None = None
    if HydraConfig.initialized():
        choices = HydraConfig.get().runtime.choices
    elif "hydra" in cfg and cfg.hydra.get("runtime") is not None:
        choices = cfg.hydra.runtime.choices
    choices = dict(choices or {})
    return {g: str(choices[g]) for g in REPORTED_GROUPS if choices.get(g) is not None}


def run_name(choices: Mapping[str, str], seed: int | None, synthetic: bool) -> str:
    """`vggnet-sgd_nesterov-plateau-s0`, with `-synthetic` when the data is generated."""
    parts = [choices[g] for g in NAMED_GROUPS if g in choices]
    if seed is not None:
        parts.append(f"s{seed}")
    if synthetic:
        parts.append("synthetic")
    return "-".join(parts) or "run"
