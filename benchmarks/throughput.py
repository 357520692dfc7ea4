"""Training throughput: the paper's per-image PIL pipeline in DataLoader workers vs the batched GPU pipeline.

    python benchmarks/throughput.py                       # CPU-sized: 1,024 images, VGGNet at 1/16 width
    python benchmarks/throughput.py --images 28709 --model-width 1 --workers 0,14 \\
        --precision bf16-mixed --channels-last --compile  # full size, on a GPU

Each pipeline trains the same model (the `model=vggnet` config at `--model-width`) with the real Lightning
Trainer for a few warm-up steps, then `--epochs` timed epochs (each restarts DataLoader workers, as the
paper's code does every epoch). Separately, each pipeline runs one epoch alone, without a model
("data only"). Images are random 48x48 noise: throughput does not depend on content. Prints a table
and JSON (also written to `--json`).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from fer_lightning.data.arrays import FERArrays
from fer_lightning.data.augmentation import AugmentationSpec
from fer_lightning.data.datamodule import FER2013DataModule
from fer_lightning.data.gpu_augment import GPUAugment
from fer_lightning.data.transforms import crop_views, train_views
from fer_lightning.fer2013 import SPLIT_SIZES
from fer_lightning.module import FERClassifier

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
FER2013_TRAIN = SPLIT_SIZES["Training"]
EVAL_IMAGES = 64  # the DataModule needs non-empty val/test roles; they are never run here


# -- the paper's pipeline, written from its description (Khaireddin & Chen §3.2) ---------------------------


def _to_tensors(crops: tuple[Image.Image, ...]) -> torch.Tensor:
    return torch.stack([T.ToTensor()(crop) for crop in crops])


def _erase_each(crops: torch.Tensor) -> torch.Tensor:
    return torch.stack([T.RandomErasing(p=0.5)(crop) for crop in crops])


def paper_transform() -> T.Compose:
    """torchvision (v1) on PIL images, per image, as the paper's code composes it."""
    return T.Compose(
        [
            T.RandomResizedCrop(48, scale=(0.8, 1.2)),
            T.RandomApply([T.RandomAffine(0, translate=(0.2, 0.2))], p=0.5),
            T.RandomHorizontalFlip(),
            T.RandomApply([T.RandomRotation(10)], p=0.5),
            T.TenCrop(40),
            T.Lambda(_to_tensors),
            T.Lambda(_erase_each),
        ]
    )


