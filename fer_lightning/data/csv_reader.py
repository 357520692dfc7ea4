"""Readers for the CSV layouts: fer2013.csv, icml_face_data.csv, and the train.csv + test.csv pair.

Each file is a `Member` of a folder or an archive; messages name it as `Member` prints it, so a CSV inside
an archive is named with the archive.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fer_lightning.data.archive import Member
from fer_lightning.data.arrays import FERArrays
from fer_lightning.data.errors import FERDataError, bad_rows_error, skip_hint
from fer_lightning.fer2013 import EMOTIONS, IMAGE_SIZE, NUM_CLASSES, SPLITS, UNKNOWN, split_code

PIXELS = IMAGE_SIZE * IMAGE_SIZE
# Rows decoded per vectorised call: bounds the scratch arrays to tens of MB and confines the slow,
# per-row diagnosis to the chunk that holds a bad row.
CHUNK_ROWS = 4096
_LABEL_TEXT = [str(i) for i in range(NUM_CLASSES)]
_EXPECTED_LABEL = (
    f"expected an integer 0..{NUM_CLASSES - 1} (0 {EMOTIONS[0]} ... {NUM_CLASSES - 1} {EMOTIONS[-1]})"
)
_SKIPPED_LINE = re.compile(r"Skipping line (\d+): (.*)")
_FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


@dataclass
class _Table:
    """A CSV read as text: columns under normalised names (emotion, pixels, usage) and each row's file line."""

    file: Member
    columns: dict[str, pd.Series]
    lines: np.ndarray
    skipped: dict[int, str]  # file line -> why pandas dropped it (skip mode only)


def normalise_column(name: str) -> str:
    # icml_face_data.csv writes its header as "emotion, Usage, pixels": strip, and compare case-blind.
    return name.strip().lower()


