"""Errors for FER-2013 input: bad content (`FERDataError`) and data that is not there."""

from __future__ import annotations

KAGGLE_URL = "https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-recognition-challenge/data"
LAYOUTS_HELP = (
    "fer2013.csv, icml_face_data.csv, train.csv + test.csv, or image folders train/<class>/ + test/<class>/"
)

# How many problems one error message lists before summarising the rest.
MAX_LISTED = 5


class FERDataError(ValueError):
    """Input that does not match a FER-2013 layout: names the file, the row or path, and what was expected."""


def dataset_not_found(path: str, looked_for: str) -> FileNotFoundError:
    """The error for a missing data set: where we looked, where to put it, how to get it, what else to run."""
    return FileNotFoundError(
        f"FER-2013 not found at {path} (looked for {looked_for}).\n"
        f"  Put it at data/fer2013/fer2013.csv, or pass the path of any supported layout: {LAYOUTS_HELP}.\n"
        f"  Get it from the Kaggle challenge page (sign in, accept the rules, download, extract): {KAGGLE_URL}\n"
        "  Or run on the synthetic set instead: python -m fer_lightning data=synthetic"
    )


def bad_rows_error(source: str, problems: list[str], what: str = "rows") -> FERDataError:
    """One error listing the first few bad rows or files, and the switch that skips them."""
    listed = "\n  ".join(problems[:MAX_LISTED])
    more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return FERDataError(
        f"{source}: {len(problems)} bad {what}:\n  {listed}{more}\n"
        f"  Fix the file, or pass skip_bad_rows=True (CLI: --skip-bad-rows) to drop them; "
        "the dropped count is then reported."
    )
