"""Fidelity of the batched GPU augmentation to the paper's torchvision pipeline.

Parameter distributions are compared with torchvision's own `get_params` on thousands of draws (two-sample
KS tests, binomial and chi-square tests for rates); seeds are fixed, so each test is deterministic, and a
planted wrong sampler shows the same test has the power to fail. Images: faces from scikit-image's
bundled LFW subset, upscaled to 48x48.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats
from skimage.data import lfw_subset
from torch.nn import functional as F
from torchvision import transforms as T
from torchvision.transforms.v2 import functional as TF

from fer_lightning.data.augmentation import AugmentationSpec
from fer_lightning.data.gpu_augment import GPUAugment
from fer_lightning.data.transforms import crop_views, train_views

PAPER = AugmentationSpec()
N = 4000
ALPHA = 1e-3  # a matching pair must not be rejected at this level


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    """100 real faces, uint8 [100, 48, 48], kept within [10, 245] so that an exact 0 can only be fill."""
    small = torch.from_numpy(lfw_subset()[:100]).float().unsqueeze(1)
    big = F.interpolate(small, size=48, mode="bicubic", antialias=True).clamp(0, 1)
    return (big * 235 + 10).round().to(torch.uint8).squeeze(1)


@contextmanager
def one_thread() -> Iterator[None]:
    """Per-image torchvision work on one thread, as in a DataLoader worker: intra-op threads on 48x48
    tensors make it ~10x slower on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def per_image(spec: AugmentationSpec, face: torch.Tensor, n: int) -> torch.Tensor:
    """n draws of the CPU pipeline on one image."""
    views = train_views(spec)
    with one_thread():
        return torch.stack([views(face[None]) for _ in range(n)])


def ours(spec: AugmentationSpec = PAPER, n: int = N, seed: int = 0):
    return GPUAugment(spec).sample_params(n, torch.Generator().manual_seed(seed))


def torchvision_draws(fn, n: int = N, seed: int = 1) -> np.ndarray:
    torch.manual_seed(seed)
    return np.array([fn() for _ in range(n)], dtype=np.float64)


def assert_same(a, b, what: str) -> None:
    p = stats.ks_2samp(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)).pvalue
    assert p > ALPHA, f"{what}: GPU and torchvision distributions differ (KS p={p:.2g})"


def assert_same_counts(a, b, what: str) -> None:
    """Chi-square on the value counts of two discrete samples."""
    values = np.union1d(a, b)
    table = [[(x == v).sum() for v in values] for x in (a, b)]
    pv = stats.chi2_contingency(table).pvalue
    assert pv > ALPHA, f"{what}: GPU and torchvision value counts differ (chi-square p={pv:.2g})"


def assert_rate(hits: int, n: int, p: float, what: str) -> None:
    pv = stats.binomtest(int(hits), n, p).pvalue
    assert pv > ALPHA, f"{what}: {hits}/{n} is not a rate of {p} (binomial p={pv:.2g})"


def assert_same_rate(hits_a: int, n_a: int, hits_b: int, n_b: int, what: str) -> None:
    table = [[hits_a, n_a - hits_a], [hits_b, n_b - hits_b]]
    pv = stats.chi2_contingency(table).pvalue
    assert pv > ALPHA, f"{what}: rates {hits_a}/{n_a} vs {hits_b}/{n_b} differ (chi-square p={pv:.2g})"


def test_resized_crop_follows_torchvision_rejection_sampling() -> None:
    image = torch.zeros(1, 48, 48)
    ref = torchvision_draws(lambda: T.RandomResizedCrop.get_params(image, [0.8, 1.2], [3 / 4, 4 / 3]))
    top, left, h, w = ours().crop.double().numpy().T
    rtop, rleft, rh, rw = ref.T
    assert_same(h * w, rh * rw, "crop area")
    assert_same(w / h, rw / rh, "crop aspect")
    assert_same(top, rtop, "crop top")
    assert_same(left, rleft, "crop left")
    full = lambda hh, ww: int(((hh == 48) & (ww == 48)).sum())  # noqa: E731 - fallback and exact fits
    assert_same_rate(full(h, w), N, full(rh, rw), N, "whole-image crops")
    # Power check: clamping oversize areas to the image instead of rejecting them is a different law.
    naive = torch.empty(N).uniform_(0.8, 1.2).clamp(max=1.0).numpy() * 48 * 48
    assert stats.ks_2samp(naive, rh * rw).pvalue < 1e-6


