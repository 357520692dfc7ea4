"""Image corruptions at five severities for FER-sized grayscale faces, deterministic per seed.

Each corruption maps uint8 [N, H, W] to uint8 [N, H, W] (numpy or torch, whichever came in). Severities follow
ImageNet-C (Hendrycks & Dietterich 2019): 1 barely visible, 5 a face a person still reads with effort. Random
parameters (sign of a shift, side of a shadow, where a patch lands) are drawn per image from a generator seeded
by (seed, corruption name, severity), so a run is reproducible and severities are independent of each other.

Geometry and photometry use kornia; JPEG uses OpenCV; occluders are masks drawn with OpenCV/numpy. Positions
of the eye and mouth bands assume FER-2013's alignment: eyes near 38 % and mouth near 75 % of the height.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import kornia
import numpy as np
import torch

Levels = tuple[float, float, float, float, float]
CorruptFn = Callable[[torch.Tensor, float, np.random.Generator], torch.Tensor]
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

# Fractions of the image height: where FER-2013's registration puts the eyes and the mouth.
EYE_ROW, MOUTH_ROW, BAND_JITTER = 0.38, 0.75, 0.03
PATCH_SIDE = 0.22  # side of one random patch, fraction of the height
HAND_ASPECT = 1.4  # long / short semi-axis of the hand-shaped ellipse
EYE_BAND_FILL, MOUTH_BAND_FILL = 0.0, 0.85  # dark sunglasses; a light face mask


@dataclass(frozen=True)
class Corruption:
    """One corruption: `levels[s - 1]` is its parameter at severity s, measured in `unit`."""

    name: str
    family: str
    levels: Levels
    unit: str
    apply: CorruptFn
    random: bool = True

    def level(self, severity: int) -> float:
        if severity not in SEVERITIES:
            raise ValueError(f"corruption {self.name!r}: severity {severity} is not one of {SEVERITIES}")
        return self.levels[severity - 1]


def _signs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0]), size=n)


def _t(values: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=like.dtype, device=like.device)


# --- lighting -------------------------------------------------------------------------------------------


def brightness(x: torch.Tensor, shift: float, rng: np.random.Generator) -> torch.Tensor:
    """Add +-shift (fraction of full scale) to every pixel; over- or under-exposure, drawn per image."""
    return kornia.enhance.adjust_brightness(x, _t(shift * _signs(rng, len(x)), x))


def contrast(x: torch.Tensor, factor: float, rng: np.random.Generator) -> torch.Tensor:
    """Scale deviations from each image's mean by `factor` < 1 (haze, a flat camera response)."""
    return kornia.enhance.adjust_contrast_with_mean_subtraction(x, factor)


def gamma(x: torch.Tensor, log_gamma: float, rng: np.random.Generator) -> torch.Tensor:
    """x ** exp(+-log_gamma): darkens or lightens the mid-tones, keeping black and white."""
    return kornia.enhance.adjust_gamma(x, _t(np.exp(log_gamma * _signs(rng, len(x))), x))


def lighting_gradient(x: torch.Tensor, depth: float, rng: np.random.Generator) -> torch.Tensor:
    """Light from one side: multiply by a horizontal ramp from 1 on the lit side to 1 - depth on the other.

    kornia's RandomLinearIllumination adds its ramp (an offset, not shading) and may pick the top or bottom
    edge; a side light scales reflectance, so the ramp multiplies.
    """
    ramp = torch.linspace(1.0, 1.0 - depth, x.shape[-1], dtype=x.dtype, device=x.device)
    flip = _t(rng.random(len(x)) < 0.5, x).view(-1, 1, 1, 1)
    return x * (flip * ramp.flip(0) + (1 - flip) * ramp)


# --- pose -----------------------------------------------------------------------------------------------
# Reflection padding: a misaligned crop from a real photo shows more of the scene, not black corners.


def rotation(x: torch.Tensor, degrees: float, rng: np.random.Generator) -> torch.Tensor:
    """In-plane rotation (head roll) by +-degrees about the centre."""
    angle = _t(degrees * _signs(rng, len(x)), x)
    return kornia.geometry.transform.rotate(x, angle, padding_mode="reflection")


def shift(x: torch.Tensor, fraction: float, rng: np.random.Generator) -> torch.Tensor:
    """Translate by `fraction` of the side in a direction drawn per image (a loose face detector)."""
    theta = rng.uniform(0.0, 2.0 * np.pi, len(x))
    r = fraction * x.shape[-1]
    offsets = _t(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1), x)
    return kornia.geometry.transform.translate(x, offsets, padding_mode="reflection")


def scale(x: torch.Tensor, factor: float, rng: np.random.Generator) -> torch.Tensor:
    """Zoom in by `factor` or out by 1 / factor about the centre (crop too tight or too loose)."""
    s = factor ** _signs(rng, len(x))
    return kornia.geometry.transform.scale(x, _t(np.stack([s, s], axis=1), x), padding_mode="reflection")


