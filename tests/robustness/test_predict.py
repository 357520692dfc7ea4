"""Face detection and FER-style cropping on real photographs shipped by scikit-image, and the predict CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from fer_lightning.fer2013 import EMOTIONS
from fer_lightning.predict import FaceDetector, fer_crop, photo_paths
from tests.helpers import run_app

# Eileen Collins' face in skimage.data.astronaut(), read off the 512x512 photo: brows to chin, ear to ear.
ASTRONAUT_FACE = (170, 60, 110, 115)  # x, y, w, h


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def test_detector_finds_the_astronauts_face_and_nothing_in_a_coffee_cup() -> None:
    detector = FaceDetector()
    (box,) = detector(cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2GRAY))
    assert _iou(box, ASTRONAUT_FACE) > 0.5, box
    assert detector(cv2.cvtColor(skdata.coffee(), cv2.COLOR_RGB2GRAY)) == []


def test_fer_crop_is_48px_grayscale_centred_on_the_face_with_the_margin() -> None:
    gray = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2GRAY)
    crop, (x, y, side, side2) = fer_crop(gray, (180, 70, 90, 90), margin=0.1)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8 and side == side2 == 108
    assert (x + side / 2, y + side / 2) == (225, 115)
    expected = cv2.resize(gray[y : y + side, x : x + side], (48, 48), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(crop, expected)
    # A face cut by the photo's edge: the crop is still square, the missing part replicated from the edge.
    edge, (ex, ey, _, _) = fer_crop(gray, (-20, 450, 80, 80), margin=0.1)
    assert edge.shape == (48, 48) and ex < 0 and ey + 96 > gray.shape[0]


def test_photo_paths_expand_folders_and_name_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    cv2.imwrite(str(tmp_path / "a" / "x.png"), np.zeros((8, 8), np.uint8))
    (tmp_path / "a" / "notes.txt").write_text("not a photo")
    (tmp_path / "empty").mkdir()
    assert photo_paths([str(tmp_path / "a")]) == [tmp_path / "a" / "x.png"]
    with pytest.raises(FileNotFoundError, match="nope.jpg is neither a file nor a folder"):
        photo_paths([str(tmp_path / "nope.jpg")])
    with pytest.raises(FileNotFoundError, match="holds no image"):
        photo_paths([str(tmp_path / "empty")])


@pytest.mark.slow
def test_predict_cli_writes_json_and_annotated_photos(trained_run: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "more").mkdir(parents=True)
    cv2.imwrite(str(photos / "astronaut.jpg"), _bgr(skdata.astronaut()))
    cv2.imwrite(str(photos / "more" / "coffee.png"), _bgr(skdata.coffee()))
    out = tmp_path / "out"
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    inputs = f"inputs=[{photos / 'astronaut.jpg'},{photos / 'more'}]"
    proc = run_app(
        [f"ckpt_path={ckpt}", inputs, f"hydra.run.dir={out}"], tmp_path, module="fer_lightning.predict"
    )
    assert proc.returncode == 0, proc.stderr[-4000:]

    report = json.loads((out / "predictions.json").read_text())
    assert report["views"] == 1 and report["crop_size"] == 40  # the run's augmentation: centre crop only
    astronaut, coffee = report["images"]
    (face,) = astronaut["faces"]
    assert _iou(tuple(face["box"]), ASTRONAUT_FACE) > 0.5
    assert list(face["probabilities"]) == list(EMOTIONS)
    assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert face["label"] == max(face["probabilities"], key=face["probabilities"].get)
    assert coffee["faces"] == [] and coffee["message"] == "no face detected"

    annotated = cv2.imread(astronaut["annotated"])
    original = cv2.imread(str(photos / "astronaut.jpg"))
    assert annotated.shape == original.shape
    x, y, w, h = face["box"]
    assert annotated[y + h // 2, x, 1] > 150 and annotated[y + h // 2, x, 0] < 80  # the green box edge
    assert cv2.imread(coffee["annotated"]) is not None
    assert "astronaut.jpg:" in proc.stderr + proc.stdout