def test_translation_flip_and_rotation_follow_torchvision() -> None:
    p = ours()
    shifts = torchvision_draws(
        lambda: T.RandomAffine.get_params([0.0, 0.0], [0.2, 0.2], None, None, [48, 48])[1]
    )
    assert_rate(p.translated.sum(), N, PAPER.translate_p, "translation rate")
    applied = p.translate[p.translated].numpy()
    assert (applied == np.round(applied)).all(), "torchvision shifts by whole pixels"
    assert_same_counts(applied[:, 0], shifts[:, 0], "shift x")
    assert_same_counts(applied[:, 1], shifts[:, 1], "shift y")
    assert (p.translate[~p.translated] == 0).all()
    assert_rate(p.flip.sum(), N, PAPER.hflip_p, "flip rate")
    angles = torchvision_draws(lambda: T.RandomRotation.get_params([-10.0, 10.0]))
    assert_rate(p.rotated.sum(), N, PAPER.rotate_p, "rotation rate")
    assert_same(p.angle[p.rotated].numpy(), angles, "rotation angle")
    # Power check: uniform whole pixels in -10..10 differ from round(U(-9.6, 9.6)) only at the ends.
    with pytest.raises(AssertionError, match="shift"):
        assert_same_counts(torch.randint(-10, 11, (N,)).numpy(), shifts[:, 0], "shift")


