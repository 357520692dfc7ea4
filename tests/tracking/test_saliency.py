"""The saliency maps are real: they point where the model looks, at the logit the brief asks for."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fer_lightning.models import VGGNet
from fer_lightning.plotting import save_png
from fer_lightning.tracking.figures import saliency_figure
from fer_lightning.tracking.media import first_per_class
from fer_lightning.tracking.saliency import saliency_grid

SIDE = 40
# An off-centre, non-square region: a transposed or flipped map would miss it.
ROWS, COLS = slice(6, 18), slice(22, 34)


class RegionNet(nn.Module):
    """Logits from the pixels inside (ROWS, COLS) only: the input is masked, and so is the conv stage's
    output (its bias would light up the outside), pooled to half resolution, then a linear head."""

    def __init__(self) -> None:
        super().__init__()
        mask = torch.zeros(1, 1, SIDE, SIDE)
        mask[..., ROWS, COLS] = 1.0
        self.register_buffer("mask", mask)
        self.conv = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(8 * (SIDE // 2) ** 2, 7)
        # Non-negative head weights give every channel a non-negative Grad-CAM weight: with random signs
        # a face's whole map can be negative, which ReLU turns into an empty (uninformative) map.
        with torch.no_grad():
            self.head.weight.abs_()

    @property
    def gradcam_layer(self) -> nn.Module:
        return self.pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.conv(x * self.mask) * self.mask).flatten(1))


def _region_mass(maps: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    inside = maps[:, rows, cols].sum(axis=(1, 2))
    return inside / maps.sum(axis=(1, 2))


def test_saliency_and_gradcam_mass_lies_in_the_region_the_logit_reads() -> None:
    torch.manual_seed(0)
    net = RegionNet()
    x = torch.rand(6, 1, SIDE, SIDE)
    maps = saliency_grid(net, x, net.gradcam_layer)
    assert maps.saliency.shape == maps.gradcam.shape == (6, SIDE, SIDE)
    # The gradient is exactly zero outside the region the logit reads.
    assert _region_mass(maps.saliency, ROWS, COLS) == pytest.approx(np.ones(6), abs=1e-6)
    # Grad-CAM lives on the 20x20 pooled grid; bilinear upsampling bleeds at most a pooled cell (2 px).
    grown = slice(ROWS.start - 2, ROWS.stop + 2), slice(COLS.start - 2, COLS.stop + 2)
    assert (_region_mass(maps.gradcam, *grown) > 0.99).all()
    assert (_region_mass(maps.gradcam, ROWS, COLS) > 0.8).all()
    for m in (maps.saliency, maps.gradcam):
        assert m.min() == pytest.approx(0.0) and m.max(axis=(1, 2)) == pytest.approx(np.ones(6))


def test_saliency_is_the_gradient_of_the_top_class_logit() -> None:
    torch.manual_seed(1)
    net = VGGNet(input_size=SIDE, width=0.0625, hidden=64).train()
    x = torch.rand(4, 1, SIDE, SIDE)
    maps = saliency_grid(net, x, net.gradcam_layer)
    assert net.training, "the net's mode is restored"

    net.eval()
    logits = net(x.requires_grad_())
    top = logits.argmax(dim=1)
    (grad,) = torch.autograd.grad(logits.gather(1, top[:, None]).sum(), x)
    expected = grad.abs()[:, 0]
    flat = expected.flatten(1)
    expected = (flat - flat.min(1, keepdim=True).values) / (
        flat.max(1, keepdim=True).values - flat.min(1, keepdim=True).values
    )
    np.testing.assert_allclose(maps.saliency, expected.view(4, SIDE, SIDE).numpy(), atol=1e-5)
    np.testing.assert_array_equal(maps.preds, top.numpy())
    np.testing.assert_allclose(maps.confidence, logits.softmax(1).max(1).values.detach().numpy(), rtol=1e-5)


def test_maps_are_computed_under_inference_mode_as_in_lightning_eval_hooks() -> None:
    net = VGGNet(input_size=SIDE, width=0.0625, hidden=64)
    with torch.inference_mode():
        maps = saliency_grid(net, torch.rand(2, 1, SIDE, SIDE), net.gradcam_layer)
    assert np.isfinite(maps.saliency).all() and maps.saliency.max() > 0


def test_faces_are_the_first_of_each_class_and_the_grid_renders(tmp_path) -> None:
    labels = np.array([3, 0, 3, 6, 0, 3, 1, 0])
    index = first_per_class(labels, per_class=2, num_classes=7)
    assert index.tolist() == [1, 4, 6, 0, 2, 3]  # class by class; classes 2, 4, 5 have no face
    with pytest.raises(ValueError, match="per_class=0"):
        first_per_class(labels, 0, 7)

    net = VGGNet(input_size=SIDE, width=0.0625, hidden=64)
    x = torch.rand(len(index), 1, SIDE, SIDE)
    maps = saliency_grid(net, x, net.gradcam_layer)
    fig = saliency_figure(
        x[:, 0].numpy(), maps.saliency, maps.gradcam, labels[index].tolist(), maps.preds.tolist(),
        maps.confidence.tolist(), ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"), 2, "t",
    )  # fmt: skip
    path = save_png(fig, tmp_path / "grid.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