class PaperDataset(Dataset):
    """uint8 arrays decoded to a PIL image per item, then the paper's transforms."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels, self.transform = images, labels, paper_transform()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


# -- data and model ----------------------------------------------------------------------------------------


def noise_arrays(n_train: int, seed: int = 0) -> FERArrays:
    """Random 48x48 images: n_train Training, plus a few PublicTest / PrivateTest for the DataModule."""
    rng = np.random.default_rng(seed)
    n = n_train + 2 * EVAL_IMAGES
    usage = np.concatenate([np.zeros(n_train), np.full(EVAL_IMAGES, 1), np.full(EVAL_IMAGES, 2)])
    return FERArrays(
        images=rng.integers(0, 256, (n, 48, 48), dtype=np.uint8),
        labels=rng.integers(0, 7, n),
        usage=usage.astype(np.int8),
        ids=np.array([f"noise:{i}" for i in range(n)]),
        source="benchmark noise images",
        layout="synthetic",
        synthetic=True,
    )


def model_config(width: float, compile_: bool, channels_last: bool) -> tuple[dict, dict]:
    """The app's `model=vggnet` and `optimizer=sgd_nesterov` groups, composed by Hydra."""
    overrides = [
        f"model.net.width={width}",
        f"model.compile={str(compile_).lower()}",
        f"model.channels_last={str(channels_last).lower()}",
        "scheduler=constant",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    as_dict = lambda node: OmegaConf.to_container(node, resolve=True)  # noqa: E731
    return as_dict(cfg.model), as_dict(cfg.optimizer)


class WarmupThenEpoch(FERClassifier):
    """Epoch 0 stops after `warmup_steps` (Lightning skips the rest of an epoch on -1); later ones are timed."""

    warmup_steps = 5

    def on_train_batch_start(self, batch, batch_idx: int) -> int | None:
        if self.current_epoch == 0 and batch_idx >= self.warmup_steps:
            return -1
        return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class EpochTimer(pl.Callback):
    """Wall time and images of each training epoch after the warm-up one, with the device drained at
    both ends."""

    def __init__(self) -> None:
        self.epochs: list[tuple[float, int]] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _sync(pl_module.device)
        self.images, self.start = 0, time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.images += len(batch[1])

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _sync(pl_module.device)
        if trainer.current_epoch > 0:
            self.epochs.append((time.perf_counter() - self.start, self.images))


# -- measurements -----------------------------------------------------------------------------------------


def _rate(seconds: float, images: int) -> dict[str, float]:
    return {"s_per_epoch": round(seconds, 3), "images_per_s": round(images / seconds, 1)}


def train_epoch(
    fit: Callable[[pl.Trainer, FERClassifier], None], args, model_cfg, opt_cfg
) -> dict[str, float]:
    pl.seed_everything(0, workers=True)
    module = WarmupThenEpoch(model=model_cfg, optimizer=opt_cfg, scheduler=None)
    module.warmup_steps = args.warmup_steps
    timer = EpochTimer()
    trainer = pl.Trainer(
        accelerator="auto",
        devices=1,
        precision=args.precision,
        max_epochs=1 + args.epochs,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        callbacks=[timer],
    )
    fit(trainer, module)
    times = [t for t, _ in timer.epochs]
    return {
        **_rate(statistics.median(times), timer.epochs[0][1]),
        # On a shared machine the fastest epoch is the one least disturbed by other jobs.
        "best_s_per_epoch": round(min(times), 3),
        "epoch_s": [round(t, 3) for t in times],
    }


def data_epoch(batches: Callable[[], int], device: torch.device, repeats: int) -> dict[str, float]:
    """The median of `repeats` epochs of the pipeline alone."""
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        images = batches()
        _sync(device)
        times.append(time.perf_counter() - start)
    return _rate(statistics.median(times), images)


def paper_pipeline(arrays: FERArrays, workers: int, args, model_cfg, opt_cfg, device) -> dict[str, float]:
    train = arrays.split("Training")

    def loader() -> DataLoader:
        return DataLoader(
            PaperDataset(train.images, train.labels),
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=workers,
            pin_memory=device.type == "cuda",
        )

    def one_epoch() -> int:
        return sum(len(y) for _, y in loader())

    result = train_epoch(lambda tr, m: tr.fit(m, train_dataloaders=loader()), args, model_cfg, opt_cfg)
    result.update({f"data_only_{k}": v for k, v in data_epoch(one_epoch, device, args.epochs).items()})
    return result


def datamodule_pipeline(
    arrays: FERArrays, pipeline: str, workers: int, args, model_cfg, opt_cfg, device
) -> dict[str, float]:
    """The project's DataModule: "gpu" (`data.pipeline=batched`, on the device) or "cpu" (`per_image`, v2)."""
    spec = AugmentationSpec()

    def datamodule() -> FER2013DataModule:
        return FER2013DataModule(
            source=lambda: arrays,
            augmentation=spec,
            batch_size=args.batch_size,
            num_workers=workers,
            pipeline={"cpu": "per_image", "gpu": "batched"}[pipeline],  # the DataModule's names
            pin_memory=device.type == "cuda",
        )

    result = train_epoch(lambda tr, m: tr.fit(m, datamodule=datamodule()), args, model_cfg, opt_cfg)

    dm = datamodule()
    dm.setup("fit")
    if pipeline == "gpu":
        images = torch.from_numpy(dm.train_data.images).to(device)
        augment = GPUAugment(spec)
        augment(images[: args.batch_size])  # warm-up: allocator, kernels

        def one_epoch() -> int:
            seen = 0
            for index in dm.train_dataloader():
                seen += len(augment(images[index.to(device, non_blocking=True)]))
            return seen
    else:

        def one_epoch() -> int:
            return sum(len(y) for _, y in dm.train_dataloader())

    result.update({f"data_only_{k}": v for k, v in data_epoch(one_epoch, device, args.epochs).items()})
    return result


def kornia_augment(spec: AugmentationSpec) -> Callable[[torch.Tensor], torch.Tensor]:
    """The same chain from kornia's per-op augmentations, for the kernel comparison: each geometric op
    warps the batch again, and its shifts are continuous rather than whole pixels."""
    import kornia.augmentation as K

    geometric = K.AugmentationSequential(
        K.RandomResizedCrop((spec.resize, spec.resize), scale=spec.crop_scale, ratio=spec.crop_ratio),
        K.RandomAffine(degrees=0, translate=(spec.translate, spec.translate), p=spec.translate_p),
        K.RandomHorizontalFlip(p=spec.hflip_p),
        K.RandomRotation(spec.rotate_deg, p=spec.rotate_p),
    )
    erase = K.RandomErasing(scale=spec.erasing_scale, ratio=spec.erasing_ratio, value=0.0, p=spec.erasing_p)

    def augment(images: torch.Tensor) -> torch.Tensor:
        views = crop_views(geometric(images.unsqueeze(1).float() / 255), spec)
        return erase(views.flatten(0, 1)).view_as(views)

    return augment


def kernel_times(batch_size: int, device: torch.device, repeats: int = 30) -> dict[str, float]:
    """Median milliseconds to augment one batch: fused (GPUAugment) and kornia on `device`; the paper's
    PIL transforms and the CPU pipeline's v2 transforms image by image, on one CPU thread (as in a
    DataLoader worker)."""
    spec = AugmentationSpec()
    images = torch.randint(0, 256, (batch_size, 48, 48), dtype=torch.uint8)
    on_device = images.to(device)
    paper, v2_views = paper_transform(), train_views(spec)
    fused, kornia = GPUAugment(spec), kornia_augment(spec)
    arrays = images.numpy()
    cases = {
        "fused_gpu_augment": (lambda: fused(on_device), repeats),
        "kornia": (lambda: kornia(on_device), repeats),
        "paper_pil_per_image": (lambda: [paper(Image.fromarray(a)) for a in arrays], 5),
        "cpu_v2_per_image": (lambda: [v2_views(images[i : i + 1]) for i in range(batch_size)], 5),
    }
    out = {}
    for name, (fn, n) in cases.items():
        per_image = name.endswith("per_image")
        threads = torch.get_num_threads()
        if per_image:
            torch.set_num_threads(1)
        fn()
        times = []
        for _ in range(n):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - start)
        torch.set_num_threads(threads)
        out[f"{name}_ms"] = round(1000 * statistics.median(times), 2)
    return out


