"""W&B Sweeps: every sweeps/wandb/*.yaml command, filled in as `wandb agent` fills it, is a valid
training command, and one runs a real (CPU-sized) training job whose W&B run logs the sweep's metric."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

from tests.conftest import CONF_DIR
from tests.helpers import ROOT
from tests.tracking.wandb_records import offline_runs

SWEEPS = sorted((ROOT / "sweeps" / "wandb").glob("*.yaml"))


def _pick(spec: dict[str, Any]) -> Any:
    """One value per parameter, as the sweep controller could send it."""
    if "values" in spec:
        return spec["values"][-1]
    low, high = spec["min"], spec["max"]
    if spec["distribution"].startswith("log_uniform"):
        return math.sqrt(low * high)
    if spec["distribution"].startswith("int"):
        return int(high)
    return (low + high) / 2


def agent_command(sweep: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """The command `wandb agent` runs for `params` (wandb 0.31, wandb_agent.Agent._command_run): macros
    replaced by the agent's lists, parameters as key=value."""
    macros = create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})
    macros.update(interpreter=["python"], env=["/usr/bin/env"], program=[sweep["program"]])
    command = []
    for chunk in create_sweep_command(list(sweep["command"])):
        if chunk.startswith("${") and chunk.endswith("}"):
            command += macros.get(chunk[2:-1]) or []
        else:
            command.append(chunk)
    return command


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_sweep_commands_are_hydra_overrides_that_compose(path: Path) -> None:
    sweep = yaml.safe_load(path.read_text())
    assert sweep["metric"]["name"] == "val/acc_best" and (ROOT / sweep["program"]).is_file()
    params = {k: _pick(v) for k, v in sweep["parameters"].items()}
    command = agent_command(sweep, params)
    assert command[:4] == ["/usr/bin/env", "python", "-m", "fer_lightning"]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=command[4:], return_hydra_config=True)
    GlobalHydra.instance().clear()
    for key, value in params.items():
        landed = OmegaConf.select(cfg, key) if "." in key else cfg.hydra.runtime.choices[key]
        assert landed == value, f"{path.name}: {key}={value} did not reach the config ({landed})"
    assert cfg.hydra.runtime.choices["logger"] == "wandb"


@pytest.mark.slow
def test_an_agent_filled_command_trains_and_logs_the_sweep_metric(tmp_path: Path) -> None:
    """The broad sweep's command as the agent runs it (its environment included), plus CPU-sized
    overrides appended: the W&B run is the agent's run id, with the sampled values in its config."""
    sweep = yaml.safe_load((ROOT / "sweeps" / "wandb" / "broad.yaml").read_text())
    params = {k: _pick(v) for k, v in sweep["parameters"].items()}
    params.update({"data.batch_size": 32, "optimizer": "adam", "scheduler": "cosine"})
    # debug=tiny's sizes; its logger=none gives way to the command's logger=wandb, which is what is tested.
    cpu = [
        "debug=tiny",
        "data=synthetic",
        "data.source.n=400",
        "augmentation.ten_crop=false",
        "trainer.precision=32-true",
    ]
    command = agent_command(sweep, params) + cpu
    run_id = uuid.uuid4().hex[:8]
    params_file = tmp_path / "sweep-params.yaml"
    params_file.write_text(yaml.safe_dump({k: {"value": v} for k, v in params.items()}))
    env = dict(os.environ)
    env.update(
        # `python` on PATH is the venv's, as in a shell where the venv is active.
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}", OMP_NUM_THREADS="1",
        WANDB_MODE="offline", WANDB_SILENT="true", WANDB_RUN_ID=run_id, WANDB_SWEEP_PARAM_PATH=str(params_file),
        **{v: str(tmp_path / "wandb_home") for v in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR")},
    )  # fmt: skip
    env.pop("WANDB_API_KEY", None)
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]

    (results_file,) = (tmp_path / "logs").rglob("results.json")
    results = json.loads(results_file.read_text())
    assert results["status"] == "completed"
    assert results["choices"]["optimizer"] == "adam" and results["choices"]["scheduler"] == "cosine"
    (run,) = offline_runs(results_file.parent)
    assert run.run.run_id == run_id, "the agent's run id is the W&B run"
    # The resolved config reached the run; its `optimizer` and `scheduler` keys hold the sweep's choices,
    # which W&B locks against the later update with the resolved group configs.
    assert math.isclose(run.config["augmentation"]["rotate_deg"], params["augmentation.rotate_deg"])
    assert math.isclose(run.config["model"]["net"]["dropout"], params["model.net.dropout"])
    assert run.config["optimizer"] == "adam" and math.isclose(
        run.config["optimizer.lr"], params["optimizer.lr"]
    )
    assert run.values(sweep["metric"]["name"]), "the sweep's metric is logged"
