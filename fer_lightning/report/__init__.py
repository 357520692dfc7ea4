"""The sweep report: `python -m fer_lightning.report PATH... [--out DIR]` (fer_lightning/report/__main__.py).

- `runs`: every job's results.json under the given folders as one table, summaries over seeds;
- `grid`: which two groups the heatmaps show, and the cell means beside the paper's values;
- `heatmap`: the heatmap figures;
- `document`: report.md, runs.csv and the heatmaps in the output folder (`write_report`);
- `sweep_callback`: the Hydra callback that writes the report when a multirun ends.

Nothing here imports Lightning or W&B: the report runs anywhere the run folders are.
"""
