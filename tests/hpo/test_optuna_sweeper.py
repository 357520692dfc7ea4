"""The Optuna sweeper: search spaces, the study protocol between workers, presets, and real studies of
CPU-sized training runs (pruning, failures, Ctrl-C and resume, two workers on one SQLite file)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from fer_lightning.hpo.space import SearchSpaceError, enqueued_params, format_value, parse_search_space
from fer_lightning.hpo.study import (
    ABANDONED,
    ENQUEUED,
    ERROR,
    HEARTBEAT,
    JOB_DIR,
    PRUNED_AT,
    Progress,
    is_counted,
    open_study,
    progress,
)
from fer_lightning.hpo.trials import (
    claim_trials,
    deferred_interrupts,
    fail_stale_trials,
    record_outcome,
    settle_claims,
)
from tests.conftest import CONF_DIR
from tests.helpers import ROOT, run_app
from tests.tracking.wandb_records import offline_runs

optuna.logging.set_verbosity(optuna.logging.WARNING)

# -- search spaces -------------------------------------------------------------------------------------


def test_space_from_preset_text_and_command_line() -> None:
    space = parse_search_space(
        {"optimizer.lr": "tag(log, interval(1e-4, 1e-1))", "data.batch_size": "choice(32, 64)", "optimizer": "sgd,adam"},
        ["optimizer=adam,amsgrad", "+callbacks.crash.epoch=range(0,3)", "model.net.width=int(interval(1, 4))",
         "trainer.max_epochs=5"],
    )  # fmt: skip
    d = space.distributions
    assert d["optimizer.lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert d["data.batch_size"] == CategoricalDistribution([32, 64])
    assert d["optimizer"] == CategoricalDistribution(["adam", "amsgrad"]), "the command line wins over params"
    assert d["callbacks.crash.epoch"] == IntDistribution(0, 2)
    assert d["model.net.width"] == IntDistribution(1, 4)
    assert space.fixed == ("trainer.max_epochs=5",)

    params = {"optimizer.lr": 0.003, "data.batch_size": 64, "optimizer": "amsgrad", "callbacks.crash.epoch": 1,
              "model.net.width": 2}  # fmt: skip
    overrides = space.overrides(params)
    assert "+callbacks.crash.epoch=1" in overrides, "the + prefix of an added key is kept"
    parsed = {o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(overrides)}
    assert parsed == {**params, "trainer.max_epochs": 5}

    assert space.digest() == parse_search_space(None, _same_space_reordered()).digest()
    narrower = parse_search_space({"optimizer.lr": "tag(log, interval(1e-4, 1e-2))"}, [])
    assert (
        narrower.digest()
        != parse_search_space({"optimizer.lr": "tag(log, interval(1e-4, 1e-1))"}, []).digest()
    )


def _same_space_reordered() -> list[str]:
    """The space above written in another order: the digest must not depend on it."""
    text = {
        "optimizer.lr": "tag(log,interval(0.0001,0.1))", "data.batch_size": "choice(32,64)",
        "optimizer": "adam,amsgrad", "+callbacks.crash.epoch": "range(0,3)", "model.net.width": "int(interval(1,4))",
    }  # fmt: skip
    return ["trainer.max_epochs=5", *(f"{k}={v}" for k, v in reversed(text.items()))]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("data.train_splits=choice([Training],[Training,PrivateTest])", "data.train_splits: choice values"),
        ("optimizer.lr=tag(lgo, interval(0.1, 1))", "optimizer.lr: unknown tag"),
        (
            "model.net.dropout=tag(log, range(0.1, 0.5, 0.1))",
            "model.net.dropout: a float range cannot be log",
        ),
        ("optimizer=glob(*)", "optimizer: "),
    ],
)
def test_bad_parameters_name_the_key(line: str, message: str) -> None:
    with pytest.raises(SearchSpaceError, match=message.replace("[", r"\[")):
        parse_search_space(None, [line])


def test_grid_needs_discrete_parameters_and_enqueued_keys_must_be_parameters() -> None:
    space = parse_search_space(None, ["optimizer=sgd,adam", "data.batch_size=range(32,97,32)"])
    assert space.grid() == {"optimizer": ["sgd", "adam"], "data.batch_size": [32, 64, 96]}
    assert space.grid_size() == 6
    with pytest.raises(SearchSpaceError, match="grid search: parameter 'optimizer.lr'"):
        parse_search_space(None, ["optimizer.lr=interval(0.1,1)"]).grid()
    with pytest.raises(SearchSpaceError, match=r"enqueue_trials\[1\]: \['optimizer.lr'\]"):
        enqueued_params([{"optimizer": "sgd"}, {"optimizer.lr": 0.1}], space)


@pytest.mark.parametrize(
    "value",
    ["sgd_nesterov", "val/acc", "sqlite:////tmp/a b/optuna.db", "true", "1e-4", "16-mixed", "it's", 0.001, 1e-07,
     3, True, None, ["val/loss"], {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 2, "x": [1, "y z"]}],
)  # fmt: skip
def test_values_written_as_overrides_read_back_the_same(value) -> None:
    (override,) = OverridesParser.create().parse_overrides([f"key={format_value(value)}"])
    assert override.value() == value


# -- the study between workers -------------------------------------------------------------------------


_SPACE = ["optimizer.lr=tag(log,interval(1e-3,1e-1))", "trainer.max_epochs=2"]


def _space():
    return parse_search_space(None, _SPACE)


def test_resuming_keeps_the_study_and_refuses_another_space(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path}/optuna.db"
    first = open_study(url, "s", "maximize", _space(), enqueue=[{"optimizer.lr": 0.01}])
    again = open_study(url, "s", "maximize", _space(), enqueue=[{"optimizer.lr": 0.01}])
    assert again.study_name == first.study_name
    assert len(again.get_trials(states=(TrialState.WAITING,))) == 1, "enqueued once, at creation"
    popped = again.ask(_space().distributions)
    assert popped.params == {"optimizer.lr": 0.01} and popped.user_attrs[ENQUEUED] == "preset"

    other = parse_search_space(None, ["optimizer.lr=tag(log,interval(1e-4,1e-1))", "trainer.max_epochs=2"])
    with pytest.raises(
        ValueError, match=r"param optimizer.lr: study has .*'low': 0.001.*this command has .*'low': 0.0001"
    ):
        open_study(url, "s", "maximize", other)
    with caplog.at_level(logging.WARNING, logger="fer_lightning.hpo.study"):
        resumed = open_study(
            url, "s", "maximize", parse_search_space(None, [_SPACE[0], "trainer.max_epochs=3"])
        )
    assert resumed.study_name == "s"
    assert "override 'trainer.max_epochs=2' is only in the study's command" in caplog.text
    with pytest.raises(ValueError, match="has direction maximize"):
        open_study(url, "s", "minimize", _space())


def test_concurrent_claims_never_exceed_the_target(tmp_path: Path) -> None:
    """Workers A and B both saw an empty study of target 3 and asked 2 trials each: the lowest three
    running numbers keep their slots, B's last ask gives itself up and does not count."""
    url = f"sqlite:///{tmp_path}/optuna.db"
    space = _space()
    a = open_study(url, "s", "maximize", space)
    b = open_study(url, "s", "maximize", space)
    asked_a = [a.ask(space.distributions) for _ in range(2)]
    asked_b = [b.ask(space.distributions) for _ in range(2)]
    assert [t.number for t in settle_claims(a, asked_a, target=3)] == [0, 1]
    assert [t.number for t in settle_claims(b, asked_b, target=3)] == [2]
    surplus = b.get_trials()[3]
    assert surplus.state == TrialState.FAIL and not is_counted(surplus)
    assert surplus.user_attrs[ABANDONED].startswith("surplus")
    assert claim_trials(b, 3, 2, space.distributions) == [], "three trials run: nothing left to claim"

    for trial in [*asked_a, asked_b[0]]:
        a.tell(trial.number, 0.5)
    assert (progress(a).counted, progress(a).running, progress(a).abandoned) == (3, 0, 1)
    assert claim_trials(a, 3, 2, space.distributions) == []
    assert [t.number for t in claim_trials(a, 4, 2, space.distributions)] == [4], "a raised target goes on"