def perspective(x: torch.Tensor, fraction: float, rng: np.random.Generator) -> torch.Tensor:
    """Horizontal perspective (head yaw): one vertical edge shrinks by `fraction` of the height top and bottom."""
    n, h, w = len(x), x.shape[-2], x.shape[-1]
    src = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)  # (x, y): tl tr br bl
    dst = np.repeat(src[None], n, axis=0)
    d = fraction * (h - 1)
    left = rng.random(n) < 0.5
    dst[left, 0, 1], dst[left, 3, 1] = d, h - 1 - d
    dst[~left, 1, 1], dst[~left, 2, 1] = d, h - 1 - d
    m = kornia.geometry.transform.get_perspective_transform(
        torch.as_tensor(np.repeat(src[None], n, axis=0), dtype=x.dtype), torch.as_tensor(dst, dtype=x.dtype)
    )
    return kornia.geometry.transform.warp_perspective(x, m.to(x.device), (h, w), padding_mode="reflection")


# --- occlusion ------------------------------------------------------------------------------------------


def _paint(x: torch.Tensor, mask: np.ndarray, fill: np.ndarray) -> torch.Tensor:
    """Replace the pixels under `mask` [N, H, W] by `fill` (broadcastable to [N, H, W])."""
    m = torch.as_tensor(mask, device=x.device).unsqueeze(1)
    f = _t(np.broadcast_to(fill, mask.shape).copy(), x).unsqueeze(1)
    return torch.where(m, f, x)


def random_patches(x: torch.Tensor, count: float, rng: np.random.Generator) -> torch.Tensor:
    """`count` flat grey squares of side PATCH_SIDE * height, anywhere, each its own random grey."""
    n, h, w = len(x), x.shape[-2], x.shape[-1]
    side = round(PATCH_SIDE * h)
    mask, fill = np.zeros((n, h, w), bool), np.zeros((n, h, w), np.float32)
    for _ in range(int(count)):
        r0, c0 = rng.integers(0, h - side + 1, n), rng.integers(0, w - side + 1, n)
        grey = rng.random(n).astype(np.float32)
        for i in range(n):
            mask[i, r0[i] : r0[i] + side, c0[i] : c0[i] + side] = True
            fill[i, r0[i] : r0[i] + side, c0[i] : c0[i] + side] = grey[i]
    return _paint(x, mask, fill)


def _band(x: torch.Tensor, height: float, row: float, value: float, rng: np.random.Generator) -> torch.Tensor:
    n, h = len(x), x.shape[-2]
    centre = (row + rng.uniform(-BAND_JITTER, BAND_JITTER, n)) * h
    rows = np.arange(h)[None, :] + 0.5
    inside = np.abs(rows - centre[:, None]) < height * h / 2  # [N, H]
    mask = np.repeat(inside[:, :, None], x.shape[-1], axis=2)
    return _paint(x, mask, np.float32(value))


def eye_band(x: torch.Tensor, height: float, rng: np.random.Generator) -> torch.Tensor:
    """A dark horizontal band of `height` (fraction of the image) over the eyes, like sunglasses."""
    return _band(x, height, EYE_ROW, EYE_BAND_FILL, rng)


def mouth_band(x: torch.Tensor, height: float, rng: np.random.Generator) -> torch.Tensor:
    """A light horizontal band of `height` (fraction of the image) over the mouth, like a face mask."""
    return _band(x, height, MOUTH_ROW, MOUTH_BAND_FILL, rng)


def hand(x: torch.Tensor, radius: float, rng: np.random.Generator) -> torch.Tensor:
    """A flat skin-grey ellipse (short semi-axis `radius` * height) over the lower face: a hand on the chin."""
    n, h, w = len(x), x.shape[-2], x.shape[-1]

    def draw(
        low: float, high: float
    ) -> np.ndarray:  # float32: a whole split's [N, H, W] temporaries stay small
        return rng.uniform(low, high, (n, 1, 1)).astype(np.float32)

    cy, cx, angle, grey = draw(0.55, 0.9) * h, draw(0.15, 0.85) * w, draw(0.0, np.pi), draw(0.45, 0.8)
    # Pixel-centre test rather than cv2.ellipse: OpenCV's fill includes its outline, which adds 10-20 % area
    # to an ellipse a few pixels across and would blur the gap between severities.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    dx, dy = xx - cx, yy - cy
    cos, sin = np.cos(angle), np.sin(angle)
    a, b = radius * h, HAND_ASPECT * radius * h
    mask = ((dx * cos + dy * sin) / a) ** 2 + ((dy * cos - dx * sin) / b) ** 2 <= 1.0
    return _paint(x, mask, grey)


# --- image quality --------------------------------------------------------------------------------------


def blur(x: torch.Tensor, sigma: float, rng: np.random.Generator) -> torch.Tensor:
    """Gaussian blur with standard deviation `sigma` pixels (defocus, motion-free)."""
    k = 2 * math.ceil(3 * sigma) + 1
    return kornia.filters.gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="reflect")


def noise(x: torch.Tensor, sigma: float, rng: np.random.Generator) -> torch.Tensor:
    """Additive Gaussian noise of standard deviation `sigma` (fraction of full scale): sensor noise."""
    return (x + _t(sigma * rng.standard_normal(x.shape, dtype=np.float32), x)).clamp(0.0, 1.0)


