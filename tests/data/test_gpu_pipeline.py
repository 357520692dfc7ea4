"""The DataModule's GPU pipeline under the real Trainer: which images each step trains on, per epoch and
per DDP process. Each image is a constant of value index + 1, so a batch tells which images it holds
(the brightest pixel of its crops) whatever the augmentation did to it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf

from fer_lightning.data.arrays import FERArrays
from fer_lightning.data.augmentation import AugmentationSpec
from fer_lightning.data.datamodule import FER2013DataModule
from fer_lightning.module import FERClassifier

PAPER = AugmentationSpec()


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread per process: with two DDP processes, or other jobs, on two cores, more threads
    make these tiny steps many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def indexed_arrays(n_train: int, n_eval: int = 8) -> FERArrays:
    n = n_train + 2 * n_eval
    assert n < 255
    images = np.broadcast_to(np.arange(1, n + 1, dtype=np.uint8)[:, None, None], (n, 48, 48)).copy()
    usage = np.repeat([0, 1, 2], [n_train, n_eval, n_eval]).astype(np.int8)
    return FERArrays(
        images=images,
        labels=np.arange(n) % 7,
        usage=usage,
        ids=np.array([f"const:{i}" for i in range(n)]),
        source="constant images",
        layout="synthetic",
        synthetic=True,
    )


class RecordBatches(pl.Callback):
    """Per epoch: the image indices, labels and erased/filled-pixel masks of each training batch,
    written to <dir>/rank<r>.json when training ends."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir, self.seen = out_dir, []

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module, batch, batch_idx: int) -> None:
        x, y = batch
        index = (x.amax(dim=(1, 2, 3, 4)) * 255).round().long() - 1
        self.seen.append(
            {
                "epoch": trainer.current_epoch,
                "index": index.tolist(),
                "labels": y.tolist(),
                "shape": list(x.shape),
                "holes": (x == 0).flatten(1).tolist(),
            }
        )

    def on_train_end(self, trainer: pl.Trainer, pl_module) -> None:
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(self.seen))


def fit(compose_cfg, tmp_path: Path, arrays: FERArrays, epochs: int, **trainer_kw) -> list[list[dict]]:
    cfg = compose_cfg("model.net.width=0.0625", "scheduler=constant")
    model, optimizer = (OmegaConf.to_container(cfg[k], resolve=True) for k in ("model", "optimizer"))
    module = FERClassifier(model=model, optimizer=optimizer, scheduler=None)
    dm = FER2013DataModule(source=lambda: arrays, augmentation=PAPER, batch_size=16, pipeline="batched")
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=epochs,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        callbacks=[RecordBatches(tmp_path)],
        **trainer_kw,
    )
    trainer.fit(module, datamodule=dm)
    return [json.loads(p.read_text()) for p in sorted(tmp_path.glob("rank*.json"))]


def by_epoch(records: list[dict], epoch: int) -> list[int]:
    return [i for r in records if r["epoch"] == epoch for i in r["index"]]


def test_each_epoch_trains_on_every_image_once_in_a_new_order(compose_cfg, tmp_path: Path) -> None:
    arrays = indexed_arrays(70)
    (records,) = fit(compose_cfg, tmp_path, arrays, epochs=2, devices=1)
    first, second = by_epoch(records, 0), by_epoch(records, 1)
    assert sorted(first) == sorted(second) == list(range(70))
    assert first != second
    for r in records:
        assert r["shape"][1:] == [10, 1, 40, 40]
        assert r["labels"] == [int(arrays.labels[i]) for i in r["index"]]


@pytest.mark.slow
def test_ddp_processes_train_on_disjoint_shards(compose_cfg, tmp_path: Path) -> None:
    # 71 images on 2 processes: each takes 35 of a shared per-epoch permutation, the odd one is dropped.
    arrays = indexed_arrays(71)
    ranks = fit(compose_cfg, tmp_path, arrays, epochs=2, devices=2, strategy="ddp_fork")
    assert len(ranks) == 2
    for epoch in (0, 1):
        a, b = (by_epoch(r, epoch) for r in ranks)
        assert len(a) == len(b) == 35 and len(set(a)) == 35
        assert not set(a) & set(b)
    assert by_epoch(ranks[0], 0) != by_epoch(ranks[0], 1)
    # The global batch of 16 is split: 8 images per process per step.
    assert {len(r["index"]) for r in ranks[0]} <= {8, 3}


@pytest.mark.slow
def test_ddp_processes_draw_their_own_augmentations(compose_cfg, tmp_path: Path) -> None:
    pl.seed_everything(0)
    ranks = fit(compose_cfg, tmp_path, indexed_arrays(64), epochs=1, devices=2, strategy="ddp_fork")
    # Shifted-in, rotated-in and erased pixels are zeros of constant images: the augmentation's fingerprint.
    holes = [[r["holes"] for r in ranks[k]] for k in (0, 1)]
    assert holes[0] != holes[1]


def test_constant_images_survive_the_paper_augmentation() -> None:
    """The premise of the tests above: the brightest crop pixel of an augmented constant image is its
    value, so the index is recoverable after any crop, shift, rotation or erasing."""
    from fer_lightning.data.gpu_augment import GPUAugment

    arrays = indexed_arrays(64)
    images = torch.from_numpy(arrays.images)
    spec = dataclasses.replace(PAPER, erasing_scale=(0.3, 0.33), rotate_p=1.0, translate_p=1.0)
    for seed in range(5):
        out = GPUAugment(spec, torch.Generator().manual_seed(seed))(images)
        assert torch.equal((out.amax(dim=(1, 2, 3, 4)) * 255).round().long() - 1, torch.arange(len(images)))
