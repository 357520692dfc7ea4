"""Pretrained weights: find them on local disk (never downloaded: the training machines have no network),
read any of the usual checkpoint layouts, and load them with the first conv adapted from RGB to gray.

timm (with huggingface_hub) and safetensors are imported where a weights name or file needs them: timm
alone takes seconds to import, which every run would pay.
"""

from __future__ import annotations

import logging
import pickle
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torchvision.models import get_model_weights

from fer_lightning.models.base import FERNet, LoadReport, load_state

if TYPE_CHECKING:
    from timm.models import PretrainedCfg

log = logging.getLogger(__name__)

_NO_NETWORK = "weights are never downloaded here (no network): put the file there or pass a local file path"


@dataclass(frozen=True)
class WeightsSource:
    """A weights file on disk, with what its name says about the input it expects (gray statistics
    are the means of the RGB ones)."""

    path: Path
    label: str
    input_size: int | None = None
    mean: float | None = None
    std: float | None = None


def _torch_hub_file(url: str) -> Path:
    # torchvision and timm both cache URL downloads under <torch hub dir>/checkpoints/<basename>.
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def _torchvision_source(spec: str, arch: str) -> WeightsSource | None:
    enum = get_model_weights(arch)
    name = spec.removeprefix(f"{enum.__name__}.")
    if name not in enum.__members__:
        return None
    weights = enum[name]
    path = _torch_hub_file(weights.url)
    if not path.is_file():
        raise FileNotFoundError(
            f"model.pretrained={spec!r} is torchvision's {weights} for {arch}; looked for {path} "
            f"(torch.hub.get_dir()/checkpoints, from {weights.url}); {_NO_NETWORK}"
        )
    tf = weights.transforms()
    return WeightsSource(
        path, f"torchvision {weights}", tf.crop_size[0], statistics.fmean(tf.mean), statistics.fmean(tf.std)
    )


def _timm_source(spec: str, arch: str) -> WeightsSource | None:
    import huggingface_hub
    import timm

    full = spec if "." in spec else (arch if spec.upper() == "DEFAULT" else f"{arch}.{spec}")
    if full.split(".", 1)[0] != arch:
        return None
    try:
        cfg = timm.models.get_pretrained_cfg(full)
    except RuntimeError:  # timm: "Invalid pretrained tag"
        return None
    if cfg is None:
        return None
    looked: list[str] = []
    if cfg.hf_hub_id:
        cache = huggingface_hub.constants.HF_HUB_CACHE
        for filename in (
            [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
        ):
            hit = huggingface_hub.try_to_load_from_cache(cfg.hf_hub_id, filename, cache_dir=cache)
            if isinstance(hit, str):
                return _timm_weights(Path(hit), full, cfg)
            looked.append(f"{cfg.hf_hub_id}/{filename} in the Hugging Face cache {cache}")
    if cfg.url:
        path = _torch_hub_file(cfg.url)
        if path.is_file():
            return _timm_weights(path, full, cfg)
        looked.append(f"{path} (torch.hub.get_dir()/checkpoints, from {cfg.url})")
    raise FileNotFoundError(
        f"model.pretrained={spec!r} is timm's {full}; looked for {'; '.join(looked)}; {_NO_NETWORK}"
    )


def _timm_weights(path: Path, full: str, cfg: PretrainedCfg) -> WeightsSource:
    return WeightsSource(
        path, f"timm {full}", cfg.input_size[-1], statistics.fmean(cfg.mean), statistics.fmean(cfg.std)
    )


def _known_names(torchvision_arch: str | None, timm_arch: str | None) -> str:
    names = []
    if torchvision_arch:
        names.append(
            f"torchvision {torchvision_arch}: {list(get_model_weights(torchvision_arch).__members__)}"
        )
    if timm_arch:
        import timm

        names.append(f"timm {timm_arch}: {timm.list_pretrained(f'{timm_arch}.*') or 'none'}")
    return "; ".join(names) or "none (this architecture has no published weights)"


def resolve_weights(
    spec: str, torchvision_arch: str | None = None, timm_arch: str | None = None
) -> WeightsSource:
    """`spec` is a local file, a torchvision weights name ("IMAGENET1K_V1", "ResNet18_Weights.DEFAULT")
    or a timm tag ("a1_in1k", "resnet18.a1_in1k"); names are looked up in the local caches only."""
    path = Path(spec).expanduser()
    if path.is_file():
        return WeightsSource(path.resolve(), f"file {path.resolve()}")
    if path.suffix in {".pth", ".pt", ".ckpt", ".bin", ".safetensors"} or "/" in spec:
        raise FileNotFoundError(f"model.pretrained: no weights file at {path.resolve()}")
    for arch, finder in ((torchvision_arch, _torchvision_source), (timm_arch, _timm_source)):
        found = finder(spec, arch) if arch else None
        if found is not None:
            return found
    raise ValueError(
        f"model.pretrained={spec!r} is neither a file (looked at {path.resolve()}) nor a weights name of "
        f"this model; known names: {_known_names(torchvision_arch, timm_arch)}"
    )


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain state_dict, a Lightning checkpoint (the `net.` part), a timm training checkpoint
    (`state_dict`) or the paper code's checkpoint (`params`, usef-kh/fer utils/checkpoint.py)."""
    if path.suffix == ".safetensors":
        import safetensors.torch

        obj = safetensors.torch.load_file(str(path))
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            if path.suffix != ".ckpt":
                raise ValueError(
                    f"{path}: holds Python objects besides tensors, which torch.load(weights_only=True) refuses; "
                    "if you trust the file, save its state_dict alone and pass that"
                ) from err
            # Lightning checkpoints pickle hyper-parameters and callback states beside the tensors.
            obj = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state_dict (a dict of tensors), found {type(obj).__name__}")
    if "pytorch-lightning_version" in obj:
        state = {k.removeprefix("net."): v for k, v in obj["state_dict"].items() if k.startswith("net.")}
        if not state:
            raise ValueError(
                f"{path}: a Lightning checkpoint without 'net.' weights (FERClassifier keeps its network in .net)"
            )
        return state
    for key in ("state_dict", "params"):
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    state = {k.removeprefix("module."): v for k, v in obj.items()}  # nn.DataParallel's prefix
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(
            f"{path}: expected a state_dict; key {bad[0]!r} holds {type(state[bad[0]]).__name__}"
        )
    return state


def load_pretrained(net: FERNet, source: WeightsSource) -> LoadReport:
    """Loads `source` into `net` and, for named weights, sets the input statistics they were trained with."""
    state = read_state_dict(source.path)
    own = net.state_dict()
    if all(k in own for k in state):
        report = load_state(net, state, source=source.label)
    else:
        report = net.load_foreign(source.path, state)
    if source.mean is not None and source.std is not None:
        net.input_adapter.set_stats(source.mean, source.std)
    log.info(
        "pretrained %s: %d tensors loaded (%s adapted RGB->gray), %d kept at init, %d dropped",
        source.label,
        len(report.loaded),
        report.adapted or "none",
        len(report.kept_init),
        len(report.dropped),
    )
    return report
