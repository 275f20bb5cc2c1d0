"""``manifestkit stage`` and ``manifestkit policy``: put a dataset in S3, and the permissions for it."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import aws
from ..permissions import PolicyReport
from ..permissions import policy as run_policy
from ..staging import StageResult, write_stage_report
from ..staging import stage as run_stage
from ._common import app, err, errors_to_exit

Profile = Annotated[Optional[str], typer.Option("--profile", help="AWS profile (default: the standard chain).")]
Region = Annotated[Optional[str], typer.Option("--region",
                                               help="Rekognition region (default: the profile's, else "
                                                    "us-east-1); S3 buckets must be in it.")]


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


@contextmanager
def _stage_bars(enabled: bool | None = None, mininterval: float = 0.1
                ) -> Iterator[Callable[[int, int, int, int], None]]:
    """Two tqdm bars on stderr (files, bytes) fed by the library's running totals."""
    from tqdm import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    common = {"file": sys.stderr, "disable": not enabled, "leave": False, "mininterval": mininterval}
    files = tqdm(desc="files", unit="file", position=0, **common)
    data = tqdm(desc="bytes", unit="B", unit_scale=True, position=1, **common)

    def update(done_files: int, done_bytes: int, total_files: int, total_bytes: int) -> None:
        files.total, data.total = total_files, total_bytes
        files.update(done_files - files.n)
        data.update(done_bytes - data.n)

    try:
        yield update
    finally:
        data.close()
        files.close()


def render_stage(result: StageResult) -> str:
    """The staging summary for people (stderr)."""
    verb = "would upload" if result.dry_run else "uploaded"
    lines = []
    for b, r in sorted(result.buckets.items()):
        created = (" (would be created)" if result.dry_run else " (created)") if b in result.created_buckets else ""
        lines.append(f"bucket {b}: {r}{created}")
    lines.append(f"images: {result.images} named, {result.uploaded} {verb} ({_size(result.bytes_uploaded)}), "
                 f"{result.skipped} unchanged (skipped), {len(result.failed)} failed")
    if result.lines_without_image:
        lines.append(f"warning: {result.lines_without_image} manifest lines name no s3:// image "
                     "(run 'manifestkit validate')")
    for f in result.failed[:20]:
        lines.append(f"failed: {f.target}: {f.reason}")
    if len(result.failed) > 20:
        lines.append(f"failed: ... and {len(result.failed) - 20} more (--report writes them all)")
    for m in result.manifests:
        what = {"uploaded": "uploaded", "unchanged": "unchanged (skipped)", "planned": "would upload",
                "withheld": f"NOT uploaded: {m.reason}"}[m.status]
        lines.append(f"manifest {m.path} -> {m.target}: {what}")
    return "\n".join(lines)


@app.command("stage")
def stage(
    manifests: Annotated[list[Path], typer.Argument(help="Manifest files naming the images.", dir_okay=False,
                                                    exists=True)],
    images: Annotated[Path, typer.Option("--images", help="Local folder holding the images.", file_okay=False,
                                         exists=True)],
    s3_prefix: Annotated[Optional[str], typer.Option("--s3-prefix",
                                                     help="s3://BUCKET/PREFIX/ the images folder maps to "
                                                          "(default: the whole key is the local path).")] = None,
    manifest_to: Annotated[Optional[str], typer.Option("--manifest-to",
                                                       help="Where manifests go: an s3:// folder ending in '/', "
                                                            "or one object (default <prefix>manifests/).")]
    = None,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, max=256,
                                                   help="Parallel uploads (default: 4 per CPU, 16 to 32).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and compare, upload nothing.")] = False,
    create_bucket: Annotated[bool, typer.Option("--create-bucket",
                                                help="Create a missing bucket in the Rekognition region.")]
    = False,
    report: Annotated[Optional[Path], typer.Option("--report", dir_okay=False,
                                                   help="Also write the summary, every failure included, "
                                                        "as JSON here.")] = None,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """Upload the images the manifests name, then the manifests (only when all their images made it).

    Objects already in S3 with the same size and checksum are skipped, so an interrupted run resumes.
    The uploaded manifests' s3:// URIs are printed on stdout.

    \b
    Example:
      manifestkit stage train.manifest test.manifest --images photos/ \\
          --s3-prefix s3://my-bucket/datasets/flowers/
    """
    with errors_to_exit():
        clients = aws.make_clients(profile, region)
        try:
            with _stage_bars() as progress:
                result = run_stage(manifests, images, s3=clients.s3, s3_prefix=s3_prefix,
                                   manifest_to=manifest_to, workers=workers, dry_run=dry_run,
                                   create_bucket=create_bucket, region=clients.region,
                                   client_for_region=lambda r: clients.client("s3", r), progress=progress)
        except KeyboardInterrupt:
            err("interrupted: run the same command again to resume; objects already in S3 are skipped, and "
                "a manifest goes up only after all its images")
            raise typer.Exit(130) from None
        if report is not None:
            write_stage_report(result, report)
    err(render_stage(result))
    for m in result.manifests:
        if m.status in ("uploaded", "unchanged"):
            typer.echo(m.target)
    if not result.ok:
        raise typer.Exit(1)


