"""Export a checkpoint's network for deployment, with a parity check against PyTorch.

`python -m fer_lightning.export ckpt_path=<run>/checkpoints/best.ckpt format=onnx` writes `model.onnx`:
input `crops` float [batch, 1, c, c] in [0, 1] (batch is dynamic), output `logits` [batch, 7]. Ten-crop
evaluation stays with the caller: cut the views, run them as one batch, average the logits per image; the
model's metadata records the crop size and view count the run was evaluated with.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from fer_lightning.checkpoint import open_checkpoint
from fer_lightning.fer2013 import EMOTIONS

log = logging.getLogger("fer_lightning.export")
FORMATS = ("onnx",)


def export_onnx(
    net: torch.nn.Module,
    path: str | Path,
    crop_size: int,
    opset: int = 17,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write `net` (float [B, 1, c, c] -> logits) as ONNX with a dynamic batch axis, on the CPU."""
    # onnx and onnxruntime load where they are used: onnx alone takes seconds to import.
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = net.to("cpu").eval()
    example = torch.rand(2, 1, crop_size, crop_size)
    with warnings.catch_warnings():
        # torch >= 2.9 defaults to the torch.export-based exporter, which needs onnxscript (not a dependency);
        # the TorchScript exporter handles these plain conv nets and warns that it is the legacy path.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            net,
            (example,),
            str(path),
            dynamo=False,
            input_names=["crops"],
            output_names=["logits"],
            dynamic_axes={"crops": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset,
        )
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    onnx.helper.set_model_props(model, {"classes": ",".join(EMOTIONS), **(metadata or {})})
    onnx.save(model, str(path))
    return path


@torch.no_grad()
def onnx_parity(
    net: torch.nn.Module,
    path: str | Path,
    crop_size: int,
    batch_sizes: tuple[int, ...] = (1, 8),
    seed: int = 0,
) -> float:
    """Largest |ONNX Runtime - PyTorch| logit difference over random crops at each batch size."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    net = net.to("cpu").eval()
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for b in batch_sizes:
        x = torch.rand(b, 1, crop_size, crop_size, generator=generator)
        (onnx_logits,) = session.run(["logits"], {"crops": x.numpy()})
        worst = max(worst, float(np.abs(onnx_logits - net(x).numpy()).max()))
    return worst


def export_checkpoint(cfg: DictConfig, task_overrides: list[str] | None = None) -> dict[str, Any]:
    """Export `cfg.ckpt_path` as `cfg.format` into `cfg.output`, check parity to `cfg.atol`."""
    if cfg.format not in FORMATS:
        raise ValueError(f"export format={cfg.format!r}: expected one of {', '.join(FORMATS)}")
    opened = open_checkpoint(cfg, task_overrides or [])
    spec, net = opened.augmentation, opened.module.net
    metadata = {
        "crop_size": str(spec.crop_size),
        "views": str(spec.views),
        "input": "crops: float [batch, 1, crop_size, crop_size] in [0, 1]; average logits over the views",
        "checkpoint": str(opened.path),
    }
    path = export_onnx(net, cfg.output, spec.crop_size, cfg.opset, metadata)
    diff = onnx_parity(net, path, spec.crop_size, tuple(cfg.parity_batch_sizes))
    if not diff <= cfg.atol:
        raise RuntimeError(f"{path}: ONNX Runtime differs from PyTorch by {diff:.3g} > atol {cfg.atol}")
    log.info("exported %s (max |onnx - torch| = %.2g, atol %g)", path, diff, cfg.atol)
    return {"path": str(path), "max_abs_diff": diff, "atol": cfg.atol, **metadata}


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    export_checkpoint(cfg, list(HydraConfig.get().overrides.task))


if __name__ == "__main__":
    main()
