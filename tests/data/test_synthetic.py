"""The synthetic FER-like set: deterministic, FER-2013-shaped, labelled synthetic, learnable, not trivial."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from fer_lightning.data import make_synthetic_fer
from fer_lightning.data.preview import preview_grid
from fer_lightning.fer2013 import CLASS_COUNTS, EMOTIONS, IMAGE_SIZE, NUM_CLASSES, SPLIT_FRACTIONS, SPLITS


@pytest.fixture(scope="module")
def faces():
    # More than one render chunk (256 faces), so chunk boundaries are covered too.
    return make_synthetic_fer(n=1000, seed=0)


def test_shapes_dtypes_and_synthetic_labels(faces) -> None:
    assert faces.images.shape == (1000, IMAGE_SIZE, IMAGE_SIZE) and faces.images.dtype == np.uint8
    assert faces.labels.dtype == np.int64 and faces.usage.dtype == np.int8 and len(faces.ids) == 1000
    assert faces.synthetic is True and faces.layout == "synthetic"
    assert faces.source == "synthetic(n=1000, seed=0, difficulty=1.0)"
    assert faces.ids[0] == "synthetic:0" and faces.ids[-1] == "synthetic:999"
    assert len(set(faces.ids)) == 1000
    # real images, not blanks: every face has contrast
    assert (faces.images.reshape(1000, -1).std(axis=1) > 5).all()


def test_deterministic_per_seed(faces) -> None:
    again = make_synthetic_fer(n=1000, seed=0)
    for name in ("images", "labels", "usage", "ids"):
        np.testing.assert_array_equal(getattr(again, name), getattr(faces, name))
    other = make_synthetic_fer(n=1000, seed=1)
    assert not np.array_equal(other.images, faces.images)
    assert not np.array_equal(other.labels, faces.labels)
    easier = make_synthetic_fer(n=1000, seed=0, difficulty=0.5)
    assert not np.array_equal(easier.images, faces.images) and "difficulty=0.5" in easier.source


def test_class_proportions_follow_fer2013_training(faces) -> None:
    counts = np.bincount(faces.labels, minlength=NUM_CLASSES)
    quota = 1000 * np.array(CLASS_COUNTS["Training"]) / sum(CLASS_COUNTS["Training"])
    assert counts.sum() == 1000 and (np.abs(counts - quota) < 1).all()
    # shuffled: the labels are not sorted by class
    assert (np.diff(faces.labels) < 0).any()

    custom = make_synthetic_fer(n=70, seed=0, class_counts=[1, 0, 1, 1, 1, 1, 5])
    np.testing.assert_array_equal(np.bincount(custom.labels, minlength=NUM_CLASSES), [7, 0, 7, 7, 7, 7, 35])


def test_splits_are_stratified(faces) -> None:
    assert faces.split_counts() == {"Training": 800, "PublicTest": 100, "PrivateTest": 100}
    for name, fraction in zip(SPLITS, SPLIT_FRACTIONS, strict=True):
        per_class = np.bincount(faces.split(name).labels, minlength=NUM_CLASSES)
        # stratified: each class is split like the whole, to within rounding
        assert (np.abs(per_class - fraction * np.bincount(faces.labels)) < 2).all(), (name, per_class)
        assert (per_class > 0).all(), name
    # three faces per class with an 80/10/10 split: each split still gets one of every class
    tiny = make_synthetic_fer(n=21, seed=3, class_counts=[1] * NUM_CLASSES)
    for name in SPLITS:
        assert sorted(tiny.split(name).labels) == list(range(NUM_CLASSES)), name
    only_train = make_synthetic_fer(n=50, seed=0, split_fractions=(1.0, 0.0, 0.0))
    assert only_train.split_counts() == {"Training": 50, "PublicTest": 0, "PrivateTest": 0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"class_counts": [1, 2, 3]}, "class_counts must be 7"),
        ({"class_counts": [0] * 7}, "positive sum"),
        ({"split_fractions": (0.5, 0.2, 0.2)}, "summing to 1"),
        ({"difficulty": -0.1}, r"difficulty must be in \[0, 3\]"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_synthetic_fer(**{"n": 10, **kwargs})


def test_preview_grid_writes_a_png(tmp_path: Path, faces) -> None:
    path = preview_grid(faces, tmp_path / "preview.png", per_class=2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _standardised(images: np.ndarray) -> torch.Tensor:
    # Per-image standardisation takes out most of the lighting and contrast nuisance, which a 3-epoch
    # run would otherwise spend its few steps on.
    x = torch.from_numpy(images).float().unsqueeze(1) / 255
    return (x - x.mean((2, 3), keepdim=True)) / (x.std((2, 3), keepdim=True) + 0.05)


def _small_cnn() -> nn.Module:
    def stage(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)
        )

    return nn.Sequential(
        nn.Conv2d(1, 8, 5, stride=2, padding=2), nn.BatchNorm2d(8), nn.ReLU(),  # 24x24
        stage(8, 16), stage(16, 32), nn.Flatten(), nn.Dropout(0.2), nn.Linear(32 * 6 * 6, NUM_CLASSES),
    )  # fmt: skip


def test_small_cnn_learns_well_above_chance_but_not_trivially() -> None:
    data = make_synthetic_fer(n=3600, seed=0)
    train, test = data.split("Training"), data.split("PublicTest", "PrivateTest")
    majority = np.bincount(test.labels).max() / len(test)
    x, y = _standardised(train.images), torch.from_numpy(train.labels)
    threads = torch.get_num_threads()
    # One thread: on a shared 2-core machine, two OpenMP threads per tiny convolution are ~10x slower.
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        net = _small_cnn()
        epochs, batch = 3, 32
        opt = torch.optim.Adam(net.parameters())
        # One-cycle: the last steps run at a small rate, so the result does not hinge on the final batch.
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=5e-3, total_steps=epochs * -(-len(x) // batch)
        )
        order = torch.Generator().manual_seed(0)
        for _ in range(epochs):
            net.train()
            for idx in torch.randperm(len(x), generator=order).split(batch):
                loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        net.eval()
        with torch.no_grad():
            predicted = net(_standardised(test.images)).argmax(1).numpy()
    finally:
        torch.set_num_threads(threads)
    accuracy = float((predicted == test.labels).mean())
    recalls = {name: float((predicted[test.labels == c] == c).mean()) for c, name in enumerate(EMOTIONS)}
    # Measured 0.62-0.67 over data and torch seeds: well above the majority class (0.25), yet not solved.
    assert majority < 0.3 and 0.45 < accuracy < 0.95, (accuracy, recalls)
    # learned beyond the biggest class: several expressions are mostly recognised
    assert sum(r > 0.5 for r in recalls.values()) >= 3, recalls