def read_header(file: Member) -> list[str]:
    """The raw column names of a CSV, for layout detection."""
    try:
        with file.open() as raw:
            header = next(csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")), None)
    except (UnicodeDecodeError, csv.Error):
        raise FERDataError(
            f"{file}: not a text CSV file (nor a .zip, .tar, .tar.gz or .csv.gz archive); expected a "
            "header such as emotion,pixels,Usage"
        ) from None
    if not header:
        raise FERDataError(f"{file}: empty file; expected a header such as emotion,pixels,Usage")
    return header


def _read_table(file: Member, required: tuple[str, ...], skip_bad_rows: bool) -> _Table:
    header = read_header(file)
    names = [normalise_column(h) for h in header]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise FERDataError(f"{file}: column {', '.join(twice)} appears more than once in the header {header}")
    missing = [c for c in required if c not in names]
    if missing:
        raise FERDataError(
            f"{file}: missing column {', '.join(missing)}; found columns {', '.join(map(repr, header))}, "
            f"expected {', '.join(required)}"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            with file.open() as f:
                frame = pd.read_csv(
                    f,
                    dtype=str,
                    keep_default_na=False,
                    skip_blank_lines=False,  # a blank line is a bad row to report, and keeps line numbers exact
                    encoding="utf-8-sig",
                    on_bad_lines="warn" if skip_bad_rows else "error",
                )
        except pd.errors.ParserError as err:
            found = _FIELD_COUNT.search(str(err))
            where = (
                f"row {int(found[2]) - 1} (line {found[2]}): {found[3]} fields" if found else str(err).strip()
            )
            raise FERDataError(
                f"{file}: {where}, expected {len(header)} like the header ({','.join(header)}); "
                f"fix the line, or {skip_hint('such lines')}"
            ) from None
        except UnicodeDecodeError as err:
            raise FERDataError(f"{file}: not UTF-8 text ({err})") from None
    frame.columns = names
    frame = frame.fillna("")
    # With on_bad_lines="warn" pandas drops over-long lines; rebuild each kept row's file line from them.
    dropped = {
        int(m.group(1)): m.group(2)
        for w in caught
        if issubclass(w.category, pd.errors.ParserWarning)
        for m in _SKIPPED_LINE.finditer(str(w.message))
    }
    all_lines = np.arange(2, 2 + len(frame) + len(dropped))
    lines = all_lines[~np.isin(all_lines, list(dropped))]
    return _Table(file, {c: frame[c] for c in names}, lines, dropped)


def _fromstring(data: bytes | str, dtype: type = np.int64) -> np.ndarray:
    # NumPy 2.x raises ValueError on a token it cannot parse; older versions only warn and truncate.
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        return np.fromstring(data, dtype=dtype, sep=" ")


_DIGITS = np.array([len(str(v)) for v in range(256)], np.uint8)


def _decode_chunk_fast(texts: list[str]) -> np.ndarray | None:
    """uint8 [k, 2304] when every row is 2,304 integers 0..255 joined by single spaces; otherwise None.

    One parse of the joined chunk loses the row boundaries; they are proven instead. With only digits
    and single spaces (as many spaces as separators), a row's length is its digits plus 2,303, and no
    misaligned split into rows can match every row's length, since each token has >= 1 digit. The same
    check catches a token too long for its value (uint16 wrap-around, leading zeros): the per-row path
    then reads that chunk exactly.
    """
    try:
        joined = " ".join(texts).encode("ascii")
    except UnicodeEncodeError:
        return None
    if joined.translate(None, b"0123456789 "):
        return None
    try:
        values = _fromstring(joined, np.uint16)  # ~1.5x faster than int64
    except (ValueError, DeprecationWarning):
        return None
    spaces = np.count_nonzero(np.frombuffer(joined, np.uint8) == ord(" "))
    if values.size != len(texts) * PIXELS or spaces != values.size - 1 or values.max(initial=0) > 255:
        return None
    values = values.reshape(len(texts), PIXELS)
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    if not np.array_equal(_DIGITS[values].sum(axis=1, dtype=np.int64) + PIXELS - 1, lengths):
        return None
    return values.astype(np.uint8)


def _decode_row(text: str) -> tuple[np.ndarray | None, str | None]:
    """One row's pixels, or what is wrong with them (the slow path, only for chunks that failed)."""
    try:
        values = _fromstring(text)
    except (ValueError, DeprecationWarning, UnicodeEncodeError):
        tokens = text.split()
        k, token = next(
            ((k, t) for k, t in enumerate(tokens, 1) if not (t.isascii() and t.lstrip("+-").isdigit())),
            (0, text),
        )
        return None, f"pixel {k} is {token[:20]!r}, expected an integer 0..255"
    if values.size != PIXELS:
        return None, f"{values.size} pixel values, expected {PIXELS} ({IMAGE_SIZE}x{IMAGE_SIZE})"
    bad = np.flatnonzero((values < 0) | (values > 255))
    if bad.size:
        return None, f"pixel {bad[0] + 1} is {values[bad[0]]}, expected 0..255"
    return values.astype(np.uint8), None


def decode_pixels(texts: list[str]) -> tuple[np.ndarray, dict[int, str]]:
    """Space-separated pixel strings -> uint8 [N, 48, 48], and {row position: what is wrong} for bad rows.

    Each chunk is parsed by one `np.fromstring` call over the joined text; only a chunk that fails the
    fast checks is re-parsed row by row to say which row is wrong and why.
    """
    images = np.zeros((len(texts), PIXELS), np.uint8)
    problems: dict[int, str] = {}
    for start in range(0, len(texts), CHUNK_ROWS):
        chunk = texts[start : start + CHUNK_ROWS]
        fast = _decode_chunk_fast(chunk)
        if fast is not None:
            images[start : start + len(chunk)] = fast
            continue
        for offset, text in enumerate(chunk):
            row, problem = _decode_row(text)
            if problem is None:
                images[start + offset] = row
            else:
                problems[start + offset] = problem
    return images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE), problems


def _decode_labels(column: pd.Series) -> tuple[np.ndarray, dict[int, str]]:
    text = column.str.strip()
    valid = text.isin(_LABEL_TEXT).to_numpy()
    labels = np.full(len(text), UNKNOWN, np.int64)
    labels[valid] = text[valid].astype(np.int64).to_numpy()
    return labels, {
        int(i): f"emotion is {column.iat[i]!r}, {_EXPECTED_LABEL}" for i in np.flatnonzero(~valid)
    }


def _decode_usage(column: pd.Series) -> tuple[np.ndarray, dict[int, str]]:
    codes = pd.Categorical(column.str.strip(), categories=list(SPLITS)).codes.astype(np.int8)
    return codes, {
        int(i): f"Usage is {column.iat[i]!r}, expected one of {', '.join(SPLITS)}"
        for i in np.flatnonzero(codes < 0)
    }


def _assemble(
    table: _Table,
    images: np.ndarray,
    labels: np.ndarray,
    usage: np.ndarray,
    problems: list[dict[int, str]],
    layout: str,
    skip_bad_rows: bool,
) -> FERArrays:
    by_row: dict[int, list[str]] = {}
    for found in problems:
        for position, why in found.items():
            by_row.setdefault(position, []).append(why)
    messages = {}
    for position in sorted(by_row):
        if all(col.iat[position].strip() == "" for col in table.columns.values()):
            why = f"empty line; expected {', '.join(table.columns)}"
        else:
            why = "; ".join(by_row[position])
        messages[int(table.lines[position])] = why
    if messages and not skip_bad_rows:
        raise bad_rows_error(
            str(table.file), [f"row {line - 1} (line {line}): {w}" for line, w in messages.items()]
        )
    keep = np.ones(len(images), bool)
    keep[sorted(by_row)] = False
    rows = table.lines[keep] - 1
    return FERArrays(
        images=images[keep],
        labels=labels[keep],
        usage=usage[keep],
        ids=np.array([f"{table.file.name}:row {r}" for r in rows], dtype=str),
        source=str(table.file),
        layout=layout,
        skipped=[
            f"{table.file.name} row {line - 1} (line {line}): {why}"
            for line, why in sorted({**messages, **table.skipped}.items())
        ],
    )


def read_usage_csv(file: Member, layout: str, *, skip_bad_rows: bool = False) -> FERArrays:
    """fer2013.csv or icml_face_data.csv: every row carries emotion, pixels and its official Usage."""
    table = _read_table(file, ("emotion", "pixels", "usage"), skip_bad_rows)
    labels, bad_labels = _decode_labels(table.columns["emotion"])
    usage, bad_usage = _decode_usage(table.columns["usage"])
    images, bad_pixels = decode_pixels(table.columns["pixels"].tolist())
    return _assemble(table, images, labels, usage, [bad_labels, bad_usage, bad_pixels], layout, skip_bad_rows)


def read_train_test_csv(train: Member, test: Member, *, skip_bad_rows: bool = False) -> FERArrays:
    """The train.csv + test.csv variant, which has no Usage column.

    train.csv rows are the official Training split. test.csv holds PublicTest and PrivateTest together,
    in a file without labels and without anything to tell the two apart: its rows get usage and label
    UNKNOWN (-1), never invented ones; an `emotion` column, where a copy has one, is read.
    """
    parts = []
    for file, required, split in ((train, ("emotion", "pixels"), "Training"), (test, ("pixels",), None)):
        table = _read_table(file, required, skip_bad_rows)
        images, bad_pixels = decode_pixels(table.columns["pixels"].tolist())
        problems = [bad_pixels]
        if "emotion" in table.columns:
            labels, bad_labels = _decode_labels(table.columns["emotion"])
            problems.insert(0, bad_labels)
        else:
            labels = np.full(len(images), UNKNOWN, np.int64)
        code = split_code(split) if split else UNKNOWN
        usage = np.full(len(images), code, np.int8)
        parts.append(_assemble(table, images, labels, usage, problems, "train_test_csv", skip_bad_rows))
    return FERArrays.concat(parts)
