"""The GPU pipeline: the paper's training augmentation on a whole batch at once, on the batch's device.

The geometric chain (random resized crop -> translate -> flip -> rotate) is composed per sample into one
sampling grid and applied with a single `grid_sample`, then the ten crops are sliced and each crop is
erased independently. Every random parameter is drawn exactly as torchvision's `get_params` draws it
(same rejection sampling, same rounding), vectorised over the batch, with no host synchronisation.

Why not kornia: chaining kornia's RandomResizedCrop, RandomAffine and RandomRotation resamples the image
three times (each op warps), and its translation is continuous where torchvision rounds to whole pixels.
On 2 CPU cores at batch 64 the fused version is 2.6-3.7x faster (see benchmarks/README.md).

Interpolation: torchvision resizes the crop bilinearly, then shifts and rotates with nearest neighbour
(RandomAffine / RandomRotation defaults). Here one bilinear lookup does all of it: samples stay within the
crop box (as a crop-then-resize does) and points that the shift or rotation moves out of the frame are
zero (torchvision's fill=0). With the same parameters the images match torchvision's to its uint8
rounding, except that a rotated one is interpolated once instead of twice (mean difference ~0.013 on
faces in [0, 1]; tests/data/test_gpu_augment.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from fer_lightning.data.augmentation import AugmentationSpec
from fer_lightning.data.transforms import crop_views

# torchvision's RandomResizedCrop and RandomErasing both try 10 candidate boxes before giving up.
_ATTEMPTS = 10


@dataclass
class AugmentParams:
    """Per-sample parameters of one batch, leading dim B (boxes are (top, left, height, width) in pixels).

    crop: [B, 4] in the source image; translate: [B, 2] (tx, ty), 0 where not applied; flip: bool [B];
    angle: [B] degrees counter-clockwise, 0 where not applied; translated / rotated: bool [B], whether the
    RandomApply fired; brightness, contrast, gamma: [B] factors (1 = off); contrast_first: bool [B], the
    ColorJitter order; erase: [B, V, 4] in crop pixels, height and width 0 where nothing is erased;
    erased: bool [B, V].
    """

    crop: Tensor
    translate: Tensor
    translated: Tensor
    flip: Tensor
    angle: Tensor
    rotated: Tensor
    brightness: Tensor
    contrast: Tensor
    contrast_first: Tensor
    gamma: Tensor
    erase: Tensor
    erased: Tensor

    def to(self, device: torch.device | str) -> AugmentParams:
        return AugmentParams(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def _uniform(
    shape: tuple[int, ...], lo: float, hi: float, g: torch.Generator | None, device: torch.device
) -> Tensor:
    return torch.rand(shape, generator=g, device=device).mul_(hi - lo).add_(lo)


def _randint(high: Tensor, g: torch.Generator | None) -> Tensor:
    """torch.randint(0, high) with a per-element `high` (float tensor of integers >= 1)."""
    return torch.rand(high.shape, generator=g, device=high.device).mul_(high).floor_()


def _first_valid(valid: Tensor, *candidates: Tensor) -> tuple[Tensor, ...]:
    """For [..., attempts] candidates, the value of the first attempt that is valid (an arbitrary one where
    none is), and whether one was. Scores are distinct, so argmax is deterministic on every device."""
    attempts = valid.shape[-1]
    order = torch.arange(attempts, 0, -1, device=valid.device)
    first = (valid * order).argmax(dim=-1, keepdim=True)
    picked = tuple(c.gather(-1, first).squeeze(-1) for c in candidates)
    return (*picked, valid.any(dim=-1))


def _log_uniform(
    shape: tuple[int, ...], bounds: tuple[float, float], g: torch.Generator | None, device: torch.device
) -> Tensor:
    return _uniform(shape, math.log(bounds[0]), math.log(bounds[1]), g, device).exp_()


class GPUAugment(nn.Module):
    """uint8 [B, H, W] on any device -> float [B, V, 1, c, c] in [0, 1], augmented per sample as in
    Khaireddin & Chen §3.2 (see `AugmentationSpec`). Parameters come from `generator` when given (it must
    live on the batch's device), else from the device's global RNG that Lightning seeds."""

    def __init__(self, spec: AugmentationSpec, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.generator = generator

    def sample_params(
        self,
        batch: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        in_size: tuple[int, int] | None = None,
    ) -> AugmentParams:
        """Draw one batch of parameters from the distributions torchvision's transforms draw from.

        `in_size` is the source (height, width), the spec's resize side by default (FER-2013 is 48x48)."""
        s, g = self.spec, generator if generator is not None else self.generator
        dev = (
            torch.device(device)
            if device is not None
            else (g.device if g is not None else torch.device("cpu"))
        )
        n = (batch,)
        height, width = in_size if in_size is not None else (s.resize, s.resize)

        # RandomResizedCrop.get_params: with scale up to 1.2 many candidates do not fit, and the area
        # that results is the distribution of the first candidate that does; fallback is the whole image
        # when the image's own aspect lies in `ratio` (a square one always does), else a centred crop.
        area = _uniform((batch, _ATTEMPTS), *s.crop_scale, g, dev).mul_(height * width)
        aspect = _log_uniform((batch, _ATTEMPTS), s.crop_ratio, g, dev)
        w = (area * aspect).sqrt_().round_()
        h = (area / aspect).sqrt_().round_()
        ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
        h, w, found = _first_valid(ok, h, w)
        in_ratio = width / height
        if in_ratio < min(s.crop_ratio):
            fb_w, fb_h = width, round(width / min(s.crop_ratio))
        elif in_ratio > max(s.crop_ratio):
            fb_w, fb_h = round(height * max(s.crop_ratio)), height
        else:
            fb_w, fb_h = width, height
        top = torch.where(found, _randint(height - h + 1, g), float((height - fb_h) // 2))
        left = torch.where(found, _randint(width - w + 1, g), float((width - fb_w) // 2))
        h = torch.where(found, h, float(fb_h))
        w = torch.where(found, w, float(fb_w))
        crop = torch.stack([top, left, h, w], dim=-1)

        # RandomApply(RandomAffine(0, translate)): whole-pixel shifts, round(U(-t*W, t*W)), on the
        # RandomResizedCrop output (resize x resize).
        translated = torch.rand(n, generator=g, device=dev) < s.translate_p
        max_shift = s.translate * s.resize
        shift = _uniform((batch, 2), -max_shift, max_shift, g, dev).round_() * translated[:, None]
        flip = torch.rand(n, generator=g, device=dev) < s.hflip_p
        rotated = torch.rand(n, generator=g, device=dev) < s.rotate_p
        angle = _uniform(n, -s.rotate_deg, s.rotate_deg, g, dev) * rotated

        # ColorJitter(brightness, contrast): factors U(max(0, 1 - b), 1 + b), applied in a random order;
        # then the gamma of transforms.RandomGamma, U(1 - g, 1 + g).
        brightness = _uniform(n, max(0.0, 1 - s.brightness), 1 + s.brightness, g, dev)
        contrast = _uniform(n, max(0.0, 1 - s.contrast), 1 + s.contrast, g, dev)
        contrast_first = torch.rand(n, generator=g, device=dev) < 0.5
        gamma = _uniform(n, 1 - s.gamma, 1 + s.gamma, g, dev)

        # RandomErasing.get_params on each c x c crop: note h = sqrt(area * aspect) (the transpose of the
        # crop's convention) and the strict fit test; no candidate fitting means no erasing.
        views, c = s.views, s.crop_size
        fired = torch.rand((batch, views), generator=g, device=dev) < s.erasing_p
        e_area = _uniform((batch, views, _ATTEMPTS), *s.erasing_scale, g, dev).mul_(c * c)
        e_aspect = _log_uniform((batch, views, _ATTEMPTS), s.erasing_ratio, g, dev)
        eh = (e_area * e_aspect).sqrt_().round_()
        ew = (e_area / e_aspect).sqrt_().round_()
        eh, ew, e_found = _first_valid((eh < c) & (ew < c), eh, ew)
        erased = fired & e_found
        ei = _randint(c - eh + 1, g)
        ej = _randint(c - ew + 1, g)
        erase = torch.stack([ei, ej, eh, ew], dim=-1) * erased[..., None]

        return AugmentParams(
            crop=crop,
            translate=shift,
            translated=translated,
            flip=flip,
            angle=angle,
            rotated=rotated,
            brightness=brightness,
            contrast=contrast,
            contrast_first=contrast_first,
            gamma=gamma,
            erase=erase,
            erased=erased,
        )

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 3 or images.dtype != torch.uint8:
            raise ValueError(
                f"GPUAugment expects uint8 images [B, H, W], got {images.dtype} {tuple(images.shape)}"
            )
        params = self.sample_params(images.shape[0], device=images.device, in_size=tuple(images.shape[-2:]))
        return self.apply(images, params)

    def apply(self, images: Tensor, params: AugmentParams) -> Tensor:
        """Augment uint8 [B, H, W] with given parameters -> float [B, V, 1, c, c]."""
        s = self.spec
        x = images.unsqueeze(1).to(torch.float32).div_(255)
        x = F.grid_sample(x, self._grid(params, x.shape[-2:]), mode="bilinear", align_corners=False)
        x = self._photometric(x, params)
        views = crop_views(x, s)
        return self._erase(views, params.erase)

    def _grid(self, p: AugmentParams, in_size: torch.Size) -> Tensor:
        """Where each output pixel reads the source, as (x, y) in grid_sample's normalised coordinates.
        Points that the shift or rotation brings in from outside the frame get a coordinate far outside
        [-1, 1], so grid_sample's zero padding fills them (torchvision fills 0).

        x and y are computed as separate [B, S, S] planes: on the CPU, elementwise ops over a trailing
        (x, y) dim of 2 are ~10x slower than over contiguous planes."""
        size, dev = self.spec.resize, p.crop.device
        half = size / 2
        # Pixel centres, origin at the image centre: PIL and torchvision rotate about (W/2, H/2).
        u = torch.arange(size, device=dev, dtype=torch.float32) + (0.5 - half)
        ux, uy = u.view(1, 1, size), u.view(1, size, 1)

        def column(values: Tensor) -> Tensor:
            return values.view(-1, 1, 1)

        # Rotation (counter-clockwise on screen, y down): an output pixel reads the unrotated image at
        # R(-angle) u; then the mirror and the whole-pixel shift, undone in reverse order.
        rad = torch.deg2rad(p.angle)
        cos, sin = column(rad.cos()), column(rad.sin())
        rx, ry = ux * cos - uy * sin, ux * sin + uy * cos
        x = rx * column(1 - 2 * p.flip.float()) - column(p.translate[:, 0])
        y = ry - column(p.translate[:, 1])
        # torchvision's nearest-neighbour rotate/affine keep a pixel whose source lies in [-W/2, W/2); the
        # bounds never fall on a pixel centre here (half-integer shifts), so strict < suffices.
        reach = torch.maximum(torch.maximum(rx.abs(), ry.abs()), torch.maximum(x.abs(), y.abs()))
        outside = reach >= half

        # Resized crop: the box scaled onto the output, clamped to the box's outer pixel centres as a
        # crop-then-resize does (it never sees pixels outside the box).
        top, left, h, w = (column(p.crop[:, k]) for k in range(4))
        in_h, in_w = in_size
        grid = torch.empty((*reach.shape, 2), device=dev, dtype=torch.float32)
        for k, (coord, start, extent, side) in enumerate(((x, left, w, in_w), (y, top, h, in_h))):
            source = (coord + half).mul_(extent / size).add_(start)
            source = source.clamp_min_(start + 0.5).minimum(start + extent - 0.5)
            grid[..., k] = source.mul_(2 / side).sub_(1).masked_fill_(outside, -4.0)
        return grid

    def _photometric(self, x: Tensor, p: AugmentParams) -> Tensor:
        s = self.spec
        if not (s.brightness or s.contrast or s.gamma):
            return x
        b = p.brightness.view(-1, 1, 1, 1)
        c = p.contrast.view(-1, 1, 1, 1)

        def contrast(t: Tensor) -> Tensor:
            mean = t.mean(dim=(-3, -2, -1), keepdim=True)
            return (c * t + (1 - c) * mean).clamp_(0, 1)

        bright_then_contrast = contrast((x * b).clamp_(0, 1))
        contrast_then_bright = (contrast(x) * b).clamp_(0, 1)
        x = torch.where(p.contrast_first.view(-1, 1, 1, 1), contrast_then_bright, bright_then_contrast)
        return x.pow(p.gamma.view(-1, 1, 1, 1)) if s.gamma else x

    def _erase(self, views: Tensor, boxes: Tensor) -> Tensor:
        if not self.spec.erasing_p:
            return views
        c = views.shape[-1]
        idx = torch.arange(c, device=views.device, dtype=torch.float32)
        top, left, h, w = (boxes[..., k, None] for k in range(4))
        rows = ((idx >= top) & (idx < top + h)).float().view(-1, c, 1)
        cols = ((idx >= left) & (idx < left + w)).float().view(-1, 1, c)
        # keep = 1 - rows x cols as one batched matmul: on the CPU a broadcast outer product of masks
        # costs ~10x more. `views` is the fresh tensor crop_views stacked, so it is erased in place.
        keep = torch.bmm(rows, cols.neg_()).add_(1)
        return views.mul_(keep.view(views.shape))
