"""The training app in-process: one real run end to end, checkpoint reload, resume, precision, seeds."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import pytorch_lightning as pl

from fer_lightning.module import FERClassifier
from fer_lightning.train import train


def test_run_end_to_end_and_best_checkpoint_reloads(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg("trainer.max_epochs=2", "logger=csv")
    results = train(cfg)

    written = json.loads((tmp_path / "results.json").read_text())
    assert written == results
    assert results["status"] == "completed" and results["error"] is None
    assert results["synthetic"] is True and results["run_name"] == "vggnet-sgd_nesterov-plateau-s0-synthetic"
    assert results["choices"]["optimizer"] == "sgd_nesterov" and results["choices"]["data"] == "synthetic"
    assert results["splits"] == {"train": ["Training"], "val": ["PrivateTest"], "test": ["PublicTest"]}
    assert results["epochs"] == 2 and results["params"] > 0
    n_val, n_test = results["hygiene"]["sizes"]["val"], results["hygiene"]["sizes"]["test"]
    assert results["val"]["n_images"] == n_val and results["test"]["n_images"] == n_test
    for stage in ("val", "test"):
        assert {"acc", "f1_macro", "top2_acc", "loss", "recall_happy"} <= results[stage].keys()
        assert 0.0 <= results[stage]["acc"] <= results[stage]["top2_acc"] <= 1.0
    # val numbers are those of the best checkpoint, which is what ModelCheckpoint scored
    assert results["val"]["acc"] == pytest.approx(results["best_score"], abs=1e-6)
    assert Path(results["checkpoint"]).name == "best.ckpt"
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
    assert (tmp_path / "csv" / "metrics.csv").read_text().count("val/acc") >= 1

    # The checkpoint alone rebuilds the model and scores the same on the same split.
    reloaded = FERClassifier.load_from_checkpoint(results["checkpoint"])
    from hydra.utils import instantiate

    datamodule = instantiate(cfg.data)
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, use_distributed_sampler=False
    )
    again = trainer.test(reloaded, datamodule=datamodule, verbose=False)[0]
    assert again["test/acc"] == pytest.approx(results["test"]["acc"], abs=1e-6)


def test_seed_zero_is_a_seed_and_runs_repeat(compose_cfg, tmp_path: Path) -> None:
    first = train(compose_cfg("seed=0", "deterministic=true", output_dir=tmp_path / "a"))
    second = train(compose_cfg("seed=0", "deterministic=true", output_dir=tmp_path / "b"))
    other = train(compose_cfg("seed=1", "deterministic=true", output_dir=tmp_path / "c"))
    assert first["seed"] == 0
    assert first["val"] == second["val"] and first["test"] == second["test"]
    assert other["val"]["loss"] != first["val"]["loss"]


def test_bf16_mixed_on_cpu(compose_cfg) -> None:
    results = train(compose_cfg("trainer.precision=bf16-mixed"))
    assert results["status"] == "completed"
    assert results["test"]["n_images"] == results["hygiene"]["sizes"]["test"]


def test_resume_from_last_checkpoint_after_a_crash(compose_cfg, tmp_path: Path) -> None:
    crash = ["+callbacks.crash._target_=tests.helpers.RaiseAtEpochEnd", "+callbacks.crash.epoch=1"]
    record = (
        f"+callbacks.record._target_=tests.helpers.RecordEpochs +callbacks.record.path={tmp_path}/epochs.json"
    )
    first = tmp_path / "first"
    with pytest.raises(RuntimeError, match="planted crash"):
        train(compose_cfg("trainer.max_epochs=3", *crash, *record.split(), output_dir=first))
    failed = json.loads((first / "results.json").read_text())
    assert failed["status"] == "failed" and "planted crash" in failed["error"]
    last = first / "checkpoints" / "last.ckpt"
    assert last.exists()

    (tmp_path / "epochs.json").unlink()
    resumed = train(
        compose_cfg(
            "trainer.max_epochs=3", f"ckpt_path={last}", *record.split(), output_dir=tmp_path / "second"
        )
    )
    assert resumed["status"] == "completed" and resumed["epochs"] == 3
    # Epoch 0 finished before the crash and is not repeated; epoch 1 crashed before its end and runs again.
    assert json.loads((tmp_path / "epochs.json").read_text()) == [1, 2]


def test_ctrl_c_is_recorded_as_interrupted_not_failed(compose_cfg, tmp_path: Path) -> None:
    interrupt = ["+callbacks.crash._target_=tests.helpers.RaiseAtEpochEnd", "+callbacks.crash.epoch=0"]
    previous = signal.getsignal(signal.SIGINT)
    try:
        # Lightning shuts down gracefully on KeyboardInterrupt, then exits with status 1.
        with pytest.raises(SystemExit):
            train(compose_cfg(*interrupt, "+callbacks.crash.interrupt=true"))
    finally:
        signal.signal(signal.SIGINT, previous)  # Lightning ignores SIGINT after an interrupt
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["status"] == "interrupted" and record["epochs"] == 0 and record["test"] is None