def test_erasing_follows_torchvision_per_crop() -> None:
    p = ours(n=N // 10)
    boxes, erased = p.erase.view(-1, 4), p.erased.view(-1)
    crop = torch.ones(1, PAPER.crop_size, PAPER.crop_size)
    eraser = T.RandomErasing(p=PAPER.erasing_p, scale=PAPER.erasing_scale, ratio=PAPER.erasing_ratio, value=0)
    ref_erased = torchvision_draws(lambda: bool((eraser(crop) == 0).any()))
    assert_same_rate(int(erased.sum()), len(erased), int(ref_erased.sum()), N, "erasing rate")
    ref = torchvision_draws(
        lambda: T.RandomErasing.get_params(crop, PAPER.erasing_scale, PAPER.erasing_ratio, [0.0])[:4]
    )
    top, left, h, w = boxes[erased].double().numpy().T
    rtop, rleft, rh, rw = ref.T
    # torchvision's fit test is strict: a box never spans a whole side of the crop.
    assert max(h.max(), w.max()) < PAPER.crop_size
    assert_same(h * w, rh * rw, "erased area")
    assert_same(h / w, rh / rw, "erased aspect")
    assert_same(top, rtop, "erased top")
    assert_same(left, rleft, "erased left")
    # Each crop draws its own box: the ten boxes of an image are not copies of one another.
    assert (p.erase[:, 1:] != p.erase[:, :1]).any(dim=-1).float().mean() > 0.5


def test_crop_views_match_torchvision_tencrop() -> None:
    images = torch.randint(0, 256, (6, 48, 48), dtype=torch.uint8)
    for crop in (40, 41, 44):
        views = crop_views(images.unsqueeze(1).float() / 255, AugmentationSpec(crop_size=crop, ten_crop=True))
        assert views.shape == (6, 10, 1, crop, crop)
        for b, image in enumerate(images):
            pil = [torch.from_numpy(np.array(c)) for c in T.TenCrop(crop)(Image.fromarray(image.numpy()))]
            assert torch.equal((views[b, :, 0] * 255).round().to(torch.uint8), torch.stack(pil))
            assert torch.equal(views[b], torch.stack(TF.ten_crop(image[None].float() / 255, crop)))
        # The order the module's per-view averaging relies on: tl, tr, bl, br, centre, then mirrored.
        assert torch.equal(views[:, 1, 0], images[:, :crop, -crop:].float() / 255)
        assert torch.equal(views[:, 5, 0], images.flip(-1)[:, :crop, :crop].float() / 255)
        centre = crop_views(
            images.unsqueeze(1).float() / 255, AugmentationSpec(crop_size=crop, ten_crop=False)
        )
        assert torch.equal(centre[:, 0], TF.center_crop(images.unsqueeze(1).float() / 255, crop))


def torchvision_chain(image: torch.Tensor, p, k: int, spec: AugmentationSpec) -> torch.Tensor:
    """The paper's transforms with the GPU path's parameters for sample k, as torchvision functionals on
    uint8 (the CPU pipeline's kernels)."""
    top, left, h, w = (int(v) for v in p.crop[k])
    x = TF.resized_crop(image[None], top, left, h, w, [spec.resize, spec.resize], antialias=True)
    if p.translated[k]:
        x = TF.affine(x, angle=0.0, translate=[int(v) for v in p.translate[k]], scale=1.0, shear=[0.0, 0.0])
    if p.flip[k]:
        x = TF.horizontal_flip(x)
    if p.rotated[k]:
        x = TF.rotate(x, float(p.angle[k]))
    views = torch.stack(TF.ten_crop(x, spec.crop_size)).float() / 255
    for v, (i, j, eh, ew) in enumerate(p.erase[k].int().tolist()):
        views[v] = TF.erase(views[v], i, j, eh, ew, torch.tensor(0.0))
    return views


def test_same_parameters_give_torchvision_images(faces: torch.Tensor) -> None:
    aug = GPUAugment(PAPER)
    p = aug.sample_params(len(faces), torch.Generator().manual_seed(3))
    got = aug.apply(faces, p)
    with one_thread():
        ref = torch.stack([torchvision_chain(img, p, k, PAPER) for k, img in enumerate(faces)])
    err = (got - ref).abs().flatten(1)
    # Crop, shift, flip, ten-crop and erasing are the same to the uint8 rounding of torchvision's resize.
    assert err[~p.rotated].max() <= 1.5 / 255
    # Rotation: one bilinear lookup here, nearest neighbour after a bilinear resize in torchvision.
    assert err[p.rotated].mean() < 0.03
    # What is filled with 0 (shifted or rotated in from outside, erased) matches pixel for pixel, up to
    # where a rotated frame's edge crosses a pixel centre.
    white = torch.full_like(faces, 255)
    holes = aug.apply(white, p) == 0
    with one_thread():
        ref_holes = torch.stack([torchvision_chain(img, p, k, PAPER) for k, img in enumerate(white)]) == 0
    assert holes.float().mean() > 0.05
    assert (holes ^ ref_holes).float().mean() < 0.002
    assert torch.equal(holes[~p.rotated], ref_holes[~p.rotated])


def test_augmented_views_match_cpu_pipeline_in_distribution(faces: torch.Tensor) -> None:
    """End to end on one face: many augmentations by each pipeline, compared per view on brightness and
    on the share of filled pixels (shift, rotation and erasing all show there)."""
    n, face = 1000, faces[7]
    torch.manual_seed(5)
    gpu = GPUAugment(PAPER)(face.expand(n, 48, 48))
    cpu = per_image(PAPER, face, n)
    assert gpu.shape == cpu.shape == (n, 10, 1, 40, 40)
    for name, stat in (
        ("mean", lambda x: x.mean(dim=(-1, -2, -3))),
        ("filled", lambda x: (x == 0).float().mean(dim=(-1, -2, -3))),
    ):
        a, b = stat(gpu), stat(cpu)
        for v in (0, 4, 9):
            assert_same(a[:, v].numpy(), b[:, v].numpy(), f"{name} of view {v}")


def test_photometric_jitter_matches_cpu_pipeline(faces: torch.Tensor) -> None:
    spec = AugmentationSpec(
        ten_crop=False, crop_scale=(1, 1), crop_ratio=(1, 1), translate_p=0, hflip_p=0, rotate_p=0,
        erasing_p=0, brightness=0.4, contrast=0.5, gamma=0.3,
    )  # fmt: skip
    n, face = 1500, faces[11]
    torch.manual_seed(6)
    gpu = GPUAugment(spec)(face.expand(n, 48, 48))
    cpu = per_image(spec, face, n)
    assert_same(gpu.mean(dim=(1, 2, 3, 4)).numpy(), cpu.mean(dim=(1, 2, 3, 4)).numpy(), "mean intensity")
    assert_same(gpu.std(dim=(1, 2, 3, 4)).numpy(), cpu.std(dim=(1, 2, 3, 4)).numpy(), "contrast (std)")
    # Photometric off by default: the paper's spec leaves intensities alone.
    plain = dataclasses.replace(spec, brightness=0.0, contrast=0.0, gamma=0.0)
    out = GPUAugment(plain)(face[None])
    assert torch.allclose(out[0, 0, 0], TF.center_crop(face[None].float() / 255, 40)[0], atol=1e-6)


def test_output_contract_and_seeding(faces: torch.Tensor) -> None:
    out = GPUAugment(PAPER, torch.Generator().manual_seed(0))(faces[:8])
    again = GPUAugment(PAPER, torch.Generator().manual_seed(0))(faces[:8])
    assert out.shape == (8, 10, 1, 40, 40) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, again)
    # Per-sample parameters: one image repeated comes out differently each time.
    same = GPUAugment(PAPER)(faces[:1].expand(16, 48, 48))
    assert (same[1:] != same[:1]).flatten(1).any(dim=1).all()
    centre = GPUAugment(AugmentationSpec(ten_crop=False))(faces[:4])
    assert centre.shape == (4, 1, 1, 40, 40)
    with pytest.raises(ValueError, match=r"uint8 images \[B, H, W\], got torch.uint8 \(4, 1, 48, 48\)"):
        GPUAugment(PAPER)(faces[:4].unsqueeze(1))
    with pytest.raises(ValueError, match=r"got torch.float32"):
        GPUAugment(PAPER)(faces[:4].float() / 255)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_without_host_sync(faces: torch.Tensor) -> None:
    aug = GPUAugment(PAPER)
    p = aug.sample_params(len(faces), torch.Generator().manual_seed(4))
    cpu = aug.apply(faces, p)
    x = faces.cuda()
    torch.cuda.set_sync_debug_mode("error")
    try:
        gpu = aug.apply(x, p.to("cuda"))
        aug(x)  # parameters drawn on the device too
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert (gpu.cpu() - cpu).abs().mean() < 1e-3
