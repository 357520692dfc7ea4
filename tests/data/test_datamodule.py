"""FER2013DataModule: split roles, leak dropping, unlabelled roles, batch shapes, DDP batch division."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from fer_lightning.data import FER2013DataModule, FERArrays, make_synthetic_fer
from fer_lightning.data.augmentation import AugmentationSpec
from fer_lightning.fer2013 import split_code


def _with_planted_leaks() -> FERArrays:
    data = make_synthetic_fer(n=400, seed=3)
    train = np.flatnonzero(data.usage == split_code("Training"))
    val = np.flatnonzero(data.usage == split_code("PrivateTest"))
    test = np.flatnonzero(data.usage == split_code("PublicTest"))
    # 3 val images and 2 test images copy a training image; one of the val copies carries another label
    data.images[val[:3]] = data.images[train[:3]]
    data.labels[val[:3]] = data.labels[train[:3]]
    data.labels[val[0]] = (data.labels[train[0]] + 1) % 7
    data.images[test[:2]] = data.images[train[10:12]]
    return data


@pytest.mark.parametrize("drop", [False, True])
def test_leaks_from_train_are_dropped_on_request_and_counted(drop: bool) -> None:
    data = _with_planted_leaks()
    dm = FER2013DataModule(source=lambda: data, drop_leaks=drop)
    dm.setup("fit")
    n_val, n_test = (int((data.usage == split_code(s)).sum()) for s in ("PrivateTest", "PublicTest"))
    if drop:
        assert dm.hygiene["dropped_leaks"] == {
            "val": {"dropped": 3, "conflicting_labels": 1},
            "test": {"dropped": 2, "conflicting_labels": 0},
        }
        assert (len(dm.val_data), len(dm.test_data)) == (n_val - 3, n_test - 2)
    else:
        assert dm.hygiene["dropped_leaks"] == {} and len(dm.val_data) == n_val
    assert dm.hygiene["sizes"] == {
        "train": len(dm.train_data),
        "val": len(dm.val_data),
        "test": len(dm.test_data),
    }


def test_default_roles_follow_the_paper_and_train_plus_val_merges() -> None:
    data = make_synthetic_fer(n=400, seed=1)
    dm = FER2013DataModule(source=lambda: data)
    dm.setup("fit")
    assert set(dm.train_data.usage) == {split_code("Training")}
    assert set(dm.val_data.usage) == {split_code("PrivateTest")}
    assert set(dm.test_data.usage) == {split_code("PublicTest")}
    merged = FER2013DataModule(source=lambda: data, train_splits=["Training", "PrivateTest"])
    merged.setup("fit")
    assert len(merged.train_data) == len(dm.train_data) + len(dm.val_data)


def test_batches_carry_views_and_labels() -> None:
    spec = AugmentationSpec()
    dm = FER2013DataModule(source=partial(make_synthetic_fer, n=200), augmentation=spec, batch_size=8)
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 10, 1, 40, 40) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= 0.0 and x.max() <= 1.0
    images, labels = next(iter(dm.val_dataloader()))
    views = dm.eval_views(images)
    assert views.shape == (8, 10, 1, 40, 40)
    torch.testing.assert_close(views[:, 4, 0], images[:, 4:44, 4:44].float() / 255)  # the centre crop


def test_a_role_without_labels_or_images_is_a_clear_error() -> None:
    data = make_synthetic_fer(n=200, seed=0)
    data.labels[data.usage == split_code("PublicTest")] = -1
    dm = FER2013DataModule(source=lambda: data)
    with pytest.raises(
        ValueError, match=r"data.test_splits=\['PublicTest'\]: \d+ images of synthetic.* carry no label"
    ):
        dm.setup("fit")
    only_train = data.split("Training")
    with pytest.raises(ValueError, match=r"data.val_splits=\['PrivateTest'\] selects no image"):
        FER2013DataModule(source=lambda: only_train).setup("fit")


def test_global_batch_must_divide_across_processes() -> None:
    dm = FER2013DataModule(source=partial(make_synthetic_fer, n=200), batch_size=64)
    dm.check_world_size(4)
    with pytest.raises(ValueError, match="data.batch_size=64 does not divide across 3 processes"):
        dm.check_world_size(3)


def test_the_data_loads_in_load_or_setup_not_when_an_attribute_is_read() -> None:
    reads = []
    dm = FER2013DataModule(source=lambda: reads.append(1) or make_synthetic_fer(n=100, seed=0))
    with pytest.raises(RuntimeError, match="not loaded; call load"):
        _ = dm.synthetic
    assert reads == []
    assert dm.load() is dm.load() and reads == [1]
    dm.setup("fit")
    assert dm.synthetic and reads == [1]


@pytest.mark.parametrize(("old", "new"), [("cpu", "per_image"), ("gpu", "batched")])
def test_old_pipeline_names_still_work_and_name_the_new_one(old: str, new: str) -> None:
    with pytest.warns(FutureWarning, match=f"data.pipeline={old} is deprecated.*use data.pipeline={new}"):
        dm = FER2013DataModule(source=partial(make_synthetic_fer, n=100), pipeline=old)
    assert dm.pipeline.name == new
    with pytest.raises(ValueError, match="data.pipeline='tpu': expected one of per_image, batched"):
        FER2013DataModule(source=partial(make_synthetic_fer, n=100), pipeline="tpu")