def test_a_dead_workers_trial_is_failed_and_its_point_queued_again(tmp_path: Path) -> None:
    study = open_study(f"sqlite:///{tmp_path}/optuna.db", "s", "maximize", _space())
    dead, alive = claim_trials(study, 2, 2, _space().distributions)
    dead.set_user_attr(HEARTBEAT, time.time() - 1000)
    assert fail_stale_trials(study, grace_period=600) == [dead.number]
    trials = study.get_trials()
    assert trials[dead.number].state == TrialState.FAIL and not is_counted(trials[dead.number])
    assert trials[alive.number].state == TrialState.RUNNING
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 1
    retry = study.ask(_space().distributions)
    assert retry.params == dead.params and retry.user_attrs[ENQUEUED] == f"retry of stale trial {dead.number}"
    assert fail_stale_trials(study, grace_period=600) == []


def test_a_grid_study_evaluates_each_point_once(tmp_path: Path) -> None:
    space = parse_search_space(None, ["optimizer=sgd,adam", "data.batch_size=32,64"])
    sampler = optuna.samplers.GridSampler(space.grid(), seed=0)
    study = open_study(f"sqlite:///{tmp_path}/optuna.db", "grid", "maximize", space, sampler=sampler)
    while trials := claim_trials(study, space.grid_size(), 1, space.distributions):
        # Telling the last point makes GridSampler call study.stop(), which only optimize() allows.
        record_outcome(study, trials[0], value=0.5, error=None, job_dir=None)
    points = [tuple(t.params.values()) for t in study.get_trials()]
    assert sorted(points) == sorted((o, b) for o in ("sgd", "adam") for b in (32, 64))
    assert all(t.state == TrialState.COMPLETE for t in study.get_trials())


