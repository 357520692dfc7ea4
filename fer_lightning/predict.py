"""Expressions of the faces in real photos: detect, crop as FER-2013 does, ten-crop predict, annotate.

`python -m fer_lightning.predict ckpt_path=<run>/checkpoints/best.ckpt inputs=[photo.jpg,folder/]` writes
`predictions.json` (per photo: each face's box and the probability of every class) and one annotated copy
of each photo into the run folder; a photo without a detected face is reported as such.

Face detector: OpenCV 5's Python wheel has no CascadeClassifier and ships no cascade files (cv2.data is
empty); its FaceDetectorYN needs a YuNet ONNX model the wheel does not include. scikit-image ships OpenCV's
LBP frontal-face cascade with its own `Cascade` detector, so that is used.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from fer_lightning.checkpoint import open_checkpoint, resolve_device
from fer_lightning.data.augmentation import AugmentationSpec
from fer_lightning.data.transforms import eval_views
from fer_lightning.fer2013 import EMOTIONS, IMAGE_SIZE

log = logging.getLogger("fer_lightning.predict")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
Box = tuple[int, int, int, int]  # x, y, width, height in photo pixels


@dataclass
class FaceDetector:
    """Frontal faces in a grayscale photo with scikit-image's LBP cascade (trained with OpenCV).

    scale_factor: image-pyramid step; min_neighbors: overlapping hits a face needs (higher: fewer false
    faces); min_face: smallest face side as a fraction of the photo's shorter side.
    """

    scale_factor: float = 1.2
    min_neighbors: int = 6
    min_face: float = 0.1

    def __post_init__(self) -> None:
        # scikit-image (and the SciPy under it) takes about a second to import: only a detector needs it.
        from skimage.data import lbp_frontal_face_cascade_filename
        from skimage.feature import Cascade

        self._cascade = Cascade(lbp_frontal_face_cascade_filename())

    def __call__(self, gray: np.ndarray) -> list[Box]:
        """Face boxes, largest first."""
        short = min(gray.shape[:2])
        side = max(24, round(self.min_face * short))  # the cascade's window is 24x24
        hits = self._cascade.detect_multi_scale(
            img=gray,
            scale_factor=self.scale_factor,
            step_ratio=1,
            min_size=(side, side),
            max_size=(short, short),
            min_neighbor_number=self.min_neighbors,
        )
        boxes = [(int(h["c"]), int(h["r"]), int(h["width"]), int(h["height"])) for h in hits]
        return sorted(boxes, key=lambda b: -b[2] * b[3])


def fer_crop(gray: np.ndarray, box: Box, margin: float) -> tuple[np.ndarray, Box]:
    """A 48x48 uint8 face as FER-2013 frames it: the detector's square box widened by `margin` of its side
    on each side (FER-2013 faces show the brows to the chin), edges replicated past the photo's border."""
    x, y, w, h = box
    side = round(max(w, h) * (1 + 2 * margin))
    x0, y0 = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
    pad = max(0, -x0, -y0, x0 + side - gray.shape[1], y0 + side - gray.shape[0])
    padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else gray
    crop = padded[y0 + pad : y0 + pad + side, x0 + pad : x0 + pad + side]
    return cv2.resize(crop, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA), (x0, y0, side, side)


def read_photo(path: Path) -> np.ndarray:
    """BGR uint8 photo; np.fromfile + imdecode also reads paths cv2.imread cannot (non-ASCII names)."""
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError(f"{path}: not a readable image (expected one of {', '.join(IMAGE_SUFFIXES)})")
    return image


def photo_paths(inputs: list[str] | str) -> list[Path]:
    """Files as given, folders expanded to the images they hold (recursively, sorted)."""
    found: list[Path] = []
    for item in [inputs] if isinstance(inputs, str) else list(inputs):
        path = Path(item)
        if path.is_dir():
            images = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise FileNotFoundError(f"inputs: folder {path} holds no image ({', '.join(IMAGE_SUFFIXES)})")
            found += images
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"inputs: {path} is neither a file nor a folder")
    if not found:
        raise ValueError("inputs: no photo given; pass inputs=[photo.jpg,folder/]")
    return found


