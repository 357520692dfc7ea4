"""The FER-2013 facts: the counts add up to the sizes the release prints, and every config and reader that
names a split, a class count or a layout agrees with fer_lightning/fer2013.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fer_lightning import fer2013
from fer_lightning.data.readers import detect_layout
from tests.conftest import CONF_DIR
from tests.data.layouts import (
    random_arrays,
    write_fer2013_csv,
    write_icml_csv,
    write_image_folder,
    write_train_test_csv,
)


def test_class_counts_add_up_to_the_official_split_sizes() -> None:
    # The release's printed sizes (Goodfellow et al. 2013; shared/PAPER.md), not derived from the table.
    assert fer2013.SPLIT_SIZES == {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    assert fer2013.TOTAL_IMAGES == 35887 and sum(fer2013.SPLIT_FRACTIONS) == pytest.approx(1.0)
    assert list(fer2013.CLASS_COUNTS) == list(fer2013.SPLITS)
    assert all(len(c) == fer2013.NUM_CLASSES for c in fer2013.CLASS_COUNTS.values())


@pytest.mark.parametrize("data", ["fer2013", "synthetic"])
def test_data_configs_default_to_the_papers_roles(compose_cfg, data: str) -> None:
    cfg = compose_cfg(f"data={data}", tiny=False)
    roles = {role: tuple(cfg.data[f"{role}_splits"]) for role in fer2013.PAPER_ROLES}
    assert roles == fer2013.PAPER_ROLES


def _split_lists(node: object) -> list[list[str]]:
    """Every `*_splits` list in a parsed YAML document."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if str(k).endswith("_splits") and isinstance(v, list)]
        return found + [s for v in node.values() for s in _split_lists(v)]
    if isinstance(node, list):
        return [s for v in node for s in _split_lists(v)]
    return []


def test_every_split_a_config_names_is_an_official_split() -> None:
    named = {
        split
        for path in CONF_DIR.rglob("*.yaml")
        for splits in _split_lists(yaml.safe_load(path.read_text()))
        for split in splits
    }
    assert named and named <= set(fer2013.SPLITS), named - set(fer2013.SPLITS)


def test_the_readers_detect_exactly_the_listed_layouts(tmp_path: Path) -> None:
    arrays = random_arrays()
    written = [
        write_fer2013_csv(arrays, tmp_path / "fer2013.csv"),
        write_icml_csv(arrays, tmp_path / "icml_face_data.csv"),
        write_train_test_csv(arrays, tmp_path / "train_test"),
        write_image_folder(arrays, tmp_path / "folders"),
    ]
    assert [detect_layout(p).name for p in written] == list(fer2013.LAYOUTS)
