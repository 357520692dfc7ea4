"""Run names and the config groups that define a run, shared by results.json, W&B and the sweep report."""

from __future__ import annotations

from collections.abc import Mapping

# The config groups whose choice defines a run (in this order in run names).
NAMED_GROUPS: tuple[str, ...] = ("model", "optimizer", "scheduler")
REPORTED_GROUPS: tuple[str, ...] = ("model", "optimizer", "scheduler", "augmentation", "data", "trainer")


def run_name(choices: Mapping[str, str], seed: int | None, synthetic: bool) -> str:
    """`vggnet-sgd_nesterov-plateau-s0`, with `-synthetic` when the data is generated."""
    parts = [choices[g] for g in NAMED_GROUPS if g in choices]
    if seed is not None:
        parts.append(f"s{seed}")
    if synthetic:
        parts.append("synthetic")
    return "-".join(parts) or "run"
