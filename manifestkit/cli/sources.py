"""``manifestkit convert voc|yolo|csv|groundtruth|entries|auto`` and ``export``, ``merge``, ``relabel``,
``filter``: thin wrappers over :mod:`manifestkit.ops` and :mod:`manifestkit.export`."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .. import export as export_lib
from .. import fix as fix_lib
from .. import ops
from ..errors import ManifestKitError
from ..model import Summary
from ..sources import detect_format
from ._common import app, err, errors_to_exit, progress_bar
from .convert import (BadBoxes, BadBoxesOpt, CreationDate, KeepEmpty, LabelAttr, Output, Report, S3Prefix,
                      _finish, convert_app)

OptS3Prefix = Annotated[Optional[str], typer.Option(
    "--s3-prefix", help="Where the images will be: s3://BUCKET/PREFIX/ (needed when the source names images by "
                        "relative paths).")]
Images = Annotated[Optional[Path], typer.Option("--images", help="Folder the image paths are relative to.",
                                                file_okay=False)]
SkipInvalid = Annotated[bool, typer.Option("--skip-invalid", help="Leave out malformed annotation files, bad "
                                                                  "lines and corrupt images instead of failing.")]
SkipMissing = Annotated[bool, typer.Option("--skip-missing", help="Leave out annotations whose image is missing.")]


def _convert(fmt: str, source: Path, output: Path, s3_prefix: str | None, report: Path | None,
             label_attribute: str | None, creation_date: str | None, **options: Any) -> None:
    with errors_to_exit(), progress_bar("converting", unit="img") as progress:
        summary = ops.convert_source(fmt, source, output, s3_prefix=s3_prefix, label_attribute=label_attribute,
                                     creation_date=creation_date, progress=progress, **options)
        _finish(summary, report)


@convert_app.command("voc")
def voc(
    source: Annotated[Path, typer.Argument(help="VOC folder (Annotations/ + JPEGImages/, or XML beside images) "
                                                "or one .xml file.")],
    s3_prefix: S3Prefix,
    output: Output,
    images: Images = None,
    report: Report = None,
    label_attribute: LabelAttr = None,
    creation_date: CreationDate = None,
    bad_boxes: BadBoxesOpt = BadBoxes.clip,
    keep_empty: KeepEmpty = False,
    trust_sizes: Annotated[bool, typer.Option("--trust-sizes", help="Take <size> from the XML; open no image.")]
    = False,
    skip_missing: SkipMissing = False,
    skip_invalid: SkipInvalid = False,
    one_based: Annotated[bool, typer.Option("--one-based", help="Coordinates are the VOC devkit's 1-based "
                                                                "inclusive pixels (left = xmin - 1).")] = False,
    image_set: Annotated[Optional[str], typer.Option("--image-set", help="Only the ids in "
                                                                         "ImageSets/Main/NAME.txt (or a file).")]
    = None,
) -> None:
    """Convert Pascal VOC XML annotations into an object-detection manifest.

    \b
    Example:
      manifestkit convert voc VOC2012/ --s3-prefix s3://my-bucket/voc/ -o voc.manifest
    """
    _convert("voc", source, output, s3_prefix, report, label_attribute, creation_date, images=images,
             bad_boxes=bad_boxes.value, keep_empty=keep_empty, trust_sizes=trust_sizes, skip_missing=skip_missing,
             skip_invalid=skip_invalid, one_based=one_based, image_set=image_set)


@convert_app.command("yolo")
def yolo(
    source: Annotated[Path, typer.Argument(help="YOLO folder (with data.yaml, obj.data or obj.names).")],
    s3_prefix: S3Prefix,
    output: Output,
    report: Report = None,
    label_attribute: LabelAttr = None,
    creation_date: CreationDate = None,
    bad_boxes: BadBoxesOpt = BadBoxes.clip,
    keep_empty: KeepEmpty = False,
    skip_invalid: SkipInvalid = False,
) -> None:
    """Convert a YOLO dataset (darknet or Ultralytics layout) into an object-detection manifest.

    \b
    Example:
      manifestkit convert yolo my-yolo/ --s3-prefix s3://my-bucket/yolo/ -o yolo.manifest
    """
    _convert("yolo", source, output, s3_prefix, report, label_attribute, creation_date, bad_boxes=bad_boxes.value,
             keep_empty=keep_empty, skip_invalid=skip_invalid)


@convert_app.command("csv")
def csv_(
    source: Annotated[Path, typer.Argument(help="CSV: image,label[,label...] (no header), or a headed image-label "
                                                "or box CSV.", dir_okay=False)],
    output: Output,
    s3_prefix: OptS3Prefix = None,
    images: Images = None,
    report: Report = None,
    label_attribute: LabelAttr = None,
    creation_date: CreationDate = None,
    bad_boxes: BadBoxesOpt = BadBoxes.clip,
    skip_missing: SkipMissing = False,
    skip_invalid: SkipInvalid = False,
) -> None:
    """Convert a label CSV (AWS's image,label,... layout, image-label or box CSVs) into a manifest.

    \b
    Example:
      manifestkit convert csv labels.csv --s3-prefix s3://my-bucket/flowers/ -o flowers.manifest
    """
    _convert("csv", source, output, s3_prefix, report, label_attribute, creation_date, images=images,
             bad_boxes=bad_boxes.value, skip_missing=skip_missing, skip_invalid=skip_invalid)


@convert_app.command("groundtruth")
def groundtruth(
    source: Annotated[Path, typer.Argument(help="A Ground Truth labelling job's output.manifest.", dir_okay=False)],
    output: Output,
    report: Report = None,
    label_attribute: LabelAttr = None,
    creation_date: CreationDate = None,
    attribute: Annotated[Optional[str], typer.Option("--attribute", help="Read only this label attribute.")] = None,
    reject: Annotated[Optional[list[str]], typer.Option("--reject", help="Leave out lines whose verification "
                                                                         "verdict is this (repeatable).")] = None,
    bad_boxes: BadBoxesOpt = BadBoxes.clip,
    skip_invalid: SkipInvalid = False,
) -> None:
    """Rewrite a Ground Truth job output (classification, multi-label, boxes) in Rekognition's form.

    \b
    Example:
      manifestkit convert groundtruth output.manifest -o train.manifest --reject bad
    """
    _convert("groundtruth", source, output, None, report, label_attribute, creation_date, attribute=attribute,
             reject=tuple(reject or ()), bad_boxes=bad_boxes.value, skip_invalid=skip_invalid)


@convert_app.command("entries")
def entries(
    source: Annotated[Path, typer.Argument(help="Saved ListDatasetEntries output (JSON Lines or the CLI's JSON).",
                                           dir_okay=False)],
    output: Output,
    report: Report = None,
    label_attribute: LabelAttr = None,
    creation_date: CreationDate = None,
    keep_errors: Annotated[bool, typer.Option("--keep-errors", help="Keep entries Rekognition flagged with "
                                                                    "errors (their valid parts).")] = False,
    bad_boxes: BadBoxesOpt = BadBoxes.clip,
    skip_invalid: SkipInvalid = False,
) -> None:
    """Turn Rekognition dataset entries back into a manifest (service keys removed).

    \b
    Example:
      manifestkit convert entries entries.jsonl -o recovered.manifest
    """
    _convert("entries", source, output, None, report, label_attribute, creation_date, keep_errors=keep_errors,
             bad_boxes=bad_boxes.value, skip_invalid=skip_invalid)


@convert_app.command("auto")
def auto(
    source: Annotated[Path, typer.Argument(help="A dataset folder or file in any supported format.")],
    output: Output,
    s3_prefix: OptS3Prefix = None,
    images: Images = None,
    report: Report = None,
    label_attribute: LabelAttr = None,
    creation_date: CreationDate = None,
) -> None:
    """Detect the source format, say what was detected, and convert with default options.

    Also what `manifestkit convert SOURCE ...` (no format) runs.

    \b
    Example:
      manifestkit convert dataset/ --s3-prefix s3://my-bucket/data/ -o data.manifest
      manifestkit convert auto instances.json --images images/ --s3-prefix s3://my-bucket/data/ -o d.manifest
    """
    with errors_to_exit():
        fmt, reason = detect_format(source)
        err(f"detected {fmt}: {reason}")
        if images is not None and fmt not in _TAKES_IMAGES:
            raise ManifestKitError(f"--images does not apply to {fmt} sources (their image paths are in the "
                                   "source itself)")
    options = {"images": images} if images is not None else {}
    _convert(fmt, source, output, s3_prefix, report, label_attribute, creation_date, **options)


# Formats whose reader takes a separate images folder.
_TAKES_IMAGES = frozenset({"coco", "voc", "csv"})


# ------------------------------------------------------------------------------------- dataset operations

class ExportFormat(str, enum.Enum):
    coco = "coco"
    yolo = "yolo"
    csv = "csv"


def _render_export(summary: Summary) -> None:
    err(f"wrote {summary.output}: {summary.images} images"
        + (f", {summary.boxes} boxes" if summary.task == "detection" else "")
        + f", {len(summary.labels)} labels")
    for code in sorted(summary.notes):
        n = summary.notes[code]
        ex = f" (e.g. {', '.join(n.examples[:3])})" if n.examples else ""
        err(f"{n.severity}: {n.code}: {n.count} x {n.message}{ex}")


@app.command("export")
def export(
    manifest: Annotated[Path, typer.Argument(help="The manifest to export.", dir_okay=False)],
    to: Annotated[ExportFormat, typer.Option("--to", help="Target format.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="COCO/CSV file, or a new folder for YOLO.")],
    s3_prefix: Annotated[Optional[str], typer.Option("--s3-prefix", help="Make image paths relative to this "
                                                                          "s3://BUCKET/PREFIX/.")] = None,
    skip_invalid: SkipInvalid = False,
) -> None:
    """Export a manifest to COCO, YOLO or CSV.

    \b
    Example:
      manifestkit export train.manifest --to coco -o train.json --s3-prefix s3://my-bucket/parts/
    """
    with errors_to_exit(), progress_bar("exporting", unit="img") as progress:
        summary = export_lib.export_manifest(manifest, output, to=to.value, s3_prefix=s3_prefix,
                                             skip_invalid=skip_invalid, progress=progress)
        _render_export(summary)


@app.command("merge")
def merge(
    manifests: Annotated[list[Path], typer.Argument(help="Two or more manifests.", dir_okay=False)],
    output: Output,
    report: Report = None,
    label_attribute: LabelAttr = None,
    creation_date: CreationDate = None,
    skip_invalid: SkipInvalid = False,
) -> None:
    """Merge manifests: labels unified by name, ids renumbered, repeated images reported.

    \b
    Example:
      manifestkit merge a.manifest b.manifest -o all.manifest
    """
    with errors_to_exit(), progress_bar("merging", unit="img") as progress:
        summary = ops.merge_manifests(manifests, output, label_attribute=label_attribute,
                                      creation_date=creation_date, skip_invalid=skip_invalid, progress=progress)
        _finish(summary, report)


@app.command("relabel")
def relabel(
    manifest: Annotated[Path, typer.Argument(help="The manifest to relabel.", dir_okay=False)],
    output: Output,
    mapping: Annotated[Optional[list[str]], typer.Option("--map", help="OLD=NEW (repeatable; two OLD may share "
                                                                        "a NEW).")] = None,
    drop: Annotated[Optional[list[str]], typer.Option("--drop", help="Remove this label (repeatable).")] = None,
    report: Report = None,
    label_attribute: LabelAttr = None,
    creation_date: CreationDate = None,
    skip_invalid: SkipInvalid = False,
) -> None:
    """Rename, merge or drop labels.

    \b
    Example:
      manifestkit relabel train.manifest --map Echo=speaker --map "Echo Dot=speaker" --drop misc -o new.manifest
    """
    with errors_to_exit():
        parsed = ops.parse_mapping(mapping or [])
    with errors_to_exit(), progress_bar("relabelling", unit="img") as progress:
        summary = ops.relabel_manifest(manifest, output, mapping=parsed, drop=drop or [],
                                       label_attribute=label_attribute, creation_date=creation_date,
                                       skip_invalid=skip_invalid, progress=progress)
        _finish(summary, report)


@app.command("filter")
def filter_(
    manifest: Annotated[Path, typer.Argument(help="The manifest to filter.", dir_okay=False)],
    output: Output,
    labels: Annotated[Optional[list[str]], typer.Option("--labels", help="Keep only these labels "
                                                                         "(repeatable).")] = None,
    min_boxes: Annotated[int, typer.Option("--min-boxes", min=0, help="Keep images with at least N boxes.")] = 0,
    sample: Annotated[Optional[int], typer.Option("--sample", min=1, help="Keep a random sample of N images.")]
    = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample (same seed, same sample).")] = 0,
    report: Report = None,
    label_attribute: LabelAttr = None,
    creation_date: CreationDate = None,
    skip_invalid: SkipInvalid = False,
) -> None:
    """Keep part of a manifest: some labels, images with enough boxes, a random sample.

    \b
    Example:
      manifestkit filter train.manifest --labels cat --labels dog --sample 500 --seed 1 -o small.manifest
    """
    with errors_to_exit(), progress_bar("filtering", unit="img") as progress:
        summary = ops.filter_manifest(manifest, output, labels=labels, min_boxes=min_boxes, sample=sample,
                                      seed=seed, label_attribute=label_attribute, creation_date=creation_date,
                                      skip_invalid=skip_invalid, progress=progress)
        _finish(summary, report)


@app.command("fix")
def fix(
    manifest: Annotated[Path, typer.Argument(help="The manifest to repair (not modified).", dir_okay=False)],
    images: Annotated[Path, typer.Option("--images", help="Local folder holding the manifest's images.",
                                         file_okay=False)],
    output: Output,
    s3_prefix: Annotated[Optional[str], typer.Option("--s3-prefix", help="The s3://BUCKET/PREFIX/ that --images "
                                                                          "holds (default: the whole key).")]
    = None,
    images_out: Annotated[Optional[Path], typer.Option("--images-out", help="New folder for repaired images "
                                                                            "(upload it to the same prefix).",
                                                       file_okay=False)] = None,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write every change, by line, as JSON.",
                                                   dir_okay=False)] = None,
    label_attribute: LabelAttr = None,
    creation_date: CreationDate = None,
) -> None:
    """Repair a manifest and its images: coordinates, off-frame and tiny boxes, formats, size, rotation.

    \b
    Example:
      manifestkit fix train.manifest --images photos/ --s3-prefix s3://my-bucket/photos/ \\
          --images-out fixed-photos/ -o train-fixed.manifest
    """
    with errors_to_exit(), progress_bar("fixing", unit="line") as progress:
        result = fix_lib.fix_manifest(manifest, output, images=images, s3_prefix=s3_prefix, images_out=images_out,
                                      label_attribute=label_attribute, creation_date_value=creation_date,
                                      report=report, progress=progress)
    err(f"wrote {result.output}: {result.written} of {result.lines} lines, {result.images_written} images "
        f"rewritten, {len(result.changes)} changes")
    for code, count in result.counts().items():
        err(f"  {code}: {count}")
    for c in result.changes[:20]:
        err(f"  line {c.line}: {'' if c.fixed else 'NOT FIXED: '}{c.code}: {c.message}")
    if len(result.changes) > 20:
        err(f"  ... {len(result.changes) - 20} more" + (" (see --report)" if report is None else f" in {report}"))
    if result.unfixed:
        err(f"{len(result.unfixed)} problem(s) could not be fixed (marked NOT FIXED)")
