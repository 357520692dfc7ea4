"""`python -m fer_lightning.data inspect`: the report a user sees, as text and as one JSON object."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fer_lightning.data.__main__ import main
from tests.data.layouts import planted_arrays, random_arrays, write_fer2013_csv, write_train_test_csv

ROOT = Path(__file__).resolve().parents[2]


def test_inspect_json_counts_duplicates_and_blanks(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    arrays, expected = planted_arrays()
    path = write_fer2013_csv(arrays, tmp_path / "fer2013.csv")
    assert main(["inspect", str(path), "--json", "--no-cache"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["layout"], report["images"], report["path"]) == ("fer2013_csv", 40, str(path))
    assert {s: c["images"] for s, c in report["splits"].items()} == {
        "Training": 20,
        "PublicTest": 10,
        "PrivateTest": 10,
    }
    assert report["duplicates"]["redundant_images"] == expected["redundant_images"]
    assert report["duplicates"]["within_split"]["Training"] == expected["within_training"]
    across = {
        (c["split"], c["copies_in"]): (c["images"], c["conflicting_labels"])
        for c in report["duplicates"]["across_splits"]
    }
    assert across == {k: v[:2] for k, v in expected["across"].items()}
    assert report["blank"]["images"] == 2 and report["blank"]["ids"] == expected["blank_ids"]
    assert "Training has 20 images; the official release has 28709" in report["notes"]
    assert not list(tmp_path.glob(".*.npz")), "--no-cache writes no cache"

    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert (
        "layout: fer2013_csv" in text
        and "PublicTest images with an exact copy in Training: 2 (1 under another label)" in text
    )


def test_inspect_lists_bad_rows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_fer2013_csv(random_arrays(), tmp_path / "fer2013.csv")
    path.write_text(path.read_text().replace(",PublicTest", ",Public", 2))
    assert main(["inspect", str(path), "--json"]) == 2
    error = json.loads(capsys.readouterr().out)
    assert (
        error["error_type"] == "FERDataError"
        and error["exit_status"] == 2
        and "2 bad rows" in error["error"]
        and "row 22 (line 23)" in error["error"]
    )
    assert main(["inspect", str(path), "--json", "--skip-bad-rows"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["skipped"]["count"] == 2 and report["images"] == len(random_arrays()) - 2
    assert any("skipped" in n for n in report["notes"])


def test_inspect_says_when_splits_are_unknown(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = write_train_test_csv(random_arrays(), tmp_path / "pair")
    assert main(["inspect", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layout"] == "train_test_csv"
    assert report["splits"]["unknown"]["per_class"]["unlabelled"] == 28
    assert any(n.startswith("test.csv: 28 images without labels") for n in report["notes"])


def test_inspect_missing_path_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["inspect", str(tmp_path / "nope.csv")]) == 2
    assert "kaggle.com" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_subprocess_prints_one_json_object(tmp_path: Path) -> None:
    arrays, _ = planted_arrays()
    path = write_fer2013_csv(arrays, tmp_path / "fer2013.csv")
    done = subprocess.run(
        [sys.executable, "-m", "fer_lightning.data", "inspect", str(path), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["duplicates"]["redundant_images"] == 7
