"""`FER2013DataModule`: split roles and hygiene over `FERArrays`, batches through one training pipeline.

The module knows splits, not file formats: `source` is any callable returning `FERArrays` (a reader or the
synthetic generator, built by Hydra as a partial). Batches reach the LightningModule as
`(x, y)` with x float [B, V, 1, c, c] (V crops per image) and y int64 [B], whatever the pipeline
(fer_lightning/data/pipelines.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from fer_lightning.data.arrays import FERArrays
from fer_lightning.data.audit import drop_leaks
from fer_lightning.data.augmentation import AugmentationSpec
from fer_lightning.data.errors import FERDataError
from fer_lightning.data.pipelines import make_pipeline
from fer_lightning.data.sampling import IGNORE_LABEL, PAD_INDEX, EvalShardSampler, TrainShardSampler
from fer_lightning.data.transforms import eval_views
from fer_lightning.fer2013 import PAPER_ROLES

ROLES = ("train", "val", "test")


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
    batch_size / W, so a DDP run trains with the same global batch as one device. `pipeline` is
    `per_image` or `batched` (fer_lightning/data/pipelines.py).

    The data is read by `load()` (called by `setup()`, or before it by whoever needs `synthetic` early).
    """

    def __init__(
        self,
        source: Callable[[], FERArrays],
        augmentation: AugmentationSpec | None = None,
        train_splits: Sequence[str] = PAPER_ROLES["train"],
        val_splits: Sequence[str] = PAPER_ROLES["val"],
        test_splits: Sequence[str] = PAPER_ROLES["test"],
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pipeline: str = "per_image",
        drop_leaks: bool = False,
        shuffle_seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"data.batch_size={batch_size}: expected a positive integer")
        self.source = source
        self.augmentation = augmentation or AugmentationSpec()
        self.pipeline = make_pipeline(pipeline, self.augmentation)
        self.roles = {"train": tuple(train_splits), "val": tuple(val_splits), "test": tuple(test_splits)}
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.drop_leaks = drop_leaks
        self.shuffle_seed = shuffle_seed
        self.pin_memory = pin_memory
        self.arrays: FERArrays | None = None
        self.train_data: FERArrays | None = None
        self.val_data: FERArrays | None = None
        self.test_data: FERArrays | None = None
        self.hygiene: dict = {}

    # -- splits -------------------------------------------------------------------------------------------

    def load(self) -> FERArrays:
        """Read the source (once; the whole dataset is kept in memory) and return it."""
        if self.arrays is None:
            self.arrays = self.source()
        return self.arrays

    @property
    def synthetic(self) -> bool:
        """Whether the data is generated: known once it is loaded."""
        if self.arrays is None:
            raise RuntimeError("FER2013DataModule.synthetic: the data is not loaded; call load() or setup()")
        return self.arrays.synthetic

    def _role(self, role: str) -> FERArrays:
        arrays = self.load()
        splits = self.roles[role]
        if len(arrays) == 0:
            if arrays.skipped:
                why = f"all {len(arrays.skipped)} of its rows/files were skipped as bad"
            else:
                why = "it has a header and no data rows" if "csv" in arrays.layout else "it holds no images"
            raise FERDataError(
                f"{arrays.source}: 0 images, as {why}; so the {role} split (data.{role}_splits="
                f"{list(splits)}) is empty"
            )
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
        self.train_data, self.val_data, self.test_data = (self._role(r) for r in ROLES)
        dropped: dict[str, dict] = {}
        if self.drop_leaks:
            for role in ("val", "test"):
                kept, record = drop_leaks(self.train_data, getattr(self, f"{role}_data"))
                setattr(self, f"{role}_data", kept)
                dropped[role] = {k: record[k] for k in ("dropped", "conflicting_labels")}
        self.hygiene = {
            "drop_leaks": self.drop_leaks,
            "dropped_leaks": dropped,
            "skipped_rows": len(self.load().skipped),
            "converted_images": {k: len(ids) for k, ids in self.load().conversions.items()},
            "sizes": {r: len(getattr(self, f"{r}_data")) for r in ROLES},
        }

    # -- loaders ------------------------------------------------------------------------------------------

    def _rank_world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size

    def _per_device(self, batch_size: int) -> int:
        return batch_size // self._rank_world()[1]

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank_world()
        images, labels = _tensors(self.train_data)
        dataset = self.pipeline.train_dataset(images, labels)
        sampler: Sampler[int] = TrainShardSampler(len(images), self.shuffle_seed, rank, world)
        batch_size = self._per_device(self.batch_size)
        if not self.pipeline.uses_workers:
            return DataLoader(dataset, batch_size=batch_size, sampler=sampler)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
        )

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
            return self.pipeline.on_device(batch, self._rank_world()[0])
        images, labels = batch
        return self.eval_views(images), labels


def _tensors(data: FERArrays) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(np.ascontiguousarray(data.images)), torch.from_numpy(data.labels)
