"""`python -m fer_lightning.data inspect PATH [--json]`: what a FER-2013 download holds.

Exit status: 0 on success, 2 for input the user can fix (bad or missing data), 1 for an internal error.
An error is one message on stderr (and, with --json, one JSON object on stdout); the traceback is shown
only with FER_LIGHTNING_FULL_ERROR=1.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback

from fer_lightning.data.errors import BAD_INPUT_STATUS, FULL_ERROR_ENV, full_error_requested, is_bad_input
from fer_lightning.data.inspect import format_text, inspect_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_lightning.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    inspect = commands.add_parser(
        "inspect", help="layout, images per split and class, duplicates, conflicting labels, blank images"
    )
    inspect.add_argument(
        "path",
        help="fer2013.csv, icml_face_data.csv, a folder holding any supported layout, or a .zip / .tar / "
        ".tar.gz / .tgz / .csv.gz of one",
    )
    inspect.add_argument("--json", action="store_true", help="print one machine-readable JSON object")
    inspect.add_argument("--skip-bad-rows", action="store_true", help="drop bad rows/files and list them all")
    inspect.add_argument(
        "--no-cache", action="store_true", help="parse the source; neither read nor write the cache"
    )
    inspect.add_argument(
        "--cache-dir", default=None, help="keep the decoded-array cache here, not beside the source"
    )
    args = parser.parse_args(argv)

    try:
        report = inspect_dataset(
            args.path, use_cache=not args.no_cache, skip_bad_rows=args.skip_bad_rows, cache_dir=args.cache_dir
        )
    except Exception as err:
        return _report_error(err, args)
    print(json.dumps(report, indent=2) if args.json else format_text(report))
    return 0


def _report_error(err: Exception, args: argparse.Namespace) -> int:
    bad_input = is_bad_input(err)
    status = BAD_INPUT_STATUS if bad_input else 1
    if args.json:
        error = {
            "path": args.path,
            "error": str(err),
            "error_type": type(err).__name__,
            "exit_status": status,
        }
        print(json.dumps(error))
    if full_error_requested():
        traceback.print_exc()
    elif bad_input:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
    else:
        print(
            f"internal error, please report it: {type(err).__name__}: {err} "
            f"(set {FULL_ERROR_ENV}=1 for the traceback)",
            file=sys.stderr,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