class _CtrlCWhileAsking(optuna.samplers.RandomSampler):
    """Presses Ctrl-C in the middle of study.ask()."""

    def before_trial(self, study: optuna.Study, trial) -> None:
        os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_while_claiming_leaves_no_trial_running(tmp_path: Path) -> None:
    space = _space()
    study = open_study(f"sqlite:///{tmp_path}/optuna.db", "s", "maximize", space, sampler=_CtrlCWhileAsking())
    with pytest.raises(KeyboardInterrupt):
        claim_trials(study, 4, 2, space.distributions)
    trials = study.get_trials()
    assert [t.state for t in trials[:2]] == [TrialState.FAIL] * 2
    assert all(t.user_attrs[ABANDONED] == "interrupted (KeyboardInterrupt)" for t in trials[:2])
    assert progress(study) == Progress(counted=0, running=0, abandoned=2, waiting=2), (
        "both points queued again"
    )


def test_ctrl_c_during_a_storage_write_arrives_after_it() -> None:
    written = []
    with pytest.raises(KeyboardInterrupt), deferred_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        written.append("both halves")
    assert written == ["both halves"]


# -- presets -------------------------------------------------------------------------------------------


def _compose(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def _preset(name: str) -> str:
    # `hparams_search: null` in train.yaml's defaults makes the group selectable without `+`.
    listed = any("hparams_search" in str(d) for d in OmegaConf.load(CONF_DIR / "train.yaml").defaults)
    return f"{'' if listed else '+'}hparams_search={name}"


@pytest.mark.parametrize("preset", ["paper_neighbourhood", "broad"])
def test_presets_sample_points_that_compose(preset: str) -> None:
    cfg = _compose(_preset(preset))
    assert cfg.hydra.runtime.choices["hydra/sweeper"] == "optuna"
    sweeper = OmegaConf.to_container(cfg.hydra.sweeper, resolve=True)
    space = parse_search_space(sweeper["params"])
    assert len(space.distributions) >= 6
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize")
    for _ in range(3):
        params = study.ask(space.distributions).params
        trial_cfg = _compose(_preset(preset), *space.overrides(params))
        for key, value in params.items():
            landed = (
                trial_cfg.hydra.runtime.choices.get(key)
                if "." not in key
                else OmegaConf.select(trial_cfg, key)
            )
            assert landed == value, f"{preset}: {key}={value} did not reach the config ({landed})"
    GlobalHydra.instance().clear()


def test_the_paper_neighbourhood_starts_from_the_papers_configuration() -> None:
    cfg = _compose(_preset("paper_neighbourhood"), "experiment=khaireddin2021")
    (paper,) = cfg.hydra.sweeper.enqueue_trials
    for key, value in paper.items():
        assert OmegaConf.select(cfg, key) == value, (
            f"{key}: preset {value}, config {OmegaConf.select(cfg, key)}"
        )
    space = parse_search_space(OmegaConf.to_container(cfg.hydra.sweeper.params))
    for key, value in paper.items():
        dist = space.distributions[key]
        inside = (
            value in dist.choices
            if isinstance(dist, CategoricalDistribution)
            else dist.low <= value <= dist.high
        )
        assert inside, f"the paper's {key}={value} lies outside the searched {dist}"
    GlobalHydra.instance().clear()


# -- real studies --------------------------------------------------------------------------------------

# Trials of 2 epochs on 400 synthetic faces with the centre crop only.
TRIAL = ["debug=tiny", "data.source.n=400", "augmentation.ten_crop=false"]


def _study_args(tmp_path: Path, name: str, n_trials: int, *extra: str) -> list[str]:
    return ["-m", "hydra/sweeper=optuna", f"hydra.sweeper.study_name={name}", f"hydra.sweeper.n_trials={n_trials}",
            f"hydra.sweeper.storage=sqlite:///{tmp_path}/optuna.db", *TRIAL, *extra]  # fmt: skip


def _load(tmp_path: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/optuna.db")


def _popen(args: list[str], tmp_path: Path) -> subprocess.Popen:
    """`python -m fer_lightning args` in the background, with run_app's environment."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}", WANDB_MODE="offline", WANDB_SILENT="true",
        OMP_NUM_THREADS="1",
        **{v: str(tmp_path / "wandb_home") for v in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR")},
    )  # fmt: skip
    env.pop("WANDB_API_KEY", None)
    with (tmp_path / "killed_run.log").open("w") as log:
        return subprocess.Popen([sys.executable, "-m", "fer_lightning", *args], cwd=tmp_path, env=env, stdout=log,
                                stderr=subprocess.STDOUT)  # fmt: skip


@pytest.mark.slow
def test_study_prunes_records_failures_and_resumes_after_ctrl_c(tmp_path: Path) -> None:
    """Six trials: two good ones, a planted lr=1e-7 that the median pruner stops after epoch 0, a crash
    and a NaN loss (both failed, counted), and one sampled. Ctrl-C after three trials, then the same
    command again: it runs exactly the missing three."""
    planted = (
        "hydra.sweeper.enqueue_trials=["
        "{optimizer.lr:0.05,callbacks.crash.epoch:99},{optimizer.lr:0.02,callbacks.crash.epoch:99},"
        "{optimizer.lr:1e-07,callbacks.crash.epoch:99},{optimizer.lr:0.02,callbacks.crash.epoch:0},"
        "{optimizer.lr:1000000.0,callbacks.crash.epoch:99}]"
    )
    args = _study_args(
        tmp_path, "resume", 6, "trainer.max_epochs=2", planted, "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=0", "hydra.sweeper.pruner.n_startup_trials=2",
        "hydra.sweeper.pruner.n_warmup_steps=0", "optimizer.lr=tag(log,interval(1e-3,1e-1))",
        "+callbacks.crash._target_=tests.helpers.RaiseAtEpochEnd", "+callbacks.crash.epoch=choice(99,0)",
    )  # fmt: skip

    first = _popen([*args, f"hydra.sweep.dir={tmp_path / 'first'}"], tmp_path)
    deadline = time.monotonic() + 400
    while first.poll() is None and time.monotonic() < deadline:
        try:
            if progress(_load(tmp_path, "resume")).counted >= 3:
                break
        except Exception:  # no database or no study yet: the sweep is starting
            pass
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=120) != 0, "a Ctrl-C'd sweep exits with an error"
    log = (tmp_path / "killed_run.log").read_text()
    study = _load(tmp_path, "resume")
    after_kill = progress(study)
    assert after_kill.counted == 3 and after_kill.running == 0, f"{after_kill}\n{log[-3000:]}"
    done_first = {t.number for t in study.get_trials() if is_counted(t)}

    second = run_app([*args, f"hydra.sweep.dir={tmp_path / 'second'}"], tmp_path)
    assert second.returncode == 0, (second.stdout + second.stderr)[-6000:]
    trials = _load(tmp_path, "resume").get_trials()
    counted = [t for t in trials if is_counted(t)]
    assert len(counted) == 6
    rerun = [t for t in counted if t.number not in done_first]
    assert len(rerun) == 3 and all(str(tmp_path / "second") in t.user_attrs[JOB_DIR] for t in rerun)
    assert len({t.user_attrs[JOB_DIR] for t in counted}) == 6, "no trial ran twice"
    for t in trials:
        if not is_counted(t):  # the trial in flight at Ctrl-C: given up, its point evaluated by the rerun
            assert t.user_attrs[ABANDONED].startswith("interrupted")
            assert any(c.params == t.params and c.number > t.number for c in counted)

    by_point = {(t.params["optimizer.lr"], t.params["callbacks.crash.epoch"]): t for t in counted}
    pruned = by_point[1e-07, 99]
    assert pruned.state == TrialState.PRUNED and pruned.user_attrs[PRUNED_AT] == 0
    assert list(pruned.intermediate_values) == [0], "stopped before its last epoch"
    pruned_results = json.loads((Path(pruned.user_attrs[JOB_DIR]) / "results.json").read_text())
    assert "pruned after epoch 0" in pruned_results["error"]
    nan = by_point[1e6, 99]
    assert nan.state == TrialState.FAIL and "val/loss = nan" in nan.user_attrs[ERROR]
    crash = by_point[0.02, 0]
    assert crash.state == TrialState.FAIL and "planted crash at the end of epoch 0" in crash.user_attrs[ERROR]
    for good in (by_point[0.05, 99], by_point[0.02, 99]):
        assert good.state == TrialState.COMPLETE and list(good.intermediate_values) == [0, 1]
        results = json.loads((Path(good.user_attrs[JOB_DIR]) / "results.json").read_text())
        assert good.value == results["val"]["acc"], "the study holds the evaluated checkpoint's val/acc"

    summary = json.loads((tmp_path / "second" / "optuna" / "study.json").read_text())
    assert summary["progress"]["counted"] == 6
    best = max((t for t in counted if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert summary["best_trial"]["value"] == best.value
    assert (tmp_path / "second" / "optuna" / "optimization_history.png").stat().st_size > 0


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study_without_duplicates(tmp_path: Path) -> None:
    """The same command started twice on one storage: 4 trials in all, each run once, each a W&B run
    in the study's group; each worker ends with the study summary as a W&B run of that group."""
    args = _study_args(tmp_path, "pair", 4, "trainer.max_epochs=1", "logger=wandb",
                       "optimizer.lr=tag(log,interval(1e-3,1e-1))", "optimizer=sgd_nesterov,adam")  # fmt: skip
    with ThreadPoolExecutor(2) as pool:
        runs = list(
            pool.map(lambda w: run_app([*args, f"hydra.sweep.dir={tmp_path / w}"], tmp_path), ["a", "b"])
        )
    for proc in runs:
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]

    trials = _load(tmp_path, "pair").get_trials()
    counted = [t for t in trials if is_counted(t)]
    assert len(counted) == 4 and all(t.state == TrialState.COMPLETE for t in counted)
    job_dirs = [Path(t.user_attrs[JOB_DIR]) for t in counted]
    assert len(set(job_dirs)) == 4
    ran = {w: sorted(p.name for p in (tmp_path / w).glob("*/results.json")) for w in ("a", "b")}
    assert sum(len(v) for v in ran.values()) == 4, f"every job is a counted trial: {ran}"
    assert all(ran.values()), f"both workers took trials: {ran}"

    for trial, job_dir in zip(counted, job_dirs, strict=True):
        (run,) = offline_runs(job_dir)
        assert run.run.run_group == "pair" and run.exit_code == 0
        assert run.config["callbacks"]["optuna_trial"]["trial_number"] == trial.number
    for worker in ("a", "b"):
        (summary_run,) = offline_runs(tmp_path / worker / "optuna")
        assert summary_run.run.run_group == "pair" and summary_run.run.job_type == "hpo"
        assert len(summary_run.media("images")) >= 2, "optimisation history and intermediate values"
        # A worker summarises when it finds nothing left to claim, maybe before the other's last trial ends.
        assert summary_run.summary["best_value"] in {t.value for t in counted}
