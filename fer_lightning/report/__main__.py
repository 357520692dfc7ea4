"""`python -m fer_lightning.report PATH... [--out DIR]`: one report over the runs of one or more sweeps.

Reads every job's `results.json` under each PATH and writes `report.md` (every run, mean ± std over
seeds, the best run, the paper beside a matching grid), `runs.csv` and `heatmap.png` / `heatmap_val.png`
(test / val accuracy over the two swept groups). Accuracies are in % in the outputs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from fer_lightning.naming import REPORTED_GROUPS
from fer_lightning.report.document import write_report


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fer_lightning.report", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="multirun (or run) folders holding results.json files"
    )
    parser.add_argument("--out", help="output folder (default: PATH when there is one)")
    parser.add_argument("--rows", choices=REPORTED_GROUPS, help="heatmap rows (default: first swept group)")
    parser.add_argument(
        "--cols", choices=REPORTED_GROUPS, help="heatmap columns (default: second swept group)"
    )
    args = parser.parse_args(argv)
    if args.out is None and len(args.paths) > 1:
        parser.error("several PATHs: pass --out DIR for the combined report")
    files = write_report(args.paths, args.out or args.paths[0], rows=args.rows, cols=args.cols)
    for path in (files.markdown, files.csv, *files.heatmaps):
        print(path)


if __name__ == "__main__":
    main()
