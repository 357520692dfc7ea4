"""The suite's bookkeeping, its numbers on a small trained model, the training-time callback and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from torch import nn

from fer_lightning.data.arrays import FERArrays
from fer_lightning.data.augmentation import AugmentationSpec
from fer_lightning.data.synthetic import make_synthetic_fer
from fer_lightning.data.transforms import eval_views
from fer_lightning.robustness.corruptions import CORRUPTIONS, FAMILIES, corrupt
from fer_lightning.robustness.suite import run_suite
from tests.conftest import CONF_DIR
from tests.helpers import run_app


class CentreNet(nn.Module):
    """A fixed random conv net with FERClassifier's `predict_views`."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(1, 4, 5, stride=4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(7))

    def predict_views(self, x: torch.Tensor) -> torch.Tensor:
        b, v = x.shape[:2]
        return self.net(x.flatten(0, 1)).view(b, v, -1).mean(1)


def test_suite_scores_corrupted_48px_images_through_the_views() -> None:
    data = make_synthetic_fer(n=300, seed=1).split("PublicTest")
    spec = AugmentationSpec(ten_crop=True)
    model = CentreNet().train()
    views = lambda x: eval_views(x, spec)  # noqa: E731
    result = run_suite(model, data, views, corruptions=["eye_band", "blur"], severities=[2, 4], seed=7)

    assert model.training, "the suite must restore the model's mode"
    labels = torch.from_numpy(data.labels)
    model.eval()
    for name in ("eye_band", "blur"):
        for k, s in enumerate([2, 4]):
            with torch.no_grad():
                pred = model.predict_views(
                    views(corrupt(torch.from_numpy(data.images), name, s, seed=7))
                ).argmax(1)
            assert result["corruptions"][name]["acc"][k] == pytest.approx(
                float((pred == labels).float().mean())
            )
    table = [result["corruptions"][n]["acc"] for n in ("eye_band", "blur")]
    assert result["mean_corruption_acc"] == pytest.approx(np.mean(table))
    clean = result["clean_acc"]
    assert result["relative_drop"] == pytest.approx((clean - np.mean(table)) / clean)
    assert result["families"]["occlusion"]["acc"] == result["corruptions"]["eye_band"]["acc"]
    assert result["corruptions"]["blur"]["levels"] == [
        CORRUPTIONS["blur"].level(2),
        CORRUPTIONS["blur"].level(4),
    ]
    assert result["n_images"] == len(data) and set(result["families"]) == {"occlusion", "quality"}


def test_suite_rejects_unlabelled_images_and_bad_severities() -> None:
    data = make_synthetic_fer(n=100, seed=1)
    unlabelled = FERArrays(data.images, np.full(len(data), -1), data.usage, data.ids, "x.csv", "csv")
    views = lambda x: eval_views(x, AugmentationSpec())  # noqa: E731
    with pytest.raises(ValueError, match="carry no label"):
        run_suite(CentreNet(), unlabelled, views, corruptions=["blur"])
    with pytest.raises(ValueError, match="severities"):
        run_suite(CentreNet(), data, views, corruptions=["blur"], severities=[0, 6])
    small = run_suite(CentreNet(), data, views, corruptions=["blur"], severities=[1], max_images=40)
    assert small["n_images"] == 40


# -- a real training run with the callback on (tests/robustness/conftest.py) --------------------------------


