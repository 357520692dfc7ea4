"""Every bad input of `bad_inputs.CASES` through the readers and the inspect CLI: the reader raises the
expected type with a message naming the file (and archive), row or path; the CLI exits with status 2,
prints that message in one piece without a traceback, and with --json one JSON error object."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fer_lightning.data import FER2013DataModule
from fer_lightning.data.__main__ import main
from fer_lightning.data.errors import FULL_ERROR_ENV
from fer_lightning.data.readers import load_fer2013
from tests.data.bad_inputs import CASES
from tests.data.layouts import random_arrays, write_fer2013_csv, write_image, write_image_folder

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("case", CASES)
def test_reader_names_what_is_wrong(tmp_path: Path, case: str) -> None:
    row = CASES[case]
    path = row.build(tmp_path)
    with pytest.raises(row.raises) as err:
        load_fer2013(path, use_cache=False)
    assert type(err.value) is row.raises
    assert re.search(row.message, str(err.value), re.S), str(err.value)


@pytest.mark.parametrize("case", CASES)
def test_inspect_exits_2_with_one_message_and_a_json_error(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture
) -> None:
    row = CASES[case]
    path = str(row.build(tmp_path))
    assert main(["inspect", path]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.startswith(f"{row.raises.__name__}: ") and re.search(row.message, err, re.S), err

    assert main(["inspect", path, "--json"]) == 2
    error = json.loads(capsys.readouterr().out)
    assert (error["path"], error["error_type"], error["exit_status"]) == (path, row.raises.__name__, 2)
    assert re.search(row.message, error["error"], re.S)


def test_internal_errors_exit_1_and_the_traceback_is_behind_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_fer2013_csv(random_arrays(), tmp_path / "fer2013.csv")

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr("fer_lightning.data.__main__.inspect_dataset", broken)
    assert main(["inspect", str(path), "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["exit_status"] == 1
    assert err.startswith("internal error") and f"{FULL_ERROR_ENV}=1" in err and "Traceback" not in err
    monkeypatch.setenv(FULL_ERROR_ENV, "1")
    assert main(["inspect", str(path)]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setenv(FULL_ERROR_ENV, "1")
    assert main(["inspect", str(tmp_path / "missing.csv")]) == 2
    assert "FileNotFoundError: FER-2013 not found" in capsys.readouterr().err


def test_header_only_csv_is_an_empty_report_and_no_cache_and_training_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "fer2013.csv"
    path.write_text("emotion,pixels,Usage\n")
    assert main(["inspect", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 0 and report["splits"] == {}
    assert report["notes"] == [
        "0 images: the CSV has a header and no data rows; training on this source fails, as every split is empty"
    ]
    assert not list(tmp_path.glob(".*.npz")), "a 0-image cache is never written"
    dm = FER2013DataModule(source=lambda: load_fer2013(path))
    with pytest.raises(
        ValueError, match=r"fer2013\.csv: 0 images, as it has a header and no data rows; so the "
    ):
        dm.setup("fit")


def test_colour_and_16_bit_images_are_converted_and_counted_or_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    arrays = random_arrays((7, 7, 7))
    root = write_image_folder(arrays, tmp_path / "images")
    grey = arrays.images[0]
    colour = np.dstack([grey, grey // 2, 255 - grey])
    write_image(root / "train/angry/Training_0.png", np.dstack([grey] * 3))  # lossless
    write_image(root / "train/disgust/Training_1.png", np.dstack([grey] * 3 + [np.full_like(grey, 255)]))
    write_image(root / "train/fear/Training_2.png", grey.astype(np.uint16) * 257)  # lossless
    write_image(root / "train/happy/Training_3.png", colour)
    got = load_fer2013(root)
    assert got.conversions == {
        "grey_as_colour": ["train/angry/Training_0.png", "train/disgust/Training_1.png"],
        "16bit_to_8bit": ["train/fear/Training_2.png"],
        "colour_to_grey": ["train/happy/Training_3.png"],
    }
    by_id = dict(zip(got.ids.tolist(), got.images, strict=True))
    for rel in ("train/angry/Training_0.png", "train/disgust/Training_1.png", "train/fear/Training_2.png"):
        np.testing.assert_array_equal(by_id[rel], grey)
    luma = np.rint(0.299 * colour[..., 2] + 0.587 * colour[..., 1] + 0.114 * colour[..., 0])
    assert np.abs(by_id["train/happy/Training_3.png"].astype(int) - luma).max() <= 1
    assert load_fer2013(root).conversions == got.conversions, "the cache keeps the record"

    assert main(["inspect", str(root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["conversions"]["colour_to_grey"] == {"count": 1, "ids": ["train/happy/Training_3.png"]}
    assert any(n.startswith("1 image real colour, converted to grey by BT.601") for n in report["notes"])
    dm = FER2013DataModule(source=lambda: load_fer2013(root))
    dm.setup("fit")
    assert dm.hygiene["converted_images"] == {"grey_as_colour": 2, "16bit_to_8bit": 1, "colour_to_grey": 1}


def test_skip_bad_rows_skips_a_16_bit_image_and_lists_it(tmp_path: Path) -> None:
    root = write_image_folder(random_arrays((7, 7, 7)), tmp_path / "images")
    (deep,) = (root / "test" / "sad").glob("PublicTest_*.png")
    write_image(deep, np.full((48, 48), 4000, np.uint16))
    got = load_fer2013(root, skip_bad_rows=True, use_cache=False)
    assert len(got) == 20 and got.skipped == [
        f"test/sad/{deep.name}: 16-bit image (values up to 4000), expected 8-bit greyscale; which 8 bits to "
        "keep would be a guess: convert it to 8 bits yourself"
    ]
    assert f"test/sad/{deep.name}" not in got.ids


@pytest.mark.slow
def test_cli_subprocess_exit_status_2_and_no_traceback(tmp_path: Path) -> None:
    row = CASES["bad row in .tar.gz"]
    path = row.build(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "fer_lightning.data", "inspect", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr and re.search(row.message, done.stderr, re.S), done.stderr
