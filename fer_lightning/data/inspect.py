"""What a downloaded FER-2013 copy holds: the library side of `python -m fer_lightning.data inspect`."""

from __future__ import annotations

import os
import time

from fer_lightning.data.audit import audit
from fer_lightning.data.folder_reader import CONVERSIONS, LOSSY
from fer_lightning.data.readers import load_fer2013
from fer_lightning.fer2013 import EMOTIONS, SPLIT_SIZES


def _notes(report: dict, layout: str) -> list[str]:
    notes = []
    if report["images"] == 0:
        why = (
            "every row or file was skipped as bad"
            if report["skipped"]["count"]
            else "the CSV has a header and no data rows"
            if "csv" in layout
            else "no images were found"
        )
        notes.append(f"0 images: {why}; training on this source fails, as every split is empty")
    unknown = report["splits"].get("unknown", {}).get("images", 0)
    if unknown and layout == "train_test_csv":
        notes.append(
            f"test.csv: {unknown} images without labels and without an official split (PublicTest and "
            "PrivateTest mixed, not separable): the paper's val/test roles need fer2013.csv or icml_face_data.csv"
        )
    elif unknown:
        notes.append(
            f"{unknown} images carry no PublicTest_/PrivateTest_/Training_ name prefix: their official split "
            "is unknown (test/ mixes PublicTest and PrivateTest)"
        )
    for split, expected in SPLIT_SIZES.items():
        found = report["splits"].get(split, {}).get("images")
        if found is not None and found != expected:
            notes.append(f"{split} has {found} images; the official release has {expected}")
    if report["skipped"]["count"]:
        notes.append(f"{report['skipped']['count']} bad rows or files were skipped (listed under skipped)")
    for kind, converted in report["conversions"].items():
        n = converted["count"]
        notes.append(f"{n} image{'s' * (n != 1)} {CONVERSIONS[kind]}; listed under conversions.{kind}")
    return notes


def inspect_dataset(
    path: str | os.PathLike,
    *,
    use_cache: bool = True,
    skip_bad_rows: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> dict:
    """Load `path` like training would, audit it, and return one JSON-ready report.

    Raises what `load_fer2013` raises: FileNotFoundError, or FERDataError for the first bad rows. A
    source with 0 images is a report (with a note), not an error.
    """
    start = time.perf_counter()
    arrays = load_fer2013(path, cache_dir=cache_dir, use_cache=use_cache, skip_bad_rows=skip_bad_rows)
    loaded = time.perf_counter()
    report = audit(arrays)
    report["path"] = str(path)
    report["notes"] = _notes(report, arrays.layout)
    report["seconds"] = {"load": round(loaded - start, 3), "audit": round(time.perf_counter() - loaded, 3)}
    return report


def format_text(report: dict) -> str:
    """The report as a short human-readable summary."""
    seconds = report["seconds"]
    lines = [
        f"FER-2013 at {report['path']}" + (" (synthetic)" if report["synthetic"] else ""),
        f"layout: {report['layout']}   images: {report['images']}   source: {report['source']}",
        f"loaded in {seconds['load']:.2f} s, audited in {seconds['audit']:.2f} s",
        "",
        f"{'split':<12}{'images':>8}" + "".join(f"{e:>9}" for e in EMOTIONS) + f"{'no label':>9}",
    ]
    for split, counts in report["splits"].items():
        per_class = counts["per_class"]
        lines.append(
            f"{split:<12}{counts['images']:>8}"
            + "".join(f"{per_class[e]:>9}" for e in EMOTIONS)
            + f"{per_class.get('unlabelled', 0):>9}"
        )
    dup = report["duplicates"]
    lines += ["", f"exact duplicates: {dup['redundant_images']} redundant images in all"]
    for split, within in dup["within_split"].items():
        if within["groups"]:
            lines.append(
                f"  within {split}: {within['groups']} groups, {within['redundant_images']} redundant copies, "
                f"{within['conflicting_label_groups']} groups with conflicting labels"
            )
    for cross in dup["across_splits"]:
        if cross["images"]:
            lines.append(
                f"  {cross['split']} images with an exact copy in {cross['copies_in']}: {cross['images']} "
                f"({cross['conflicting_labels']} under another label)"
            )
    blank = report["blank"]
    lines.append(f"blank (uniform) images: {blank['images']} ({blank['all_black']} all black)")
    lines += [f"  {i}" for i in blank["ids"][:10]]
    skipped = report["skipped"]
    lines.append(f"skipped bad rows/files: {skipped['count']}")
    lines += [f"  {s}" for s in skipped["items"][:10]]
    converted = report["conversions"]
    lines.append(
        "converted to 8-bit grey: "
        + (", ".join(f"{kind} {c['count']}" for kind, c in converted.items()) or "none")
    )
    for kind in LOSSY:
        lines += [f"  {kind}: {i}" for i in converted.get(kind, {}).get("ids", [])[:10]]
    if report["notes"]:
        lines += ["", "notes:", *(f"  - {n}" for n in report["notes"])]
    return "\n".join(lines)
