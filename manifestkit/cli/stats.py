"""``manifestkit stats`` and ``manifestkit report``: look at a dataset before paying to train on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import report as report_lib
from ..datastats import ManifestStats, Stats
from ..datastats import stats as compute_stats
from ._common import app, err, errors_to_exit, progress_bar

Manifest = Annotated[Path, typer.Argument(help="The (training) manifest.", dir_okay=False)]
TestManifest = Annotated[Optional[Path], typer.Option("--test", help="A test manifest, shown side by side.",
                                                      dir_okay=False)]


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return [fmt.format(*headers).rstrip(), *(fmt.format(*r).rstrip() for r in rows)]


def render_stats(result: Stats) -> str:
    """The statistics as text tables for people."""
    parts: list[tuple[str, ManifestStats]] = [("train", result.train)]
    if result.test is not None:
        parts.append(("test", result.test))
    detection = any(p.detection for _, p in parts)
    names = [n for n, _ in parts]
    out = [f"{n}: {p.path} ({p.task})" for n, p in parts]
    rows = [["images", *(str(p.images) for _, p in parts)], ["labels", *(str(len(p.labels)) for _, p in parts)]]
    if detection:
        rows += [["boxes", *(str(p.boxes) for _, p in parts)],
                 ["boxes/image mean", *(f"{p.boxes_per_image_mean:.2f}" for _, p in parts)],
                 ["boxes/image max", *(str(p.max_boxes_on_image) for _, p in parts)],
                 ["boxes too small", *(str(p.too_small_boxes) for _, p in parts)]]
    rows += [["width px", *(f"{p.width_range[0]}-{p.width_range[1]}" if p.width_range else "unknown"
                            for _, p in parts)],
             ["height px", *(f"{p.height_range[0]}-{p.height_range[1]}" if p.height_range else "unknown"
                             for _, p in parts)]]
    if any(p.invalid_lines for _, p in parts):
        rows.append(["unreadable lines", *(str(p.invalid_lines) for _, p in parts)])
    out += ["", *_table(["", *names], rows)]

    label_head = ["label"]
    for n, p in parts:
        label_head.append(f"{n} images")
        if p.detection:
            label_head.append(f"{n} boxes")
    label_rows = []
    for lab in result.labels:
        row = [lab]
        for _, p in parts:
            ls = p.labels.get(lab)
            row.append(str(ls.images if ls else 0))
            if p.detection:
                row.append(str(ls.boxes if ls else 0))
        label_rows.append(row)
    out += ["", *_table(label_head, label_rows)]

    # Image-level manifests carry no image size: an all-"unknown" histogram says nothing.
    sized = any(sum(p.image_sizes.values()) - p.image_sizes["unknown"] for _, p in parts)
    hists = [("image size (longest side px)", "image_sizes")] if sized else []
    if detection:
        hists = [("boxes per image", "boxes_per_image"), ("box area / image area", "box_area"),
                 ("box aspect w:h", "box_aspect")] + hists
    for title, attr in hists:
        cats = list(getattr(result.train, attr))
        out += ["", *_table([title, *names], [[c, *(str(getattr(p, attr)[c]) for _, p in parts)] for c in cats])]
    if result.flags:
        out.append("")
        out += [f"{f.severity}: {f.code}: {f.message}" + (" (test)" if f.manifest == "test" else "")
                for f in result.flags]
    return "\n".join(out)


@app.command("stats")
def stats_command(
    manifest: Manifest,
    test: TestManifest = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
) -> None:
    """Show dataset statistics: labels, boxes, box sizes, image sizes; flag thin or imbalanced labels.

    \b
    Example:
      manifestkit stats train.manifest --test test.manifest
    """
    with errors_to_exit(), progress_bar("reading", unit="line") as progress:
        result = compute_stats(manifest, test=test, progress=progress)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(render_stats(result))


@app.command("report")
def report_command(
    manifest: Manifest,
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.", dir_okay=False)],
    test: TestManifest = None,
    images: Annotated[Optional[Path], typer.Option("--images", help="Local folder holding the images.",
                                                   file_okay=False)] = None,
    s3_prefix: Annotated[Optional[str], typer.Option("--s3-prefix",
                                                     help="With --images: the S3 prefix that folder stands "
                                                          "for (default: found from the files).")] = None,
    s3: Annotated[bool, typer.Option("--s3", help="Read the images from S3 (the source-refs).")] = False,
    per_label: Annotated[int, typer.Option("--per-label", min=1,
                                           help="Images shown per label and manifest (bounds the file size).")]
    = report_lib.DEFAULT_PER_LABEL,
    profile: Annotated[Optional[str], typer.Option("--profile", help="AWS profile (with --s3).")] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="AWS region (with --s3).")] = None,
) -> None:
    """Write a self-contained HTML report: charts, thumbnails with boxes per label, findings.

    The file works offline (no external resource) and holds at most --per-label images per label.

    \b
    Example:
      manifestkit report train.manifest --images photos/ --s3-prefix s3://my-bucket/photos/ -o report.html
    """
    if (images is None) == (not s3):
        raise typer.BadParameter("give exactly one of --images DIR or --s3", param_hint="--images / --s3")
    if s3_prefix is not None and images is None:
        raise typer.BadParameter("--s3-prefix only goes with --images", param_hint="--s3-prefix")
    with errors_to_exit(), progress_bar("report", unit="img") as progress:
        client = None
        if s3:
            from ..aws import make_clients

            client = make_clients(profile, region).s3
        result = report_lib.write_html_report(manifest, output, test=test, images=images, s3_prefix=s3_prefix,
                                              s3=client, per_label=per_label, progress=progress)
    err(f"wrote {result.path}: {result.size / 1024:.0f} KiB, {result.thumbnails} thumbnails"
        + (f", {result.placeholders} images not available" if result.placeholders else "")
        + f", {len(result.findings)} finding{'s' if len(result.findings) != 1 else ''}")
