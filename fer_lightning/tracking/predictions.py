"""A table of test predictions, most confident mistakes first."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch

from fer_lightning.data.arrays import FERArrays
from fer_lightning.fer2013 import EMOTIONS
from fer_lightning.plotting import save_png
from fer_lightning.tracking.figures import faces_figure
from fer_lightning.tracking.media import figures_dir, held_out_faces, log_to_wandb


def rank_predictions(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Order of rows: mistakes by falling confidence, then correct predictions by rising confidence
    (the least sure hits are the next most informative)."""
    preds, confidence = probs.argmax(axis=1), probs.max(axis=1)
    wrong = preds != labels
    # lexsort sorts by the last key first: mistakes before hits, then by the signed confidence.
    return np.lexsort((np.where(wrong, -confidence, confidence), ~wrong))


def predictions_frame(
    data: FERArrays, index: np.ndarray, probs: np.ndarray, class_names: Sequence[str]
) -> pd.DataFrame:
    """One row per face in `index` order: id, label, prediction, confidence, probability of the true class."""
    labels = data.labels[index]
    preds = probs.argmax(axis=1)
    return pd.DataFrame(
        {
            "index": index,
            "id": data.ids[index],
            "label": [class_names[i] for i in labels],
            "prediction": [class_names[i] for i in preds],
            "confidence": probs.max(axis=1),
            "p_label": probs[np.arange(len(index)), labels],
            "correct": preds == labels,
        }
    )


class PredictionsTableCallback(pl.Callback):
    """After testing: the first `max_faces` test faces (by index; None = all) are predicted as the test
    does (the datamodule's eval views, logits averaged over views), and up to `max_rows` of them are kept,
    most confident mistakes first. Written as CSV plus a PNG of the top mistakes; a W&B table with the faces.
    """

    def __init__(
        self,
        out_dir: str | Path,
        max_faces: int | None = 2000,
        max_rows: int = 200,
        mistakes_png: int = 32,
        batch_size: int = 256,
        class_names: Sequence[str] = EMOTIONS,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.max_faces = max_faces
        self.max_rows = max_rows
        self.mistakes_png = mistakes_png
        self.batch_size = batch_size
        self.class_names = tuple(class_names)

    @torch.inference_mode()
    def _probs(self, trainer: pl.Trainer, pl_module: pl.LightningModule, images: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + self.batch_size]))
            views = trainer.datamodule.eval_views(batch.to(pl_module.device))
            out.append(pl_module.predict_views(views).float().softmax(dim=1).cpu())
        return torch.cat(out).numpy()

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        data = held_out_faces(trainer, type(self).__name__)
        index = np.arange(len(data) if self.max_faces is None else min(self.max_faces, len(data)))
        probs = self._probs(trainer, pl_module, data.images[index])
        order = rank_predictions(probs, data.labels[index])[: self.max_rows]
        frame = predictions_frame(data, index[order], probs[order], self.class_names)
        out = figures_dir(self.out_dir)
        frame.to_csv(out / "predictions_test.csv", index=False)
        mistakes = frame[~frame["correct"]].head(self.mistakes_png)
        captions = [f"{r.label} -> {r.prediction} {r.confidence:.2f}" for r in mistakes.itertuples()]
        faces = data.images[mistakes["index"].to_numpy()].astype(np.float32) / 255
        title = (
            f"most confident test mistakes (of the first {len(index)} faces): true -> predicted, confidence"
        )
        path = save_png(faces_figure(faces, captions, title), out / "confident_mistakes_test.png")

        def payload(wandb) -> dict:
            columns = ["face", *frame.columns]
            rows = [
                [wandb.Image(data.images[i]), *row]
                for i, row in zip(frame["index"], frame.itertuples(index=False, name=None), strict=True)
            ]
            return {
                "test/predictions": wandb.Table(columns=columns, data=rows),
                "test/confident_mistakes": wandb.Image(str(path)),
            }

        log_to_wandb(trainer, payload)
