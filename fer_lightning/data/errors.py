"""Errors for FER-2013 input: bad content (`FERDataError`) and data that is not there."""

from __future__ import annotations

import os

KAGGLE_URL = "https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-recognition-challenge/data"
LAYOUTS_HELP = (
    "fer2013.csv, icml_face_data.csv, train.csv + test.csv, or image folders train/<class>/ + test/<class>/, "
    "unpacked or in a .zip, .tar, .tar.gz / .tgz (or one .csv.gz)"
)
# Set to 1 to see the traceback behind a one-line error (the app reads the same variable).
FULL_ERROR_ENV = "FER_LIGHTNING_FULL_ERROR"
# Exit status of a CLI for input the user can fix (1 stays for internal errors, as Python's default).
BAD_INPUT_STATUS = 2

# How many problems one error message lists before summarising the rest.
MAX_LISTED = 5


class FERDataError(ValueError):
    """Input that does not match a FER-2013 layout: names the file, the row or path, and what was expected."""


def is_bad_input(err: BaseException) -> bool:
    """Whether `err` is about the user's input (bad content, or a path that is missing or unreadable)
    rather than a bug."""
    return isinstance(err, (FERDataError, OSError))


def full_error_requested() -> bool:
    return os.environ.get(FULL_ERROR_ENV) == "1"


def dataset_not_found(path: str, looked_for: str) -> FileNotFoundError:
    """The error for a missing data set: where we looked, where to put it, how to get it, what else to run."""
    return FileNotFoundError(
        f"FER-2013 not found at {path} (looked for {looked_for}).\n"
        f"  Put it at data/fer2013/fer2013.csv, or pass the path of any supported layout: {LAYOUTS_HELP}.\n"
        f"  Get it from the Kaggle challenge page (sign in, accept the rules, download): {KAGGLE_URL}\n"
        "  Or run on the synthetic set instead: python -m fer_lightning data=synthetic"
    )


def skip_hint(things: str = "them") -> str:
    """How to skip bad rows or files. The reader serves the training app and the inspect CLI, and does
    not know which called it: the hint names the switch of each."""
    return (
        f"drop {things} and report how many with data.source.skip_bad_rows=true (training app) or "
        "--skip-bad-rows (inspect)"
    )


def bad_rows_error(source: str, problems: list[str], what: str = "rows") -> FERDataError:
    """One error listing the first few bad rows or files, and the switches that skip them."""
    listed = "\n  ".join(problems[:MAX_LISTED])
    more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    noun, it = (what, "them") if len(problems) != 1 else (what.removesuffix("s"), "it")
    return FERDataError(
        f"{source}: {len(problems)} bad {noun}:\n  {listed}{more}\n  Fix {it}, or {skip_hint(it)}."
    )