@torch.no_grad()
def predict_photo(
    module: torch.nn.Module, spec: AugmentationSpec, image: np.ndarray, detector: FaceDetector, margin: float
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Each detected face of a BGR photo with its class probabilities (ten-crop averaged logits), and the
    48x48 crops the model saw [F, 48, 48]."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    boxes = detector(gray)
    if not boxes:
        return [], np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    crops, crop_boxes = zip(*(fer_crop(gray, b, margin) for b in boxes), strict=True)
    device = next(module.parameters()).device
    views = eval_views(torch.from_numpy(np.stack(crops)).to(device), spec)
    probs = torch.softmax(module.predict_views(views).float(), dim=1).cpu().numpy()
    faces = []
    for box, crop_box, p in zip(boxes, crop_boxes, probs, strict=True):
        k = int(p.argmax())
        faces.append(
            {
                "box": list(box),
                "crop_box": list(crop_box),
                "label": EMOTIONS[k],
                "confidence": float(p[k]),
                "probabilities": {name: float(v) for name, v in zip(EMOTIONS, p, strict=True)},
            }
        )
    return faces, np.stack(crops)


def _label(out: np.ndarray, text: str, x: int, y: int, scale: float, thick: int, fg: tuple, bg: tuple) -> int:
    """Text on a filled box whose top-left is (x, y); returns the box's bottom edge."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    cv2.rectangle(out, (x, y), (x + tw + 4, y + th + base + 4), bg, -1)
    cv2.putText(out, text, (x + 2, y + th + 2), font, scale, fg, thick, cv2.LINE_AA)
    return y + th + base + 4


def annotate(image: np.ndarray, faces: list[dict[str, Any]], crops: np.ndarray) -> np.ndarray:
    """A copy of the photo with each face's box, its top class, the next two, and the 48x48 crop seen."""
    out = image.copy()
    short = min(out.shape[:2])
    scale, thick = max(0.45, short / 900), max(1, round(short / 300))
    green, black, white = (0, 200, 0), (0, 0, 0), (255, 255, 255)
    if not faces:
        _label(out, "no face detected", 8, 8, 1.5 * scale, thick, white, (0, 0, 200))
        return out
    for face, crop in zip(faces, crops, strict=True):
        x, y, w, h = face["box"]
        cv2.rectangle(out, (x, y), (x + w, y + h), green, thick)
        ranked = sorted(face["probabilities"].items(), key=lambda kv: -kv[1])
        (_, th), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        _label(
            out,
            f"{ranked[0][0]} {100 * ranked[0][1]:.0f}%",
            x,
            max(0, y - th - base - 4),
            scale,
            thick,
            black,
            green,
        )
        below = y + h + thick
        for name, p in ranked[1:3]:
            below = _label(out, f"{name} {100 * p:.0f}%", x, below, 0.85 * scale, thick, white, black)
        # What the model saw, 2x, beside the box when it fits.
        side = 2 * IMAGE_SIZE
        thumb = cv2.cvtColor(
            cv2.resize(crop, (side, side), interpolation=cv2.INTER_NEAREST), cv2.COLOR_GRAY2BGR
        )
        tx = x + w + thick + 2
        if tx + side <= out.shape[1] and y >= 0 and y + side <= out.shape[0]:
            out[y : y + side, tx : tx + side] = thumb
    return out


def predict_paths(
    module: torch.nn.Module,
    spec: AugmentationSpec,
    inputs: list[str] | str,
    output_dir: str | Path,
    detector: FaceDetector | None = None,
    margin: float = 0.1,
) -> dict[str, Any]:
    """Predict every photo of `inputs`; write `predictions.json` and `<name>.annotated.jpg` per photo."""
    detector = detector or FaceDetector()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    records, used = [], set()
    for path in photo_paths(inputs):
        image = read_photo(path)
        faces, crops = predict_photo(module, spec, image, detector, margin)
        name = f"{path.stem}.annotated.jpg"
        k = 1
        while name in used:  # same file name in two folders
            k, name = k + 1, f"{path.stem}_{k}.annotated.jpg"
        used.add(name)
        cv2.imwrite(str(out / name), annotate(image, faces, crops))
        records.append(
            {
                "image": str(path),
                "width": image.shape[1],
                "height": image.shape[0],
                "faces": faces,
                "message": None if faces else "no face detected",
                "annotated": str(out / name),
            }
        )
    report = {
        "classes": list(EMOTIONS),
        "views": spec.views,
        "crop_size": spec.crop_size,
        "crop_margin": margin,
        "detector": {"name": "scikit-image LBP frontal-face cascade", **asdict(detector)},
        "images": records,
    }
    (out / "predictions.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def predict_checkpoint(cfg: DictConfig, task_overrides: list[str] | None = None) -> dict[str, Any]:
    """Load `cfg.ckpt_path` with the views it was evaluated with and predict `cfg.inputs` into `cfg.output_dir`."""
    opened = open_checkpoint(cfg, task_overrides or [], device=resolve_device(cfg.device))
    inputs = cfg.inputs if isinstance(cfg.inputs, str) else list(cfg.inputs)
    detector = FaceDetector(**cfg.detector)
    report = predict_paths(
        opened.module, opened.augmentation, inputs, cfg.output_dir, detector, cfg.crop_margin
    )
    for record in report["images"]:
        found = ", ".join(f"{f['label']} {100 * f['confidence']:.0f}%" for f in record["faces"])
        log.info("%s: %s", record["image"], found or record["message"])
    log.info("predictions: %s", Path(cfg.output_dir) / "predictions.json")
    return report


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    predict_checkpoint(cfg, list(HydraConfig.get().overrides.task))


if __name__ == "__main__":
    main()
