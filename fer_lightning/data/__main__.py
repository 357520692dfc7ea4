"""`python -m fer_lightning.data inspect PATH [--json]`: what a FER-2013 download holds."""

from __future__ import annotations

import argparse
import json
import sys

from fer_lightning.data.errors import FERDataError
from fer_lightning.data.inspect import format_text, inspect_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_lightning.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    inspect = commands.add_parser(
        "inspect", help="layout, images per split and class, duplicates, conflicting labels, blank images"
    )
    inspect.add_argument(
        "path", help="fer2013.csv, icml_face_data.csv, or a folder holding any supported layout"
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
    except (FERDataError, FileNotFoundError) as err:
        if args.json:
            print(json.dumps({"path": args.path, "error": str(err), "error_type": type(err).__name__}))
        else:
            print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2) if args.json else format_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
