"""Samplers that shard a split across DDP processes without Lightning's padded duplicates.

Lightning's DistributedSampler pads an uneven split by repeating images, so 101 test images on 2 ranks
are scored as 102. Here evaluation pads with a marker instead, which the dataset maps to an ignored
label: every rank runs the same number of batches and every image is counted exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

PAD_INDEX = -1
IGNORE_LABEL = -100  # torch.nn.functional.cross_entropy's default ignore_index; torchmetrics is told too


class EvalShardSampler(Sampler[int]):
    """Rank r takes images r, r + W, r + 2W, ..., then PAD_INDEX up to the common shard length."""

    def __init__(self, n: int, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.rank, self.world_size = n, rank, world_size
        self.shard_len = -(-n // world_size)

    def __iter__(self) -> Iterator[int]:
        own = list(range(self.rank, self.n, self.world_size))
        return iter(own + [PAD_INDEX] * (self.shard_len - len(own)))

    def __len__(self) -> int:
        return self.shard_len


class TrainShardSampler(Sampler[int]):
    """A shuffled permutation per epoch (seeded by `seed + epoch`, identical on every rank), of which each
    rank takes every W-th element. The tail that does not divide is dropped so ranks stay in step; under
    one process nothing is dropped."""

    def __init__(self, n: int, seed: int, rank: int = 0, world_size: int = 1, shuffle: bool = True) -> None:
        self.n, self.seed, self.rank, self.world_size, self.shuffle = n, seed, rank, world_size, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        # Lightning's fit loop calls this on any sampler that has it, before each epoch.
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        usable = len(self) * self.world_size
        return iter(order[self.rank : usable : self.world_size].tolist())

    def __len__(self) -> int:
        return self.n // self.world_size
