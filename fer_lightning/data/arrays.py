"""`FERArrays`: the one in-memory form every reader produces and every consumer reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fer_lightning.fer2013 import IMAGE_SIZE, SPLITS, UNKNOWN, split_code


@dataclass
class FERArrays:
    """Decoded FER-2013-shaped data.

    images: uint8 [N, 48, 48]; labels: int64 [N] (0..6, -1 where the layout carries no label);
    usage: int8 [N], index into `SPLITS` (-1 where the layout carries no official split);
    ids: str [N], where each image came from ("fer2013.csv:row 17", "train/happy/Training_1.jpg");
    source: the path read or a description of the generator; layout: the detected layout name;
    synthetic: True only for generated data, so that it is labelled as such wherever it appears;
    skipped: what an explicit skip-bad-rows option dropped, one message per item;
    conversions: images read other than as 8-bit grey, by kind ("colour_to_grey": [ids], ...; the kinds
    are `folder_reader.CONVERSIONS`). Both describe the whole source, also in a subset.
    """

    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray
    ids: np.ndarray
    source: str
    layout: str
    synthetic: bool = False
    skipped: list[str] = field(default_factory=list)
    conversions: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.dtype != np.uint8 or self.images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(
                f"{self.source}: images must be uint8 [N, {IMAGE_SIZE}, {IMAGE_SIZE}], "
                f"got {self.images.dtype} {tuple(self.images.shape)}"
            )
        for name in ("labels", "usage", "ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"{self.source}: {name} has {len(getattr(self, name))} entries for {n} images"
                )
        self.labels = self.labels.astype(np.int64, copy=False)
        self.usage = self.usage.astype(np.int8, copy=False)

    def __len__(self) -> int:
        return len(self.images)

    def select(self, mask_or_index: np.ndarray) -> FERArrays:
        """A subset (boolean mask or integer index), keeping source and layout."""
        return FERArrays(
            images=self.images[mask_or_index],
            labels=self.labels[mask_or_index],
            usage=self.usage[mask_or_index],
            ids=self.ids[mask_or_index],
            source=self.source,
            layout=self.layout,
            synthetic=self.synthetic,
            skipped=list(self.skipped),
            conversions={k: list(v) for k, v in self.conversions.items()},
        )

    def split(self, *names: str) -> FERArrays:
        """The images whose official split is one of `names` (e.g. "Training", "PrivateTest")."""
        codes = [split_code(n) for n in names]
        return self.select(np.isin(self.usage, codes))

    def split_counts(self) -> dict[str, int]:
        counts = {name: int((self.usage == i).sum()) for i, name in enumerate(SPLITS)}
        unknown = int((self.usage == UNKNOWN).sum())
        if unknown:
            counts["unknown"] = unknown
        return counts

    @staticmethod
    def concat(parts: list[FERArrays]) -> FERArrays:
        if not parts:
            raise ValueError("concat needs at least one FERArrays")
        return FERArrays(
            images=np.concatenate([p.images for p in parts]),
            labels=np.concatenate([p.labels for p in parts]),
            usage=np.concatenate([p.usage for p in parts]),
            ids=np.concatenate([p.ids for p in parts]),
            source=" + ".join(dict.fromkeys(p.source for p in parts)),
            layout=parts[0].layout,
            synthetic=any(p.synthetic for p in parts),
            skipped=[s for p in parts for s in p.skipped],
            conversions={
                k: [i for p in parts for i in p.conversions.get(k, [])]
                for k in dict.fromkeys(k for p in parts for k in p.conversions)
            },
        )
