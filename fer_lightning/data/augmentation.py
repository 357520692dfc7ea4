"""`AugmentationSpec`: the parameters of a training augmentation, read by both training pipelines alike.

One spec per `conf/augmentation/*.yaml`; both pipelines draw from the same distributions, so a sweep can
switch `data.pipeline` without changing what is trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

from fer_lightning.fer2013 import IMAGE_SIZE, TEN_CROP_VIEWS


@dataclass(frozen=True)
class AugmentationSpec:
    """Khaireddin & Chen §3.2 by default: RandomResizedCrop(48, scale 0.8-1.2), p 0.5 translate <= 20 %,
    horizontal flip, p 0.5 rotate <= 10 deg, TenCrop(40), random erasing p 0.5 on each crop.

    Photometric and occlusion knobs (`brightness`, `contrast`, `gamma`, `erasing_*`) are off in the paper
    and used by the robustness presets. `ten_crop=False` trains and evaluates on the centre crop only.
    """

    crop_size: int = 40
    ten_crop: bool = True
    resize: int = IMAGE_SIZE
    crop_scale: tuple[float, float] = (0.8, 1.2)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    translate: float = 0.2
    translate_p: float = 0.5
    hflip_p: float = 0.5
    rotate_deg: float = 10.0
    rotate_p: float = 0.5
    erasing_p: float = 0.5
    erasing_scale: tuple[float, float] = (0.02, 0.33)
    erasing_ratio: tuple[float, float] = (0.3, 3.3)
    brightness: float = 0.0
    contrast: float = 0.0
    gamma: float = 0.0

    def __post_init__(self) -> None:
        # Hydra hands lists; keep the spec hashable and comparable.
        for name in ("crop_scale", "crop_ratio", "erasing_scale", "erasing_ratio"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        if not 1 <= self.crop_size <= self.resize:
            raise ValueError(
                f"augmentation.crop_size={self.crop_size} is impossible: it must lie in 1..{self.resize} "
                f"(augmentation.resize, the side of the image the crops are cut from)"
            )
        for name in ("translate_p", "hflip_p", "rotate_p", "erasing_p"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"augmentation.{name}={p} is not a probability in [0, 1]")

    @property
    def views(self) -> int:
        """Crops per image: 10 with ten-crop, else 1 (the centre)."""
        return TEN_CROP_VIEWS if self.ten_crop else 1