def jpeg(x: torch.Tensor, quality: float, rng: np.random.Generator) -> torch.Tensor:
    """Encode and decode as JPEG at `quality` (OpenCV's 0-100 scale)."""
    u8 = _to_uint8(x)[:, 0].cpu().numpy()
    out = np.empty_like(u8)
    for i, img in enumerate(u8):
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError(f"cv2.imencode failed on image {i} at JPEG quality {quality}")
        out[i] = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return torch.from_numpy(out).to(x.device).unsqueeze(1).to(x.dtype) / 255.0


CORRUPTIONS: dict[str, Corruption] = {
    c.name: c
    for c in (
        Corruption("brightness", "lighting", (0.1, 0.2, 0.3, 0.4, 0.5), "+- shift of [0, 1]", brightness),
        Corruption("contrast", "lighting", (0.7, 0.55, 0.4, 0.3, 0.2), "contrast factor", contrast, False),
        Corruption("gamma", "lighting", (0.25, 0.5, 0.75, 1.0, 1.25), "+- log gamma", gamma),
        Corruption(
            "lighting_gradient", "lighting", (0.3, 0.45, 0.6, 0.75, 0.9), "shadow depth", lighting_gradient
        ),
        Corruption("rotation", "pose", (6.0, 12.0, 18.0, 24.0, 30.0), "+- degrees", rotation),
        Corruption("shift", "pose", (0.04, 0.08, 0.12, 0.16, 0.2), "fraction of side", shift),
        Corruption("scale", "pose", (1.08, 1.16, 1.25, 1.35, 1.5), "zoom factor in or out", scale),
        Corruption("perspective", "pose", (0.05, 0.1, 0.15, 0.2, 0.25), "edge shrink, fraction", perspective),
        Corruption("random_patches", "occlusion", (1, 2, 3, 4, 5), "patches", random_patches),
        Corruption("eye_band", "occlusion", (0.1, 0.15, 0.2, 0.25, 0.3), "band height, fraction", eye_band),
        Corruption(
            "mouth_band", "occlusion", (0.1, 0.15, 0.2, 0.25, 0.3), "band height, fraction", mouth_band
        ),
        Corruption("hand", "occlusion", (0.1, 0.13, 0.16, 0.19, 0.22), "short semi-axis, fraction", hand),
        Corruption("blur", "quality", (0.6, 1.0, 1.5, 2.0, 3.0), "sigma, pixels", blur, False),
        Corruption("noise", "quality", (0.04, 0.07, 0.1, 0.14, 0.2), "sigma of [0, 1]", noise),
        Corruption("jpeg", "quality", (50, 30, 20, 12, 6), "JPEG quality", jpeg, False),
    )
}
FAMILIES: dict[str, tuple[str, ...]] = {}
for _c in CORRUPTIONS.values():
    FAMILIES[_c.family] = (*FAMILIES.get(_c.family, ()), _c.name)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255.0).round().clamp(0, 255).to(torch.uint8)


def corruption_rng(seed: int, name: str, severity: int) -> np.random.Generator:
    """The generator for one (seed, corruption, severity): stable across processes (no Python `hash`)."""
    if seed < 0:
        raise ValueError(f"corruption seed must be >= 0, got {seed}")
    return np.random.default_rng([seed, zlib.crc32(name.encode()), severity])


def resolve(names: list[str] | tuple[str, ...] | None) -> list[Corruption]:
    """Corruptions by name or family name (None: all), in table order, each once."""
    if names is None:
        return list(CORRUPTIONS.values())
    picked: dict[str, Corruption] = {}
    for name in names:
        if name in CORRUPTIONS:
            picked[name] = CORRUPTIONS[name]
        elif name in FAMILIES:
            picked.update({n: CORRUPTIONS[n] for n in FAMILIES[name]})
        else:
            raise KeyError(
                f"unknown corruption {name!r}: expected one of {', '.join(CORRUPTIONS)} "
                f"or a family: {', '.join(FAMILIES)}"
            )
    return [c for c in CORRUPTIONS.values() if c.name in picked]


def corrupt(
    images: np.ndarray | torch.Tensor, name: str, severity: int, seed: int = 0
) -> np.ndarray | torch.Tensor:
    """Apply corruption `name` at `severity` (1-5) to uint8 images [N, H, W]; returns the same type and shape."""
    if name not in CORRUPTIONS:
        raise KeyError(f"unknown corruption {name!r}: expected one of {', '.join(CORRUPTIONS)}")
    level = CORRUPTIONS[name].level(severity)
    as_numpy = isinstance(images, np.ndarray)
    x = torch.from_numpy(images) if as_numpy else images
    if x.dtype != torch.uint8 or x.ndim != 3:
        raise ValueError(
            f"corrupt({name!r}): expected uint8 images [N, H, W], got {x.dtype} {tuple(x.shape)}"
        )
    if len(x) == 0:
        return images
    out = _to_uint8(
        CORRUPTIONS[name].apply(x.unsqueeze(1).float() / 255.0, level, corruption_rng(seed, name, severity))
    )[:, 0]
    return out.cpu().numpy() if as_numpy else out
