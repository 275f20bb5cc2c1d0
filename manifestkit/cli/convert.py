"""``manifestkit convert``: dataset sources to manifests."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from .. import convert as lib
from ..model import Summary
from ._common import app, err, errors_to_exit, progress_bar

class _DefaultToAuto(TyperGroup):
    """``manifestkit convert SOURCE ...`` (no format) means ``manifestkit convert auto SOURCE ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["auto", *args]
        return super().parse_args(ctx, args)


convert_app = typer.Typer(help="Convert a labelled dataset into a Rekognition Custom Labels manifest. "
                               "With no format (convert SOURCE ...) the format is detected.",
                          no_args_is_help=True, cls=_DefaultToAuto)
app.add_typer(convert_app, name="convert")


class Crowd(str, enum.Enum):
    skip = "skip"
    keep = "keep"


class BadBoxes(str, enum.Enum):
    clip = "clip"
    drop = "drop"
    error = "error"


S3Prefix = Annotated[str, typer.Option("--s3-prefix", help="Where the images will be: s3://BUCKET/PREFIX/.")]
Output = Annotated[Path, typer.Option("-o", "--output", help="The manifest to write (.manifest is added).",
                                      dir_okay=False)]
Report = Annotated[Optional[Path], typer.Option("--report", help="Also write the summary as JSON here.",
                                                dir_okay=False)]
LabelAttr = Annotated[Optional[str], typer.Option("--label-attribute",
                                                  help="Label attribute name (default: 'label' for image "
                                                       "labels, 'bounding-box' for boxes).")]
CrowdOpt = Annotated[Crowd, typer.Option("--crowd", help="iscrowd=1 annotations: skip them or keep them as boxes.")]
BadBoxesOpt = Annotated[BadBoxes, typer.Option("--bad-boxes", help="Boxes running off the image.")]
KeepEmpty = Annotated[bool, typer.Option("--keep-empty", help="Write images that have no boxes.")]
SkipMissingImages = Annotated[bool, typer.Option("--skip-missing", help="Leave out images that are missing.")]
SkipInvalidFiles = Annotated[bool, typer.Option("--skip-invalid",
                                                help="Leave out corrupt images, broken or outside links and "
                                                     "undecodable names instead of failing.")]
CreationDate = Annotated[Optional[str], typer.Option("--creation-date",
                                                     help="creation-date to write (ISO 8601, UTC); default: "
                                                          "SOURCE_DATE_EPOCH, else now.")]


def render_summary(summary: Summary) -> str:
    """The conversion summary for people (stderr)."""
    out = [f"wrote {summary.output}: {summary.images} images, {len(summary.labels)} labels"
           + (f", {summary.boxes} boxes" if summary.task == "detection" else "")]
    width = max((len(k) for k in summary.labels), default=0)
    for label in sorted(summary.labels):
        extra = f"  {summary.boxes_per_label.get(label, 0):>7} boxes" if summary.task == "detection" else ""
        out.append(f"  {label:<{width}}  {summary.labels[label]:>7} images{extra}")
    for code in sorted(summary.notes):
        n = summary.notes[code]
        ex = f" (e.g. {', '.join(n.examples[:3])})" if n.examples else ""
        out.append(f"{n.severity}: {n.code}: {n.count} x {n.message}{ex}")
    return "\n".join(out)


def _finish(summary: Summary, report: Path | None) -> None:
    if report is not None:
        lib.write_report(summary, report)
    err(render_summary(summary))


@convert_app.command("coco")
def coco(
    annotations: Annotated[Path, typer.Argument(help="COCO instances JSON file.", dir_okay=False)],
    s3_prefix: S3Prefix,
    output: Output,
    images: Annotated[Optional[Path], typer.Option("--images", help="Folder the COCO file_names are under.",
                                                   file_okay=False)] = None,
    report: Report = None,
    label_attribute: LabelAttr = None,
    creation_date: CreationDate = None,
    crowd: CrowdOpt = Crowd.skip,
    bad_boxes: BadBoxesOpt = BadBoxes.clip,
    keep_empty: KeepEmpty = False,
    trust_sizes: Annotated[bool, typer.Option("--trust-sizes",
                                              help="Take width/height from the COCO file; open no image.")]
    = False,
    skip_missing: SkipMissingImages = False,
) -> None:
    """Convert a COCO detection file into an object-detection manifest.

    \b
    Example:
      manifestkit convert coco annotations/instances_train.json --images images \\
          --s3-prefix s3://my-bucket/datasets/parts/ -o train.manifest
    """
    with errors_to_exit(), progress_bar("writing", unit="img") as progress:
        summary = lib.convert_coco(annotations, output, s3_prefix=s3_prefix, images=images,
                                   label_attribute=label_attribute, creation_date=creation_date,
                                   crowd=crowd.value, bad_boxes=bad_boxes.value, keep_empty=keep_empty,
                                   trust_sizes=trust_sizes, skip_missing=skip_missing, progress=progress)
        _finish(summary, report)


@convert_app.command("folders")
def folders(
    root: Annotated[Path, typer.Argument(help="Root folder: one sub-folder per label.", file_okay=False)],
    s3_prefix: S3Prefix,
    output: Output,
    report: Report = None,
    label_attribute: LabelAttr = None,
    creation_date: CreationDate = None,
    skip_invalid: SkipInvalidFiles = False,
) -> None:
    """Convert a folder-per-label tree into an image-level (classification) manifest.

    \b
    Example:
      manifestkit convert folders photos/ --s3-prefix s3://my-bucket/flowers/ -o flowers.manifest
    """
    with errors_to_exit(), progress_bar("writing", unit="img") as progress:
        summary = lib.convert_folders(root, output, s3_prefix=s3_prefix, label_attribute=label_attribute,
                                      creation_date=creation_date, skip_invalid=skip_invalid,
                                      progress=progress)
        _finish(summary, report)