def render_checks(report: PolicyReport) -> str:
    """The permission check as a table for people (stderr)."""
    lines = []
    for c in report.checks:
        state = "ok" if c.ok else ("MISSING" if c.required else "warning")
        lines.append(f"{state:<8} {c.permission:<22} {c.request}" + (f"  ({c.detail})" if c.detail else ""))
    if report.missing:
        needed = sorted({c.permission for c in report.missing})
        lines.append(f"missing permissions: {', '.join(needed)}; add the policy printed by "
                     "'manifestkit policy' to your IAM identity")
    else:
        lines.append("all required permissions are in place")
    return "\n".join(lines)


@app.command("policy")
def policy(
    bucket: Annotated[str, typer.Option("--bucket", help="Bucket holding images and manifests.")],
    output_bucket: Annotated[Optional[str], typer.Option("--output-bucket",
                                                         help="Bucket for training output.")] = None,
    output_prefix: Annotated[Optional[str], typer.Option("--output-prefix",
                                                         help="Prefix for training output.")] = None,
    check: Annotated[bool, typer.Option("--check", help="Verify the permissions with harmless requests.")]
    = False,
    legacy: Annotated[bool, typer.Option("--legacy-bucket-policy",
                                         help="Print the legacy rekognition.amazonaws.com bucket policy, "
                                              "merged into the bucket's current one.")] = False,
    apply: Annotated[bool, typer.Option("--apply", help="Write the merged legacy bucket policy.")] = False,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """Print the IAM identity policy needed for the buckets; optionally check it or the legacy bucket policy.

    Since 2021 SDK callers need no bucket policy: Rekognition uses the caller's own permissions.

    \b
    Examples:
      manifestkit policy --bucket my-bucket --output-prefix output/ --check
      manifestkit policy --bucket my-bucket --legacy-bucket-policy
      manifestkit policy --bucket my-bucket --legacy-bucket-policy --apply
    """
    if apply and not legacy:
        raise typer.BadParameter("--apply writes the legacy bucket policy; add --legacy-bucket-policy",
                                 param_hint="--apply")
    with errors_to_exit():
        s3 = aws.make_clients(profile, region).s3 if (check or legacy) else None
        report = run_policy(bucket, output_bucket=output_bucket, output_prefix=output_prefix, s3=s3,
                            check=check, legacy=legacy, apply=apply)
    if legacy:
        docs = {p.bucket: p.after for p in report.legacy}
        typer.echo(json.dumps(next(iter(docs.values())) if len(docs) == 1 else docs, indent=2))
        for p in report.legacy:
            if not p.changed:
                err(f"s3://{p.bucket}: the bucket policy already holds these statements; nothing to change")
                continue
            err(p.diff())
            err(f"s3://{p.bucket}: bucket policy written" if p.applied
                else f"s3://{p.bucket}: dry run; add --apply to write this bucket policy")
    else:
        typer.echo(json.dumps(report.identity_policy, indent=2))
    if check:
        err(render_checks(report))
        if report.missing:
            raise typer.Exit(1)
