"""Each corruption changes the image as intended at every severity, measured on images built to show it."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from fer_lightning.robustness.corruptions import (
    CORRUPTIONS,
    EYE_BAND_FILL,
    EYE_ROW,
    MOUTH_BAND_FILL,
    MOUTH_ROW,
    PATCH_SIDE,
    SEVERITIES,
    corrupt,
    resolve,
)

N, H = 32, 48


def level(name: str, severity: int) -> float:
    return CORRUPTIONS[name].level(severity)


def constant(value: int, n: int = N) -> np.ndarray:
    return np.full((n, H, H), value, np.uint8)


def texture(seed: int = 0, n: int = N, low: int = 64, high: int = 192) -> np.ndarray:
    """Smooth random texture inside [low, high]: no clipping under mild photometric changes."""
    rng = np.random.default_rng(seed)
    raw = rng.random((n, 12, 12)).astype(np.float32)
    up = np.stack([cv2.resize(r, (H, H), interpolation=cv2.INTER_CUBIC) for r in raw])
    up = (up - up.min()) / (up.max() - up.min())
    return (low + up * (high - low)).round().astype(np.uint8)


def blob(dx: float, dy: float, n: int = N) -> np.ndarray:
    """A bright Gaussian spot at (dx, dy) pixels from the centre on black."""
    yy, xx = np.mgrid[0:H, 0:H].astype(np.float32)
    c = (H - 1) / 2
    img = 255 * np.exp(-((xx - c - dx) ** 2 + (yy - c - dy) ** 2) / (2 * 1.5**2))
    return np.repeat(img.round().astype(np.uint8)[None], n, axis=0)


def centroid(images: np.ndarray) -> np.ndarray:
    """Intensity centroid (x, y) relative to the centre, per image."""
    w = images.astype(np.float64)
    yy, xx = np.mgrid[0:H, 0:H] - (H - 1) / 2
    total = w.sum((1, 2))
    return np.stack([(w * xx).sum((1, 2)) / total, (w * yy).sum((1, 2)) / total], axis=1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255**2 / mse)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_deterministic_per_seed_and_type_preserving(name: str) -> None:
    x = texture(1, n=8, low=0, high=255)
    for s in SEVERITIES:
        a, b = corrupt(x, name, s, seed=3), corrupt(x, name, s, seed=3)
        assert a.dtype == np.uint8 and a.shape == x.shape
        np.testing.assert_array_equal(a, b)
        assert (a != x).any(), f"{name} severity {s} left the images unchanged"
        t = corrupt(torch.from_numpy(x), name, s, seed=3)
        assert isinstance(t, torch.Tensor) and t.dtype == torch.uint8
        np.testing.assert_array_equal(t.numpy(), a)
    if CORRUPTIONS[name].random:
        assert (corrupt(x, name, 3, seed=3) != corrupt(x, name, 3, seed=4)).any()


def test_brightness_shifts_the_mean_by_the_level_either_way() -> None:
    for s in SEVERITIES:
        delta = corrupt(constant(128), "brightness", s).mean((1, 2)) - 128.0
        np.testing.assert_allclose(np.abs(delta), level("brightness", s) * 255, atol=1.0)
        assert (delta > 0).any() and (delta < 0).any()


def test_contrast_scales_the_spread_and_keeps_the_mean() -> None:
    x = texture()
    for s in SEVERITIES:
        y = corrupt(x, "contrast", s)
        np.testing.assert_allclose(y.std((1, 2)) / x.std((1, 2)), level("contrast", s), atol=0.02)
        np.testing.assert_allclose(y.mean((1, 2)), x.mean((1, 2)), atol=0.6)


def test_gamma_raises_to_the_power_or_its_inverse() -> None:
    for s in SEVERITIES:
        y = corrupt(constant(128), "gamma", s).mean((1, 2))
        measured = np.log(y / 255) / np.log(128 / 255)
        g = math.exp(level("gamma", s))
        near = np.minimum(np.abs(measured / g - 1), np.abs(measured * g - 1))
        assert near.max() < 0.03, (s, measured)
        assert (y > 128).any() and (y < 128).any()


def test_lighting_gradient_darkens_one_side_to_the_depth() -> None:
    for s in SEVERITIES:
        y = corrupt(constant(200), "lighting_gradient", s).astype(np.float64)
        left, right = y[:, :, 0].mean(1), y[:, :, -1].mean(1)
        dark, lit = np.minimum(left, right), np.maximum(left, right)
        np.testing.assert_allclose(lit, 200, atol=0.5)
        np.testing.assert_allclose(dark / lit, 1 - level("lighting_gradient", s), atol=0.01)
        assert (left < right).any() and (left > right).any()
        np.testing.assert_allclose(y.std(1), 0, atol=0.5)  # horizontal ramp: columns stay flat


def test_rotation_turns_a_spot_about_the_centre_by_the_angle() -> None:
    x = blob(12, 0)
    for s in SEVERITIES:
        c = centroid(corrupt(x, "rotation", s))
        angle = np.degrees(np.abs(np.arctan2(c[:, 1], c[:, 0])))
        np.testing.assert_allclose(angle, level("rotation", s), atol=1.0)
        np.testing.assert_allclose(np.hypot(c[:, 0], c[:, 1]), 12, atol=0.3)


def test_shift_moves_a_spot_by_the_fraction_of_the_side() -> None:
    x = blob(0, 0)
    for s in SEVERITIES:
        c = centroid(corrupt(x, "shift", s))
        np.testing.assert_allclose(np.hypot(c[:, 0], c[:, 1]), level("shift", s) * H, atol=0.3)
    assert np.ptp(np.arctan2(c[:, 1], c[:, 0])) > 1.0  # directions vary across images


def test_scale_moves_a_spot_out_or_in_by_the_factor() -> None:
    x = blob(6, 0)  # near the centre: zooming out must not bring in its mirror image from the padding
    for s in SEVERITIES:
        ratio = np.hypot(*centroid(corrupt(x, "scale", s)).T) / 6
        f = level("scale", s)
        near = np.minimum(np.abs(ratio / f - 1), np.abs(ratio * f - 1))
        assert near.max() < 0.04, (s, ratio)
        assert (ratio > 1).any() and (ratio < 1).any()


def test_perspective_squeezes_one_vertical_edge() -> None:
    x = constant(0)
    x[:, 12, :] = 255
    rows = np.arange(H)[None, :]
    for s in SEVERITIES:
        y = corrupt(x, "perspective", s).astype(np.float64)
        d = level("perspective", s) * (H - 1)
        expected = d + 12 * (H - 1 - 2 * d) / (H - 1)
        window = (rows >= 7) & (rows <= 30)  # skips the mirrored copy reflection padding puts above the line
        edges = [(y[:, :, col] * window * rows).sum(1) / (y[:, :, col] * window).sum(1) for col in (0, H - 1)]
        lo, hi = np.minimum(*edges), np.maximum(*edges)
        np.testing.assert_allclose(lo, 12, atol=0.3)
        np.testing.assert_allclose(hi, expected, atol=0.5)


def occluded(name: str, severity: int, seed: int = 0) -> np.ndarray:
    """Pixels an occluder covers: changed on an all-black or an all-white image (fills are never both)."""
    return (corrupt(constant(0), name, severity, seed) != 0) | (
        corrupt(constant(255), name, severity, seed) != 255
    )


def test_random_patches_cover_between_one_and_count_patches() -> None:
    patch = round(PATCH_SIDE * H) ** 2
    means = []
    for s in SEVERITIES:
        area = occluded("random_patches", s).sum((1, 2))
        assert area.min() >= patch and area.max() <= level("random_patches", s) * patch
        means.append(area.mean())
    assert np.all(np.diff(means) > 0), means


@pytest.mark.parametrize(
    ("name", "row", "fill"),
    [("eye_band", EYE_ROW, EYE_BAND_FILL), ("mouth_band", MOUTH_ROW, MOUTH_BAND_FILL)],
)
def test_bands_cover_full_rows_of_the_level_height_at_their_feature(
    name: str, row: float, fill: float
) -> None:
    for s in SEVERITIES:
        y = corrupt(constant(128), name, s)
        covered = (y != 128).all(axis=2)  # [N, H] rows fully covered
        assert not ((y != 128).any(axis=2) & ~covered).any(), "a band must span whole rows"
        np.testing.assert_allclose(covered.sum(1), level(name, s) * H, atol=1.0)
        centre = (covered * np.arange(H)).sum(1) / covered.sum(1) + 0.5
        assert np.abs(centre / H - row).max() <= 0.03 + 1 / H
        assert np.all(y[np.repeat(covered[:, :, None], H, axis=2)] == round(fill * 255))


def test_hand_covers_an_ellipse_of_the_level_size_on_the_lower_face() -> None:
    means = []
    for s in SEVERITIES:
        mask = occluded("hand", s)
        r = level("hand", s) * H
        area = mask.sum((1, 2)) / (math.pi * r * 1.4 * r)
        assert area.min() > 0.4 and area.max() < 1.06, (s, area)  # partly off the bottom edge at most
        assert np.median(area) > 0.9, (s, area)
        ys = np.nonzero(mask)[1]
        assert ys.mean() > H / 2
        means.append(mask.sum((1, 2)).mean())
    assert np.all(np.diff(means) > 0), means


def test_blur_spreads_a_step_edge_by_sigma() -> None:
    x = constant(0, n=1)
    x[:, :, H // 2 :] = 255
    for s in SEVERITIES:
        profile = corrupt(x, "blur", s)[0, H // 2].astype(np.float64)
        d = np.diff(profile)
        pos = np.arange(len(d)) + 0.5
        mean = (d * pos).sum() / d.sum()
        spread = math.sqrt((d * (pos - mean) ** 2).sum() / d.sum())
        np.testing.assert_allclose(spread, level("blur", s), rtol=0.05)


def test_noise_has_the_level_standard_deviation() -> None:
    for s in SEVERITIES:
        y = corrupt(constant(128, n=64), "noise", s).astype(np.float64)
        np.testing.assert_allclose((y - 128).std(), level("noise", s) * 255, rtol=0.05)
        assert abs(y.mean() - 128) < 1.0


def test_jpeg_quality_loss_grows_with_severity() -> None:
    x = texture(2, low=0, high=255)
    x = np.clip(x.astype(np.int16) + np.random.default_rng(0).integers(-20, 21, x.shape), 0, 255).astype(
        np.uint8
    )
    scores = [psnr(x, corrupt(x, "jpeg", s)) for s in SEVERITIES]
    assert np.all(np.diff(scores) < 0), scores
    assert scores[-1] < 30 < scores[0] + 5, scores


def test_bad_input_is_named() -> None:
    with pytest.raises(KeyError, match="unknown corruption 'fog'"):
        corrupt(constant(0), "fog", 1)
    with pytest.raises(ValueError, match="severity 6"):
        corrupt(constant(0), "blur", 6)
    with pytest.raises(ValueError, match="uint8 images"):
        corrupt(constant(0).astype(np.float32), "blur", 1)
    assert [c.name for c in resolve(["occlusion", "blur"])] == [
        "random_patches",
        "eye_band",
        "mouth_band",
        "hand",
        "blur",
    ]
