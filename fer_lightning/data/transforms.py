"""The `per_image` pipeline's transforms (the paper's augmentation with torchvision.transforms.v2 on uint8
tensors, image by image), the view cutting every pipeline shares, and the test-time views.

Khaireddin & Chen's code applies these to PIL images; v2 on tensors draws from the same distributions
(`get_params` is shared) and avoids the PIL round trip.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from fer_lightning.data.augmentation import AugmentationSpec
from fer_lightning.fer2013 import TEN_CROP_CENTRE, TEN_CROP_VIEWS

Views = Callable[[torch.Tensor], torch.Tensor]


class RandomGamma(torch.nn.Module):
    """Gamma drawn uniformly in [1 - g, 1 + g]; torchvision has the function but no random transform."""

    def __init__(self, g: float) -> None:
        super().__init__()
        self.g = g

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        gamma = float(torch.empty(1).uniform_(1 - self.g, 1 + self.g))
        return F.adjust_gamma(img, gamma)


def crop_views(images: torch.Tensor, spec: AugmentationSpec) -> torch.Tensor:
    """[..., 1, H, W] (uint8 or float) -> [..., V, 1, c, c]: torchvision's TenCrop (tl, tr, bl, br, centre,
    then the same five of the mirrored image), or the centre crop alone (V = 1). Both pipelines and the
    evaluation views cut their crops here."""
    crops = F.ten_crop(images, spec.crop_size) if spec.ten_crop else (F.center_crop(images, spec.crop_size),)
    return torch.stack(crops, dim=-4)


def train_views(spec: AugmentationSpec) -> Views:
    """uint8 [1, 48, 48] -> float [V, 1, c, c] in [0, 1], augmented as in Khaireddin & Chen §3.2."""
    geometric = v2.Compose(
        [
            v2.RandomResizedCrop(spec.resize, scale=spec.crop_scale, ratio=spec.crop_ratio, antialias=True),
            v2.RandomApply(
                [v2.RandomAffine(0, translate=(spec.translate, spec.translate))], p=spec.translate_p
            ),
            v2.RandomHorizontalFlip(spec.hflip_p),
            v2.RandomApply([v2.RandomRotation(spec.rotate_deg)], p=spec.rotate_p),
        ]
    )
    photometric: list[torch.nn.Module] = []
    if spec.brightness or spec.contrast:
        photometric.append(v2.ColorJitter(brightness=spec.brightness, contrast=spec.contrast))
    if spec.gamma:
        photometric.append(RandomGamma(spec.gamma))
    photometric_t = v2.Compose(photometric) if photometric else v2.Identity()
    # The paper erases each of the ten crops independently; v2.RandomErasing on a stacked tensor would
    # draw one rectangle for all ten.
    erase = v2.RandomErasing(p=spec.erasing_p, scale=spec.erasing_scale, ratio=spec.erasing_ratio, value=0)

    def apply(image: torch.Tensor) -> torch.Tensor:
        views = crop_views(photometric_t(geometric(image)), spec)
        views = views.to(torch.float32).div_(255)
        if spec.erasing_p > 0:
            views = torch.stack([erase(v) for v in views])
        return views

    return apply


def eval_views(images: torch.Tensor, spec: AugmentationSpec) -> torch.Tensor:
    """uint8 [B, 48, 48] (any device) -> float [B, V, 1, c, c]: the paper's test-time ten-crop."""
    return crop_views(images.unsqueeze(-3), spec).to(torch.float32).div_(255)


def centre_view(views: torch.Tensor) -> torch.Tensor:
    """[B, V, 1, c, c] -> [B, 1, c, c]: the centre crop, which is view 4 of ten-crop and the only view
    without it."""
    return views[:, TEN_CROP_CENTRE if views.shape[1] == TEN_CROP_VIEWS else 0]
