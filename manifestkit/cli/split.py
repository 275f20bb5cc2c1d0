"""``manifestkit split``: a deterministic, label-stratified train/test split."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..splitting import AUTOSPLIT_MIN_IMAGES, SplitResult
from ..splitting import split as split_manifest
from ._common import app, err, errors_to_exit, progress_bar


def _fraction(value: float) -> float:
    if not 0 < value < 1:  # also refuses NaN
        raise typer.BadParameter("must be strictly between 0 and 1, for example 0.2")
    return value


def _regex(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    try:
        rx = re.compile(value)
    except re.error as e:
        raise typer.BadParameter(f"not a valid regular expression: {e}") from None
    if rx.groups < 1:
        raise typer.BadParameter(r"needs a capture group naming the group, e.g. '/(video\d+)/'")
    return value


def render_split(result: SplitResult) -> str:
    """The split table, warnings and the auto-split prediction, for people (stderr)."""
    pct = f"{result.test_fraction:.0%}" if result.test_fraction * 100 == int(result.test_fraction * 100) \
        else f"{result.test_fraction:.2%}"
    out = [f"split {result.source}: {result.lines} lines in {result.groups} groups, seed {result.seed}, "
           f"target test share {pct}",
           f"  train {result.train_path}: {result.train_lines} lines",
           f"  test  {result.test_path}: {result.test_lines} lines"]
    width = max([len(r.label) for r in result.labels] + [5])
    head = f"  {'label':<{width}}  {'images':>7}  {'train':>7}  {'test':>7}  {'target':>7}  {'test %':>7}"
    if result.detection:
        head += f"  {'boxes':>7}  {'train':>7}  {'test':>7}  {'test %':>7}"
    out.append(head)
    for r in result.labels:
        row = (f"  {r.label:<{width}}  {r.images:>7}  {r.train_images:>7}  {r.test_images:>7}  "
               f"{r.target_test_images:>7.1f}  {r.test_share:>7.1%}")
        if result.detection:
            row += f"  {r.boxes:>7}  {r.train_boxes:>7}  {r.test_boxes:>7}  {r.test_box_share:>7.1%}"
        out.append(row)
    out.append(f"label overlap (labels in both parts / labels in train): {result.label_overlap:.0%} "
               f"({'meets' if result.overlap_ok else 'BELOW'} Rekognition's 50 %)")
    for w in result.warnings:
        out.append(f"{w.severity}: {w.code}: {w.message}")
    if result.autosplit_risk:
        names = ", ".join(result.autosplit_risk[:10]) + (" ..." if len(result.autosplit_risk) > 10 else "")
        out.append(f"prediction: letting Rekognition split this manifest itself (AutoCreate) would likely fail "
                   f"with ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_AUTOSPLIT: {len(result.autosplit_risk)} "
                   f"labels have fewer than {AUTOSPLIT_MIN_IMAGES} images ({names})")
    else:
        out.append(f"prediction: Rekognition's own auto-split should accept this manifest (every label has at "
                   f"least {AUTOSPLIT_MIN_IMAGES} images)")
    return "\n".join(out)


@app.command("split")
def split(
    manifest: Annotated[Path, typer.Argument(help="The manifest to split (left unchanged).", dir_okay=False)],
    train_out: Annotated[Path, typer.Option("--train-out", help="Training manifest to write (.manifest added).",
                                            dir_okay=False)],
    test_out: Annotated[Path, typer.Option("--test-out", help="Test manifest to write (.manifest added).",
                                           dir_okay=False)],
    test_fraction: Annotated[float, typer.Option("--test-fraction", callback=_fraction,
                                                 help="Share of each label's images for test, 0 < f < 1.")]
    = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Another seed gives another split.")] = 0,
    group_by: Annotated[Optional[str], typer.Option("--group-by", callback=_regex,
                                                    help="Regex over source-ref; its first group names a "
                                                         "group kept in one part.")] = None,
    images: Annotated[Optional[Path], typer.Option("--images", file_okay=False, exists=True,
                                                   help="Folder with the images: identical files stay "
                                                        "together.")] = None,
    s3_prefix: Annotated[Optional[str], typer.Option("--s3-prefix",
                                                     help="The s3://BUCKET/PREFIX/ that --images stands "
                                                          "for.")] = None,
) -> None:
    """Split a manifest into train and test, stratified by label, the same way for the same seed.

    Every line goes to exactly one part, byte for byte, and no image or --group-by group is in both.

    Prints a per-label table, warnings and a prediction for Rekognition's own auto-split on stderr.

    \b
    Example:
      manifestkit split flowers.manifest --train-out train --test-out test --group-by '/(plant\\d+)_'
    """
    if s3_prefix is not None and images is None:
        raise typer.BadParameter("only means something with --images", param_hint="--s3-prefix")
    with errors_to_exit(), progress_bar("splitting", unit="line") as progress:
        result = split_manifest(manifest, train_out, test_out, test_fraction=test_fraction, seed=seed,
                           group_by=group_by, images=images, s3_prefix=s3_prefix, progress=progress)
    err(render_split(result))
