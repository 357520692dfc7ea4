"""The two training pipelines of `FER2013DataModule`, chosen once by name (`data.pipeline`):

- `per_image`: torchvision v2 transforms, one image at a time, in DataLoader workers (the paper's way);
- `batched`: the split stays on the batch's device as uint8, only indices travel through the DataLoader,
  and `GPUAugment` augments the whole batch after the transfer (any device; the point is the GPU).

Both draw from the distributions of the same `AugmentationSpec`, so switching does not change the recipe.
Evaluation is the same for both (the DataModule cuts the test-time views after the transfer).
"""

from __future__ import annotations

import warnings
from typing import Protocol

import torch
from torch.utils.data import Dataset

from fer_lightning.data.augmentation import AugmentationSpec
from fer_lightning.data.gpu_augment import GPUAugment
from fer_lightning.data.transforms import train_views

Batch = tuple[torch.Tensor, torch.Tensor]


class TrainPipeline(Protocol):
    """How training batches are made: the dataset the train DataLoader reads, and what happens to a
    batch once it is on the device."""

    name: str
    # Whether the DataLoader's workers do the pipeline's work (data.num_workers applies).
    uses_workers: bool

    def train_dataset(self, images: torch.Tensor, labels: torch.Tensor) -> Dataset: ...

    def on_device(self, batch, rank: int) -> Batch: ...


class _AugmentedImages(Dataset):
    """One image in, its augmented views out (runs in DataLoader workers)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, spec: AugmentationSpec) -> None:
        self.images, self.labels, self.views = images, labels, train_views(spec)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Batch:
        return self.views(self.images[i : i + 1]), self.labels[i]


class _Indices(Dataset):
    """Only indices travel; the images already live on the device."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class PerImagePipeline:
    name = "per_image"
    uses_workers = True

    def __init__(self, spec: AugmentationSpec) -> None:
        self.spec = spec

    def train_dataset(self, images: torch.Tensor, labels: torch.Tensor) -> Dataset:
        return _AugmentedImages(images, labels, self.spec)

    def on_device(self, batch: Batch, rank: int) -> Batch:
        return batch


class BatchedPipeline:
    name = "batched"
    # Index batches are cheap to collate in the main process; workers would only add IPC.
    uses_workers = False

    def __init__(self, spec: AugmentationSpec) -> None:
        self.spec = spec
        self._split: Batch | None = None
        self._on_device: Batch | None = None
        self._augment: GPUAugment | None = None

    def train_dataset(self, images: torch.Tensor, labels: torch.Tensor) -> Dataset:
        self._split, self._on_device = (images, labels), None
        return _Indices(len(images))

    def on_device(self, index: torch.Tensor, rank: int) -> Batch:
        if self._split is None:
            raise RuntimeError("batched pipeline: train_dataset() was not called before the first batch")
        if self._on_device is None or self._on_device[0].device != index.device:
            # The whole split moves once (FER-2013 Training is 66 MB as uint8) and stays there.
            self._on_device = (self._split[0].to(index.device), self._split[1].to(index.device))
            # seed_everything gives every rank the same global RNG; a per-rank generator makes each
            # process draw its own augmentations, as the per-image pipeline's per-rank worker seeds do.
            generator = torch.Generator(device=index.device).manual_seed(torch.initial_seed() + rank)
            self._augment = GPUAugment(self.spec, generator)
        images, labels = self._on_device
        return self._augment(images[index]), labels[index]


PIPELINES: dict[str, type[PerImagePipeline] | type[BatchedPipeline]] = {
    PerImagePipeline.name: PerImagePipeline,
    BatchedPipeline.name: BatchedPipeline,
}
# The names of 0.1, which said where the work ran rather than what it does; accepted for one release.
ALIASES = {"cpu": PerImagePipeline.name, "gpu": BatchedPipeline.name}


def make_pipeline(name: str, spec: AugmentationSpec) -> TrainPipeline:
    """The pipeline called `name` (or one of its old names, with a warning that gives the new one)."""
    if name in ALIASES:
        # FutureWarning, not DeprecationWarning: Python shows it to the user running the app by default.
        warnings.warn(
            f"data.pipeline={name} is deprecated and will be removed: use data.pipeline={ALIASES[name]} "
            "(the same pipeline)",
            FutureWarning,
            stacklevel=3,
        )
        name = ALIASES[name]
    if name not in PIPELINES:
        raise ValueError(f"data.pipeline={name!r}: expected one of {', '.join(PIPELINES)}")
    return PIPELINES[name](spec)
