"""``manifestkit validate``: predict, offline, what Rekognition Custom Labels would make of a manifest."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import aws
from ..validation import render_github, render_json, render_text, validate as validate_manifest
from ..validation import write_rekognition_results
from ._common import app, err, errors_to_exit, progress_bar


class Format(str, enum.Enum):
    text = "text"
    json = "json"
    github = "github"
    rekognition = "rekognition"


@app.command("validate")
def validate(
    manifest: Annotated[Path, typer.Argument(help="The manifest to check (the training manifest with --test).",
                                             dir_okay=False)],
    test: Annotated[Optional[Path], typer.Option("--test", help="The test manifest: also check label overlap "
                                                 "and images in both.", dir_okay=False)] = None,
    images: Annotated[Optional[Path], typer.Option("--images", help="Local folder with the images: check "
                                                   "their headers (s3://BUCKET/KEY is DIR/KEY).",
                                                   file_okay=False)] = None,
    s3_prefix: Annotated[Optional[str], typer.Option("--s3-prefix", help="The s3://BUCKET/PREFIX/ that --images "
                                                     "corresponds to (then DIR/REL, REL = KEY without it).")]
    = None,
    s3: Annotated[bool, typer.Option("--s3", help="Check the images in S3 (ranged GETs of their headers).")]
    = False,
    profile: Annotated[Optional[str], typer.Option("--profile", help="AWS profile for --s3.")] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="AWS region for --s3.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="text, json, github (workflow annotations) or "
                                        "rekognition (Rekognition's validation files).")] = Format.text,
    output_dir: Annotated[Path, typer.Option("--output-dir", help="Where --format rekognition writes its files.",
                                             file_okay=False)] = Path("."),
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on any error finding, not only when "
                                         "training would fail.")] = False,
    max_examples: Annotated[int, typer.Option("--max-examples", min=0, help="Examples shown per code (text).")]
    = 5,
) -> None:
    """Check a manifest against Rekognition Custom Labels' rules, in Rekognition's own error codes.

    Prints every finding and a verdict: clean, would train (with the lines and boxes Rekognition would
    drop) or would fail (naming the terminal error). Exit 1 when training would fail (--strict: on any
    error finding).

    \b
    Example:
      manifestkit validate train.manifest --test test.manifest --images photos/ \\
          --s3-prefix s3://my-bucket/photos/ --format text
    """
    if images is not None and s3:
        raise typer.BadParameter("use --images (local folder) or --s3, not both", param_hint="--s3")
    if s3_prefix is not None and images is None:
        raise typer.BadParameter("--s3-prefix needs --images", param_hint="--s3-prefix")
    with errors_to_exit():
        client = aws.make_clients(profile, region).s3 if s3 else None
        with progress_bar("validating", unit="line") as progress:
            report = validate_manifest(manifest, test=test, images=images, s3_prefix=s3_prefix, s3_client=client,
                                       progress=progress)
        if fmt is Format.json:
            typer.echo(render_json(report))
        elif fmt is Format.github:
            typer.echo(render_github(report))
        elif fmt is Format.rekognition:
            for path in write_rekognition_results(report, output_dir):
                err(f"wrote {path}")
            err(f"verdict: {report.verdict_text()}")
        else:
            typer.echo(render_text(report, max_examples))
    raise typer.Exit(report.exit_code(strict))