def describe_device() -> str:
    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name()}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def ratios(pipelines: dict[str, dict[str, float]], ours: str) -> dict[str, dict[str, float]]:
    """How many times faster `ours` is than each other pipeline: median and best training epoch, and the
    pipeline alone."""
    out: dict[str, dict[str, float]] = {"train": {}, "train_best": {}, "data_only": {}}
    for key, field in (
        ("train", "s_per_epoch"),
        ("train_best", "best_s_per_epoch"),
        ("data_only", "data_only_s_per_epoch"),
    ):
        for name, r in pipelines.items():
            if name != ours:
                out[key][f"{ours}_vs_{name}"] = round(r[field] / pipelines[ours][field], 2)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=1024, help="training images per epoch (FER-2013: 28709)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--model-width", type=float, default=0.0625, help="VGGNet channel scale (paper: 1.0)")
    p.add_argument("--workers", default="0,2", help="comma-separated DataLoader worker counts")
    p.add_argument("--pipelines", default="paper,gpu", help="any of paper, cpu (v2 per image), gpu")
    p.add_argument("--precision", default="32-true", help="Lightning precision, e.g. bf16-mixed")
    p.add_argument("--compile", action="store_true", help="model.compile=true")
    p.add_argument("--channels-last", action="store_true", help="model.channels_last=true")
    p.add_argument("--warmup-steps", type=int, default=5)
    p.add_argument("--epochs", type=int, default=1, help="timed epochs per pipeline (the median is reported)")
    p.add_argument("--no-kernels", action="store_true", help="skip the per-batch augmentation timings")
    p.add_argument("--json", type=Path, help="also write the JSON here")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    arrays = noise_arrays(args.images)
    model_cfg, opt_cfg = model_config(args.model_width, args.compile, args.channels_last)
    workers = [int(w) for w in args.workers.split(",")]
    wanted = args.pipelines.split(",")
    unknown = set(wanted) - {"paper", "cpu", "gpu"}
    if unknown:
        raise SystemExit(f"--pipelines: unknown {sorted(unknown)}; expected some of paper, cpu, gpu")
    pipelines: dict[str, dict[str, float]] = {}
    for w in workers if "paper" in wanted else []:
        pipelines[f"paper_pil_w{w}"] = paper_pipeline(arrays, w, args, model_cfg, opt_cfg, device)
    for w in workers if "cpu" in wanted else []:
        pipelines[f"cpu_v2_w{w}"] = datamodule_pipeline(arrays, "cpu", w, args, model_cfg, opt_cfg, device)
    if "gpu" in wanted:
        pipelines["gpu"] = datamodule_pipeline(arrays, "gpu", 0, args, model_cfg, opt_cfg, device)
    for r in pipelines.values():
        r["s_per_fer2013_epoch"] = round(FER2013_TRAIN / r["images_per_s"], 2)
    return {
        "device": describe_device(),
        "torch": torch.__version__,
        "config": {
            "images": args.images,
            "batch_size": args.batch_size,
            "views": AugmentationSpec().views,
            "model_width": args.model_width,
            "precision": args.precision,
            "compile": args.compile,
            "channels_last": args.channels_last,
            "warmup_steps": args.warmup_steps,
            "timed_epochs": args.epochs,
        },
        "pipelines": pipelines,
        "ratios": ratios(pipelines, "gpu") if "gpu" in pipelines else {},
        "augment_batch": {} if args.no_kernels else kernel_times(args.batch_size, device),
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    result = run(args)
    print(f"{'pipeline':16s} {'s/epoch':>9s} {'img/s':>9s} {'s/FER epoch':>12s} {'data-only img/s':>16s}")
    for name, r in result["pipelines"].items():
        print(
            f"{name:16s} {r['s_per_epoch']:9.2f} {r['images_per_s']:9.1f} {r['s_per_fer2013_epoch']:12.1f}"
            f" {r['data_only_images_per_s']:16.1f}"
        )
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
