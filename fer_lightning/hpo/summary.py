"""The study summary at the end of a sweep: best trial, parameter importances and Optuna's plots, as
`study.json` + PNG files in a folder, and as one W&B run in the study's group."""

from __future__ import annotations

import json
import logging
import warnings
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.importance import get_param_importances
from optuna.trial import FrozenTrial, TrialState

from fer_lightning.hpo.study import ABANDONED, ENQUEUED, ERROR, JOB_DIR, PRUNED_AT, is_counted, progress

log = logging.getLogger(__name__)


def summarize(study: optuna.Study, out_dir: Path, target: int | None = None) -> dict[str, Any]:
    """Write `study.json` and the figures into `out_dir`; return the summary. A figure or the
    importances that cannot be computed (too few completed trials) are listed under `not_made` with why."""
    out_dir.mkdir(parents=True, exist_ok=True)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    not_made: dict[str, str] = {}
    best = _trial_row(study.best_trial) if complete else None
    if best is None:
        not_made["best_trial"] = "no completed trial"

    importances = None
    if len(complete) < 2:
        not_made["importances"] = f"{len(complete)} completed trial(s); importances need at least 2"
    else:
        try:
            importances = {k: float(v) for k, v in get_param_importances(study).items()}
        except (RuntimeError, ValueError) as err:  # e.g. every completed trial has the same parameters
            not_made["importances"] = f"{type(err).__name__}: {err}"

    figures = _figures(
        study, out_dir, has_complete=bool(complete), has_importances=bool(importances), not_made=not_made
    )
    summary = {
        "study_name": study.study_name,
        "direction": study.direction.name.lower(),
        "target_trials": target,
        "progress": asdict(progress(study)),
        "states": dict(Counter(t.state.name for t in trials)),
        "best_trial": best,
        "importances": importances,
        "figures": {name: str(path) for name, path in figures.items()},
        "not_made": not_made,
        "trials": [_trial_row(t) for t in trials],
    }
    (out_dir / "study.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    for what, why in not_made.items():
        log.info("study summary: no %s (%s)", what, why)
    return summary


def _trial_row(trial: FrozenTrial) -> dict[str, Any]:
    attrs = trial.user_attrs
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    return {
        "number": trial.number,
        "state": trial.state.name,
        "counted": is_counted(trial),
        "value": trial.value,
        "params": trial.params,
        "intermediate_values": dict(sorted(trial.intermediate_values.items())),
        "pruned_at_epoch": attrs.get(PRUNED_AT),
        "error": attrs.get(ERROR),
        "abandoned": attrs.get(ABANDONED),
        "enqueued": attrs.get(ENQUEUED),
        "job_dir": attrs.get(JOB_DIR),
        "duration_s": duration,
    }


def _figures(
    study: optuna.Study, out_dir: Path, has_complete: bool, has_importances: bool, not_made: dict[str, str]
) -> dict[str, Path]:
    # Optuna's plots go through pyplot: imported only when a summary draws them, not by every trial job.
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm

    has_steps = any(t.intermediate_values for t in study.get_trials(deepcopy=False))
    makers = {
        "optimization_history": (ovm.plot_optimization_history, has_complete, "no completed trial"),
        "intermediate_values": (ovm.plot_intermediate_values, has_steps, "no trial reported an epoch"),
        "param_importances": (ovm.plot_param_importances, has_importances, "no importances"),
    }
    paths = {}
    for name, (plot, possible, why_not) in makers.items():
        if not possible:
            not_made[name] = why_not
            continue
        # Optuna marks its matplotlib backend experimental; the warning says nothing about our data.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            ax = plot(study)
        path = out_dir / f"{name}.png"
        ax.figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(ax.figure)
        paths[name] = path
    return paths


def log_to_wandb(
    summary: dict[str, Any], save_dir: Path, project: str, entity: str | None, mode: str | None
) -> str:
    """One W&B run (job_type `hpo`) in the study's group: the figures, a table of trials, the best trial
    in its summary. Returns the run's folder."""
    import wandb  # only with logger=wandb; its import takes seconds

    name = summary["study_name"]
    init: dict[str, Any] = {"mode": mode} if mode is not None else {}
    run = wandb.init(
        project=project, entity=entity, group=name, job_type="hpo", name=f"{name}-study", dir=str(save_dir),
        config={"study_name": name, "direction": summary["direction"], "target_trials": summary["target_trials"]},
        reinit="create_new", **init,
    )  # fmt: skip
    try:
        columns = ["number", "state", "value", "pruned_at_epoch", "params", "error", "job_dir"]
        table = wandb.Table(columns=columns)
        for row in summary["trials"]:
            table.add_data(*[json.dumps(row[c]) if c == "params" else row[c] for c in columns])
        media: dict[str, Any] = {f"optuna/{n}": wandb.Image(p) for n, p in summary["figures"].items()}
        run.log({**media, "optuna/trials": table})
        best = summary["best_trial"]
        if best is not None:
            run.summary.update(
                {"best_value": best["value"], "best_trial": best["number"], "best_params": best["params"]}
            )
        if summary["importances"]:
            run.summary.update({"importances": summary["importances"]})
        run.summary.update({"trials_" + k.lower(): v for k, v in summary["states"].items()})
    finally:
        run.finish()
    return str(run.settings.sync_dir)
