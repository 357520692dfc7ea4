"""`FER2013DataModule`: split roles over `FERArrays`, with a CPU or a GPU augmentation pipeline.

The module knows splits, not file formats: `source` is any callable returning `FERArrays` (a reader or the
synthetic generator, built by Hydra as a partial). Batches reach the LightningModule as
`(x, y)` with x float [B, V, 1, c, c] (V crops per image) and y int64 [B], whatever the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from fer_lightning.classes import EMOTIONS
from fer_lightning.data.arrays import FERArrays
from fer_lightning.data.augmentation import AugmentationSpec
from fer_lightning.data.sampling import IGNORE_LABEL, PAD_INDEX, EvalShardSampler, TrainShardSampler
from fer_lightning.data.transforms import eval_views, train_views

Pipeline = Literal["cpu", "gpu"]


class _AugmentedImages(Dataset):
    """CPU pipeline, training: one image in, its augmented views out (runs in DataLoader workers)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, spec: AugmentationSpec) -> None:
        self.images, self.labels, self.views = images, labels, train_views(spec)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.views(self.images[i : i + 1]), self.labels[i]


class _Indices(Dataset):
    """GPU pipeline, training: only indices travel; the images already live on the device."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class _EvalImages(Dataset):
    """Raw uint8 images; the test-time crops are cut batch-wise after transfer to the device."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if i == PAD_INDEX:
            return self.images[0], torch.tensor(IGNORE_LABEL)
        return self.images[i], self.labels[i]