@pytest.mark.slow
def test_training_run_reports_robustness_in_results_files_and_wandb(trained_run: Path) -> None:
    results = json.loads((trained_run / "results.json").read_text())
    assert results["status"] == "completed"
    test = results["test"]
    # The suite's clean accuracy is the test stage's own accuracy: same checkpoint, split and views.
    assert test["robustness_clean_acc"] == pytest.approx(test["acc"], abs=1e-6)
    assert test["acc"] > 0.5, (
        "the fixture model must have learned something for the checks below to mean much"
    )

    report = json.loads((trained_run / "robustness" / "robustness.json").read_text())
    assert report["severities"] == [1, 5] and report["n_images"] == test["n_images"]
    assert report["splits"] == ["PublicTest"] and report["synthetic"] is True
    acc = np.array([row["acc"] for row in report["corruptions"].values()])
    assert acc.shape == (len(CORRUPTIONS), 2) and ((acc >= 0) & (acc <= 1)).all()
    assert acc[:, 1].mean() < acc[:, 0].mean() <= report["clean_acc"] + 0.02, acc
    assert report["mean_corruption_acc"] == pytest.approx(acc.mean())
    assert test["robustness_mca"] == pytest.approx(acc.mean(), abs=1e-6)
    for family, names in FAMILIES.items():
        rows = [report["corruptions"][n]["mean_acc"] for n in names]
        assert test[f"robustness_{family}"] == pytest.approx(np.mean(rows), abs=1e-6)

    table = (trained_run / "robustness" / "robustness.md").read_text()
    assert all(f"| {name} |" in table for name in CORRUPTIONS) and "**mCA**" in table
    for png in ("robustness.png", "robustness_examples.png"):
        image = cv2.imread(str(trained_run / "robustness" / png))
        assert image is not None and image.shape[0] > 200 and image.std() > 10

    (run,) = (trained_run / "wandb").glob("offline-run-*")
    media = run / "files" / "media"
    assert len(list((media / "images" / "robustness").glob("plot_*.png"))) == 1
    assert len(list((media / "images" / "robustness").glob("examples_*.png"))) == 1
    (table_file,) = (media / "table" / "robustness").glob("table_*.table.json")
    logged = json.loads(table_file.read_text())
    assert logged["columns"][:3] == ["family", "corruption", "severity"] and len(logged["data"]) == 2 * len(
        CORRUPTIONS
    )


@pytest.mark.slow
def test_cli_on_the_checkpoint_repeats_the_callback_numbers(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = [
        f"ckpt_path={trained_run / 'checkpoints' / 'best.ckpt'}",
        "severities=[1,5]",
        "corruptions=[occlusion,noise]",
    ]
    proc = run_app([*args, f"hydra.run.dir={out}"], tmp_path, module="fer_lightning.robustness")
    assert proc.returncode == 0, proc.stderr[-4000:]
    cli = json.loads((out / "robustness" / "robustness.json").read_text())
    callback = json.loads((trained_run / "robustness" / "robustness.json").read_text())
    assert cli["run_config"] is True and cli["clean_acc"] == callback["clean_acc"]
    assert list(cli["corruptions"]) == [*FAMILIES["occlusion"], "noise"]
    for name, row in cli["corruptions"].items():
        assert row["acc"] == callback["corruptions"][name]["acc"], name  # deterministic across processes
    assert (out / "robustness" / "robustness.png").is_file()


def _robustness_cfg(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("robustness", overrides=list(overrides))


@pytest.mark.slow
def test_cli_library_picks_split_and_needs_data_without_a_run_config(
    trained_run: Path, tmp_path: Path
) -> None:
    from fer_lightning.robustness.__main__ import evaluate

    ckpt = trained_run / "checkpoints" / "best.ckpt"
    overrides = [f"ckpt_path={ckpt}", "splits=[PrivateTest]", "corruptions=[blur]", "severities=[3]"]
    cfg = _robustness_cfg(*overrides, f"output_dir={tmp_path / 'a'}")
    result = evaluate(cfg, overrides)
    val_size = json.loads((trained_run / "results.json").read_text())["val"]["n_images"]
    assert result["splits"] == ["PrivateTest"] and result["n_images"] == val_size

    lone = tmp_path / "lone.ckpt"  # a checkpoint outside its run folder: nothing to rebuild the data from
    lone.write_bytes(ckpt.read_bytes())
    with pytest.raises(ValueError, match="no data chosen"):
        evaluate(_robustness_cfg(f"ckpt_path={lone}", f"output_dir={tmp_path / 'b'}"))
    GlobalHydra.instance().clear()
