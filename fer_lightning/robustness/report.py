"""Robustness report files: robustness.json, robustness.md (table), robustness.png (accuracy vs severity per
family) and robustness_examples.png (one face under every corruption and severity)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from fer_lightning.plotting import save_png
from fer_lightning.robustness.corruptions import CORRUPTIONS, corrupt


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def headline(result: dict[str, Any]) -> str:
    return (
        f"clean {_pct(result['clean_acc'])} %, mCA {_pct(result['mean_corruption_acc'])} %, "
        f"relative drop {_pct(result['relative_drop'])} %"
    )


def markdown_table(result: dict[str, Any]) -> str:
    """Accuracy (%) per corruption and severity, family means and the overall mCA."""
    sev = result["severities"]
    head = ["family", "corruption", "parameter (severity 1 ... 5)", *map(str, sev), "mean", "rel. drop"]
    split = f", split {'+'.join(result['splits'])}" if result.get("splits") else ""
    lines = [
        f"# Robustness: {result['source']}{' (SYNTHETIC)' if result['synthetic'] else ''}{split}",
        "",
        *([f"Checkpoint: `{result['checkpoint']}`", ""] if result.get("checkpoint") else []),
        f"{result['n_images']} images, corruption seed {result['seed']}: {headline(result)}.",
        "Accuracy in %; relative drop = (clean - corrupted) / clean.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for family, fam in result["families"].items():
        for name in fam["corruptions"]:
            row = result["corruptions"][name]
            levels = ", ".join(f"{v:g}" for v in row["levels"])
            cells = [family, name, f"{row['unit']}: {levels}", *map(_pct, row["acc"])]
            lines.append(
                "| " + " | ".join([*cells, _pct(row["mean_acc"]), _pct(row["mean_rel_drop"])]) + " |"
            )
        mean_drop = (
            (result["clean_acc"] - fam["mean_acc"]) / result["clean_acc"] if result["clean_acc"] else None
        )
        cells = [f"**{family}**", "mean", "", *map(_pct, fam["acc"]), _pct(fam["mean_acc"]), _pct(mean_drop)]
        lines.append("| " + " | ".join(cells) + " |")
    overall = (
        np.mean([f["acc"] for f in result["families"].values()], axis=0) if len(result["families"]) else []
    )
    cells = [
        "**all**",
        "**mCA**",
        "",
        *map(_pct, overall),
        _pct(result["mean_corruption_acc"]),
        _pct(result["relative_drop"]),
    ]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def severity_figure(result: dict[str, Any], title: str = "") -> Figure:
    """One panel per family: accuracy (%) against severity, a line per corruption from the clean point (0)."""
    families = result["families"]
    fig = Figure(figsize=(3.6 * len(families), 4.2))
    axes = fig.subplots(1, len(families), squeeze=False, sharey=True)[0]
    x = [0, *result["severities"]]
    clean = 100 * result["clean_acc"]
    for ax, (family, fam) in zip(axes, families.items(), strict=True):
        for name in fam["corruptions"]:
            ax.plot(
                x,
                [clean, *(100 * a for a in result["corruptions"][name]["acc"])],
                marker="o",
                ms=3,
                label=name,
            )
        ax.plot(
            x, [clean, *(100 * a for a in fam["acc"])], color="black", lw=2.2, ls="--", label="family mean"
        )
        ax.set_title(f"{family} (mean {100 * fam['mean_acc']:.1f} %)", fontsize=9)
        ax.set_xticks(x, ["clean", *map(str, result["severities"])])
        ax.set_xlabel("severity")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    axes[0].set_ylabel("accuracy %")
    axes[0].set_ylim(0, max(100.0, clean + 5))
    synthetic = ", SYNTHETIC data" if result["synthetic"] else ""
    fig.suptitle(
        f"{title + ': ' if title else ''}{headline(result)} ({result['n_images']} images{synthetic})",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def examples_figure(face: np.ndarray, names: list[str], severities: list[int], seed: int) -> Figure:
    """One uint8 face [H, W] under each corruption (rows) at each severity (columns), clean first."""
    fig = Figure(figsize=(1.1 * (len(severities) + 1) + 0.9, 1.1 * len(names) + 0.4))
    axes = fig.subplots(len(names), len(severities) + 1, squeeze=False)
    for r, name in enumerate(names):
        shown = [face, *(corrupt(face[None], name, s, seed)[0] for s in severities)]
        for c, img in enumerate(shown):
            ax = axes[r, c]
            ax.imshow(img, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("clean" if c == 0 else f"severity {severities[c - 1]}", fontsize=8)
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.tight_layout()
    return fig


def write_report(
    result: dict[str, Any], out_dir: str | Path, face: np.ndarray | None = None, title: str = ""
) -> dict[str, Path]:
    """Write the report files into `out_dir`; `face` (uint8 [H, W]) adds the examples figure."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "robustness.json", "table": out / "robustness.md", "plot": out / "robustness.png"}
    paths["json"].write_text(json.dumps(result, indent=2) + "\n")
    paths["table"].write_text(markdown_table(result))
    save_png(severity_figure(result, title), paths["plot"])
    if face is not None:
        names = [n for n in CORRUPTIONS if n in result["corruptions"]]
        paths["examples"] = save_png(
            examples_figure(face, names, result["severities"], result["seed"]),
            out / "robustness_examples.png",
        )
    return paths