class FER2013DataModule(pl.LightningDataModule):
    """FER-2013 (or anything shaped like it) with configurable split roles.

    Default roles follow Khaireddin & Chen's code: train = Training, val = PrivateTest (model selection and
    the plateau scheduler), test = PublicTest (the 73.28 % headline). Fine-tuning on train + val is
    `train_splits=[Training, PrivateTest]`. `batch_size` is the global batch; each of W processes gets
    batch_size / W, so a DDP run trains with the same global batch as one device.
    """

    def __init__(
        self,
        source: Callable[[], FERArrays],
        augmentation: AugmentationSpec | None = None,
        train_splits: Sequence[str] = ("Training",),
        val_splits: Sequence[str] = ("PrivateTest",),
        test_splits: Sequence[str] = ("PublicTest",),
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pipeline: Pipeline = "cpu",
        drop_leaks: bool = False,
        shuffle_seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        if pipeline not in ("cpu", "gpu"):
            raise ValueError(f"data.pipeline={pipeline!r}: expected 'cpu' or 'gpu'")
        if batch_size < 1:
            raise ValueError(f"data.batch_size={batch_size}: expected a positive integer")
        self.source = source
        self.augmentation = augmentation or AugmentationSpec()
        self.roles = {"train": tuple(train_splits), "val": tuple(val_splits), "test": tuple(test_splits)}
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pipeline = pipeline
        self.drop_leaks = drop_leaks
        self.shuffle_seed = shuffle_seed
        self.pin_memory = pin_memory
        self.class_names = EMOTIONS
        self.arrays: FERArrays | None = None
        self.train_data: FERArrays | None = None
        self.val_data: FERArrays | None = None
        self.test_data: FERArrays | None = None
        self.hygiene: dict = {}
        self._device_train: tuple[torch.Tensor, torch.Tensor] | None = None
        self._gpu_augment: Callable[[torch.Tensor], torch.Tensor] | None = None

    # -- splits -------------------------------------------------------------------------------------------

    @property
    def synthetic(self) -> bool:
        return self._loaded().synthetic

    def _loaded(self) -> FERArrays:
        if self.arrays is None:
            self.arrays = self.source()
        return self.arrays

    def _role(self, role: str) -> FERArrays:
        arrays = self._loaded()
        splits = self.roles[role]
        data = arrays.split(*splits)
        if len(data) == 0:
            raise ValueError(
                f"data.{role}_splits={list(splits)} selects no image of {arrays.source} "
                f"(layout {arrays.layout}; images per split: {arrays.split_counts()})"
            )
        unlabelled = int((data.labels < 0).sum())
        if unlabelled:
            raise ValueError(
                f"data.{role}_splits={list(splits)}: {unlabelled} images of {arrays.source} carry no label "
                f"(layout {arrays.layout}); a {role} role needs labelled images"
            )
        return data

    def check_world_size(self, world_size: int) -> None:
        """The global batch must split evenly over the processes (called by train() before fitting)."""
        for name, size in (("batch_size", self.batch_size), ("eval_batch_size", self.eval_batch_size)):
            if size % world_size:
                raise ValueError(
                    f"data.{name}={size} does not divide across {world_size} processes "
                    f"(devices x nodes); choose a multiple of {world_size}"
                )

    def setup(self, stage: str | None = None) -> None:
        self.check_world_size(self._rank_world()[1])
        if self.train_data is not None:
            return
        self.train_data, self.val_data, self.test_data = (self._role(r) for r in ("train", "val", "test"))
        dropped: dict[str, dict] = {}
        if self.drop_leaks:
            from fer_lightning.data.audit import drop_leaks

            for role in ("val", "test"):
                kept, record = drop_leaks(self.train_data, getattr(self, f"{role}_data"))
                setattr(self, f"{role}_data", kept)
                dropped[role] = {k: record[k] for k in ("dropped", "conflicting_labels")}
        self.hygiene = {
            "drop_leaks": self.drop_leaks,
            "dropped_leaks": dropped,
            "skipped_rows": len(self._loaded().skipped),
            "sizes": {r: len(getattr(self, f"{r}_data")) for r in ("train", "val", "test")},
        }

    # -- loaders ------------------------------------------------------------------------------------------

    def _rank_world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size

    def _per_device(self, batch_size: int) -> int:
        return batch_size // self._rank_world()[1]

    def _loader(self, dataset: Dataset, sampler, batch_size: int) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank_world()
        images, labels = _tensors(self.train_data)
        dataset = (
            _Indices(len(images))
            if self.pipeline == "gpu"
            else _AugmentedImages(images, labels, self.augmentation)
        )
        sampler = TrainShardSampler(len(images), self.shuffle_seed, rank, world)
        # Index batches are cheap to collate in the main process; workers would only add IPC.
        if self.pipeline == "gpu":
            return DataLoader(dataset, batch_size=self._per_device(self.batch_size), sampler=sampler)
        return self._loader(dataset, sampler, self._per_device(self.batch_size))

    def _eval_loader(self, data: FERArrays) -> DataLoader:
        rank, world = self._rank_world()
        images, labels = _tensors(data)
        sampler = EvalShardSampler(len(images), rank, world)
        return DataLoader(
            _EvalImages(images, labels), batch_size=self._per_device(self.eval_batch_size), sampler=sampler
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.val_data)

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_data)

    # -- device-side work -----------------------------------------------------------------------------------

    def eval_views(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [B, 48, 48] -> float [B, V, 1, c, c]: the test-time crops of this data's augmentation spec."""
        return eval_views(images, self.augmentation)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if self.trainer is not None and self.trainer.training:
            if self.pipeline == "gpu":
                return self._gpu_train_batch(batch)
            return batch
        images, labels = batch
        return self.eval_views(images), labels

    def _gpu_train_batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._device_train is None or self._device_train[0].device != index.device:
            # The whole split moves once (FER-2013 Training is 66 MB as uint8) and stays there.
            images, labels = _tensors(self.train_data)
            self._device_train = (images.to(index.device), labels.to(index.device))
            from fer_lightning.data.gpu_augment import GPUAugment

            # seed_everything gives every rank the same global RNG; a per-rank generator makes each
            # process draw its own augmentations, as the CPU path's per-rank worker seeds do.
            rank = self._rank_world()[0]
            generator = torch.Generator(device=index.device).manual_seed(torch.initial_seed() + rank)
            self._gpu_augment = GPUAugment(self.augmentation, generator)
        images, labels = self._device_train
        return self._gpu_augment(images[index]), labels[index]


def _tensors(data: FERArrays) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(np.ascontiguousarray(data.images)), torch.from_numpy(data.labels)
