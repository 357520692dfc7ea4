"""ONNX export: PyTorch parity to 1e-4 at any batch size, metadata, and the CLI on a trained checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from fer_lightning.data.augmentation import AugmentationSpec
from fer_lightning.data.synthetic import make_synthetic_fer
from fer_lightning.data.transforms import eval_views
from fer_lightning.export import export_checkpoint, export_onnx, onnx_parity
from fer_lightning.models import VGGNet
from tests.conftest import CONF_DIR
from tests.helpers import run_app


def test_onnx_matches_pytorch_at_every_batch_size(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = VGGNet(input_size=40, width=0.125)
    # Trained-like BatchNorm statistics, so that eval mode differs from train mode and parity means something.
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(16, 1, 40, 40))
    path = export_onnx(net, tmp_path / "m.onnx", crop_size=40, metadata={"crop_size": "40"})
    assert not net.training
    assert onnx_parity(net, path, 40, batch_sizes=(1, 3, 17)) < 1e-4

    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    props = {p.key: p.value for p in model.metadata_props}
    assert props["classes"].split(",")[3] == "happy" and props["crop_size"] == "40"


def test_unknown_format_is_named(tmp_path: Path) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "export",
            overrides=[f"ckpt_path={tmp_path / 'x.ckpt'}", "format=tflite", f"output={tmp_path / 'm'}"],
        )
    GlobalHydra.instance().clear()
    with pytest.raises(ValueError, match="format='tflite': expected one of onnx"):
        export_checkpoint(cfg)


@pytest.mark.slow
def test_export_cli_on_a_checkpoint_matches_its_ten_crop_predictions(
    trained_run: Path, tmp_path: Path
) -> None:
    from fer_lightning.module import FERClassifier

    out = tmp_path / "export"
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    proc = run_app(
        [f"ckpt_path={ckpt}", "format=onnx", f"hydra.run.dir={out}"], tmp_path, module="fer_lightning.export"
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    path = out / "model.onnx"
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["crop_size"] == "40" and props["views"] == "1"  # from the run's config: centre crop only

    # Real faces, cut into the ten crops as a caller would: averaged ONNX logits = predict_views.
    module = FERClassifier.load_from_checkpoint(ckpt, map_location="cpu").eval()
    faces = torch.from_numpy(make_synthetic_fer(n=40, seed=3).images)
    views = eval_views(faces, AugmentationSpec(ten_crop=True))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"crops": views.flatten(0, 1).numpy()})
    with torch.no_grad():
        expected = module.predict_views(views).numpy()
    assert np.abs(logits.reshape(len(faces), 10, -1).mean(1) - expected).max() < 1e-4
