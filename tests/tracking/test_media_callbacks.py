"""A real training run with the media callbacks, read back from its offline W&B folder and its PNG files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from fer_lightning.fer2013 import EMOTIONS
from fer_lightning.train import train
from tests.helpers import run_app
from tests.tracking.wandb_records import offline_runs

EPOCHS = 2
MEDIA = [f"trainer.max_epochs={EPOCHS}", "callbacks.predictions.max_rows=40"]
PNGS = {
    "confusion_val.png",
    "confusion_val_checkpoint.png",
    "confusion_test.png",
    "saliency_fit_end.png",
    "saliency_test.png",
    "confident_mistakes_test.png",
}


def _image_keys(run) -> dict[str, int]:
    """W&B image key -> how many times it was logged."""
    counts: dict[str, int] = {}
    for row in run.history:
        for key, value in row.items():
            if key.endswith("/_type") and value == "image-file":
                name = key.removesuffix("/_type")
                counts[name] = counts.get(name, 0) + 1
    return counts


def test_run_with_wandb_logs_metrics_confusion_saliency_and_predictions(compose_cfg, tmp_path: Path) -> None:
    overrides = ("logger=wandb", "logger.wandb.log_model=true", "callbacks.saliency.every_n_epochs=1")
    results = train(compose_cfg(*overrides, *MEDIA))
    (run,) = offline_runs(tmp_path / "wandb")
    assert run.exit_code == 0
    # Asked for, the checkpoints travel as a model artifact (staged for `wandb sync` when offline).
    (model,) = [entries for name, entries in run.artifacts.items() if name.startswith("model-")]
    assert set(model) == {"model.ckpt"} and all(p.exists() for p in model.values())
    assert run.run.run_group == tmp_path.name and run.run.job_type == "train"
    assert run.config["optimizer"]["lr"] == 0.01 and run.config["seed"] == 0

    # Per-epoch metrics of the module, the lr monitor, and the tested checkpoint's test metrics.
    keys = run.keys()
    per_class = {f"val/recall_{c}" for c in EMOTIONS}
    assert {
        "train/loss",
        "train/acc",
        "val/loss",
        "val/acc",
        "val/f1_macro",
        "val/top2_acc",
        "val/acc_best",
    } <= keys
    assert per_class <= keys and {"test/acc", "test/f1_macro", "test/top2_acc"} <= keys
    assert any(k.startswith("lr") for k in keys)
    assert run.values("test/acc") == [pytest.approx(results["test"]["acc"])]

    # Images: the val matrix every epoch (not during the sanity check) plus the checkpoint's, one test
    # matrix, the saliency grid at the end of fit and on the tested checkpoint, the top mistakes.
    assert _image_keys(run) == {
        "val/confusion_matrix": EPOCHS,
        "val/confusion_matrix_checkpoint": 1,
        "test/confusion_matrix": 1,
        "saliency/grid": EPOCHS + 2,
        "test/confident_mistakes": 1,
    }
    assert len(run.media("images")) == 2 * EPOCHS + 5

    # The interactive test matrix holds the counts of every test face, as the PNG's CSV does.
    (chart,) = [p for p in run.media("table") if "confusion_matrix_interactive" in p.name]
    chart_rows = json.loads(chart.read_text())["data"]
    counts = np.loadtxt(tmp_path / "figures" / "confusion_test.csv", delimiter=",", dtype=int)
    assert len(chart_rows) == len(EMOTIONS) ** 2
    assert sum(r[2] for r in chart_rows) == counts.sum() == results["test"]["n_images"]
    assert {(a, p): n for a, p, n in chart_rows}[("happy", "happy")] == counts[3, 3]

    # The predictions table: capped, most confident mistakes first; its faces travel in the table artifact.
    (table_file,) = [p for p in run.media("table") if p.name.startswith("predictions")]
    table = json.loads(table_file.read_text())
    assert table["columns"] == [
        "face",
        "index",
        "id",
        "label",
        "prediction",
        "confidence",
        "p_label",
        "correct",
    ]
    rows = [dict(zip(table["columns"], r, strict=True)) for r in table["data"]]
    assert len(rows) == 40
    wrong = [r for r in rows if not r["correct"]]
    assert rows[: len(wrong)] == wrong, "mistakes come first"
    assert [r["confidence"] for r in wrong] == sorted((r["confidence"] for r in wrong), reverse=True)
    (faces,) = [entries for name, entries in run.artifacts.items() if "testpredictions" in name]
    assert sum(path.startswith("media/images/") for path in faces) == len({r["index"] for r in rows})

    epochs = {f"saliency_epoch{e:03d}.png" for e in range(EPOCHS)}
    assert {p.name for p in (tmp_path / "figures").glob("*.png")} == PNGS | epochs


def test_run_without_any_logger_still_writes_every_figure(compose_cfg, tmp_path: Path) -> None:
    results = train(compose_cfg("logger=none", *MEDIA, "trainer.max_epochs=1", "augmentation.ten_crop=false"))
    assert results["status"] == "completed"
    assert not (tmp_path / "wandb").exists()
    figures = tmp_path / "figures"
    assert {p.name for p in figures.glob("*.png")} == PNGS
    for name in PNGS:
        assert imread(figures / name).shape[0] > 300
    predictions = (figures / "predictions_test.csv").read_text().splitlines()
    assert predictions[0] == "index,id,label,prediction,confidence,p_label,correct" and len(predictions) == 41
    counts = np.loadtxt(figures / "confusion_val_checkpoint.csv", delimiter=",", dtype=int)
    assert counts.sum() == results["val"]["n_images"]


@pytest.mark.slow
def test_ddp_spawn_job_has_one_wandb_run_with_its_media_and_counts_every_face_once(tmp_path: Path) -> None:
    """A 2-process job inside a multirun (ddp_spawn): rank 0 is a spawned process that attaches to the
    job's W&B run; its images must land in that run's folder, and the counts cover each face once."""
    sweep = tmp_path / "sweep"
    proc = run_app(
        # One epoch on single centre crops keeps the two processes short (and covers the one-view path).
        ["-m", "trainer=ddp_cpu", "debug=tiny", "data.source.n=701", "logger=wandb", *MEDIA, "trainer.max_epochs=1",
         "augmentation.ten_crop=false", f"hydra.sweep.dir={sweep}"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    run_dir = sweep / "0"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "completed"
    (run,) = offline_runs(tmp_path)
    assert run.exit_code == 0 and run.folder.parent == run_dir / "wandb"
    assert len(run.media("images")) == 1 + 5
    # Counts reduced across the two processes: every test face once, none padded in.
    counts = np.loadtxt(run_dir / "figures" / "confusion_test.csv", delimiter=",", dtype=int)
    assert counts.sum() == results["hygiene"]["sizes"]["test"] == results["test"]["n_images"]
    (chart,) = [p for p in run.media("table") if "confusion_matrix_interactive" in p.name]
    assert sum(r[2] for r in json.loads(chart.read_text())["data"]) == counts.sum()
    assert {p.name for p in (run_dir / "figures").glob("*.png")} == PNGS
