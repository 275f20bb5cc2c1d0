"""``manifestkit prepare coco|folders``: convert, validate, split, stage and (``--train``) train, in one go."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .. import aws
from ..pipeline import PrepareResult
from ..pipeline import prepare as run_prepare
from ..rekognition import TrainResult
from ..validation import Report, render_text
from ._common import app, err, errors_to_exit
from .convert import (BadBoxes, BadBoxesOpt, Crowd, CrowdOpt, KeepEmpty, LabelAttr, SkipInvalidFiles,
                      SkipMissingImages, render_summary)
from .rekognition import LiveStatus, _watching, render_training_report
from .split import _fraction, render_split
from .stage import render_stage

prepare_app = typer.Typer(help="Convert, validate, split and stage a dataset, then optionally train: one command "
                               "from a COCO export or a folder of labelled images to a model in training.",
                          no_args_is_help=True)
app.add_typer(prepare_app, name="prepare")

S3Prefix = Annotated[str, typer.Option("--s3-prefix", help="s3://BUCKET/PREFIX/ for the images; the train and "
                                                           "test manifests go to PREFIX/manifests/.")]
TestFraction = Annotated[float, typer.Option("--test-fraction", callback=_fraction,
                                              help="Share of each label's images for test, 0 < f < 1.")]
Seed = Annotated[int, typer.Option("--seed", help="Another seed gives another split.")]
WorkDir = Annotated[Path, typer.Option("--work-dir", file_okay=False,
                                       help="Where dataset.manifest, train.manifest and test.manifest are "
                                            "written.")]
Train = Annotated[bool, typer.Option("--train", help="Then train a model version (needs --project and --output) "
                                                     "and wait for it.")]
Project = Annotated[Optional[str], typer.Option("--project", help="Rekognition Custom Labels project (created if "
                                                                  "missing).")]
Output = Annotated[Optional[str], typer.Option("--output", help="s3://BUCKET/PREFIX/ for the model's output "
                                                                "files.")]
Version = Annotated[Optional[str], typer.Option("--version", help="Version name (default: v-YYYYMMDD-HHMMSS, "
                                                                  "UTC).")]
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="With --train: watch the training until it ends.")]
Timeout = Annotated[float, typer.Option("--timeout", min=0.01, help="Hours to wait before giving up watching.")]
Interval = Annotated[float, typer.Option("--interval", min=1, help="Seconds between status checks.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Convert, validate and split locally, upload nothing, "
                                                        "and print each Rekognition request as a JSON line.")]
Strict = Annotated[bool, typer.Option("--strict", help="Also stop when validation finds any error, not only "
                                                       "when training would fail.")]
CreateBucket = Annotated[bool, typer.Option("--create-bucket", help="Create a missing bucket in the "
                                                                    "Rekognition region.")]
CreationDate = Annotated[Optional[str], typer.Option("--creation-date",
                                                     help="creation-date to write (ISO 8601, UTC); default: "
                                                          "SOURCE_DATE_EPOCH, else now.")]
Profile = Annotated[Optional[str], typer.Option("--profile", help="AWS profile (default: the standard chain).")]
Region = Annotated[Optional[str], typer.Option("--region", help="Rekognition region (default: the profile's, "
                                                                "else us-east-1); the bucket must be in it.")]

_UNITS = {"convert": "img", "validate": "line", "split": "line", "check": "line", "stage": "file"}


class StepBars:
    """One tqdm bar on stderr per running step (hidden when stderr is not a terminal)."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.step: str | None = None
        self.bar: Any = None

    def __call__(self, step: str, n: int) -> None:
        if not self.enabled:
            return
        if step != self.step:
            from tqdm import tqdm

            self.close()
            self.step = step
            self.bar = tqdm(desc=step, unit=_UNITS.get(step, "it"), file=sys.stderr, leave=False)
        self.bar.update(n)

    def close(self) -> None:
        """Remove the current bar (before a step's summary is printed)."""
        if self.bar is not None:
            self.bar.close()
        self.bar, self.step = None, None


def render_check(report: Report) -> str:
    """The train/test check: one line when it passes, the validator's full text when it stops prepare."""
    if report.verdict == "would_fail":
        return render_text(report)
    cross = [f for f in report.findings if f.manifest is None]
    lines = [f"checked the train/test pair: {report.verdict_text()}"]
    lines.extend(f"  {f.severity}: {f.code}: {f.message}" for f in cross)
    return "\n".join(lines)


def _render_step(step: str, value: Any) -> str | None:
    if step == "convert":
        return render_summary(value)
    if step == "validate":
        return render_text(value)
    if step == "split":
        return render_split(value)
    if step == "check":
        return render_check(value)
    if step == "stage":
        return render_stage(value)
    return None  # training is rendered at the end (its report, or the dry-run requests as they come)


def _run(*, source: dict[str, Any], s3_prefix: str, work_dir: Path, test_fraction: float, seed: int,
         train: bool, project: str | None, output: str | None, version: str | None, wait: bool, timeout: float,
         interval: float, dry_run: bool, strict: bool, create_bucket: bool, creation_date: str | None,
         profile: str | None, region: str | None, convert_options: dict[str, Any]) -> None:
    """What both subcommands share: check the options, make the clients, run prepare, render."""
    if train and (project is None or output is None):
        raise typer.BadParameter("--train needs --project NAME and --output s3://BUCKET/PREFIX/",
                                 param_hint="--train")
    if not train and (project is not None or output is not None or version is not None):
        raise typer.BadParameter("--project, --output and --version only mean something with --train",
                                 param_hint="--train")
    bars = StepBars()
    live = LiveStatus()

    def on_request(request: dict[str, Any]) -> None:
        typer.echo(json.dumps(request))

    def on_status(update: Any) -> None:
        bars.close()
        live(update)

    done: list[str] = []

    def on_step(step: str, value: Any) -> None:
        bars.close()
        done.append(step)
        text = _render_step(step, value)
        if text:
            err(f"\n== {step} ==")
            err(text)

    with errors_to_exit(), _watching(live):
        clients = aws.make_clients(profile, region)
        try:
            result = run_prepare(**source, s3_prefix=s3_prefix, work_dir=work_dir, s3=clients.s3,
                                 test_fraction=test_fraction, seed=seed, strict=strict,
                                 creation_date=creation_date, convert_options=convert_options,
                                 create_bucket=create_bucket, region=clients.region,
                                 client_for_region=lambda r: clients.client("s3", r),
                                 rekognition=clients.rekognition if train else None,
                                 project=project if train else None, output_uri=output if train else None,
                                 version=version, wait=wait, timeout=timeout * 3600, interval=interval,
                                 dry_run=dry_run, progress=bars, on_step=on_step,
                                 on_request=on_request if dry_run else None, on_status=on_status)
        except KeyboardInterrupt:
            bars.close()
            if done and done[-1] == "check" and not dry_run:  # interrupted while staging
                err("interrupted: run the same command again to resume; objects already in S3 are skipped, "
                    "and a manifest goes up only after all its images")
            else:
                err("interrupted")
            raise typer.Exit(130) from None
        finally:
            bars.close()
        _finish(result)


def _finish(result: PrepareResult) -> None:
    training: TrainResult | None = result.training
    if result.dry_run:
        if training is not None:
            err(f"\ndry run: nothing was uploaded and nothing was sent to Rekognition. {training.project_arn} is "
                "a placeholder ARN (account 000000000000): the real one is known only once the project exists. "
                "CreateProject is sent only if the project does not exist yet.")
        else:
            err("\ndry run: nothing was uploaded")
        return
    for uri in (result.train_uri, result.test_uri):
        if uri:
            typer.echo(uri)
    if training is None:
        err(f"\nstaged. To train: manifestkit train --project NAME --train {result.train_uri} "
            f"--test {result.test_uri} --output s3://BUCKET/PREFIX/ (or run prepare again with --train)")
        return
    typer.echo(training.version_arn)
    if training.report is None:
        err(f"\ntraining started{' (created project ' + training.project + ')' if training.created_project else ''}"
            f"; watch it with: {training.status_command}")
        return
    err("\n== train ==")
    err(render_training_report(training.report))
    if not training.report.succeeded:
        raise typer.Exit(1)


@prepare_app.command("coco")
def coco(
    annotations: Annotated[Path, typer.Argument(help="COCO instances JSON file.", dir_okay=False, exists=True)],
    images: Annotated[Path, typer.Option("--images", help="Folder the COCO file_names are under (staged to "
                                                          "--s3-prefix).", file_okay=False, exists=True)],
    s3_prefix: S3Prefix,
    work_dir: WorkDir = Path("prepared"),
    test_fraction: TestFraction = 0.2,
    seed: Seed = 0,
    train: Train = False,
    project: Project = None,
    output: Output = None,
    version: Version = None,
    wait: Wait = True,
    timeout: Timeout = 24.0,
    interval: Interval = 60.0,
    dry_run: DryRun = False,
    strict: Strict = False,
    create_bucket: CreateBucket = False,
    creation_date: CreationDate = None,
    profile: Profile = None,
    region: Region = None,
    label_attribute: LabelAttr = None,
    crowd: CrowdOpt = Crowd.skip,
    bad_boxes: BadBoxesOpt = BadBoxes.clip,
    keep_empty: KeepEmpty = False,
    skip_missing: SkipMissingImages = False,
) -> None:
    """Prepare a COCO detection dataset: convert, validate, split, stage, and with --train train it.

    Stops before uploading anything when validation predicts that training would fail (exit 1).

    \b
    Example:
      manifestkit prepare coco annotations.json --images images/ --s3-prefix s3://my-bucket/parts/ \\
          --train --project parts --output s3://my-bucket/parts/output/
    """
    _run(source={"coco": annotations, "images": images}, s3_prefix=s3_prefix, work_dir=work_dir,
         test_fraction=test_fraction, seed=seed, train=train, project=project, output=output, version=version,
         wait=wait, timeout=timeout, interval=interval, dry_run=dry_run, strict=strict,
         create_bucket=create_bucket, creation_date=creation_date, profile=profile, region=region,
         convert_options={"label_attribute": label_attribute, "crowd": crowd.value, "bad_boxes": bad_boxes.value,
                          "keep_empty": keep_empty, "skip_missing": skip_missing})


@prepare_app.command("folders")
def folders(
    root: Annotated[Path, typer.Argument(help="Root folder: one sub-folder per label (staged to --s3-prefix).",
                                         file_okay=False, exists=True)],
    s3_prefix: S3Prefix,
    work_dir: WorkDir = Path("prepared"),
    test_fraction: TestFraction = 0.2,
    seed: Seed = 0,
    train: Train = False,
    project: Project = None,
    output: Output = None,
    version: Version = None,
    wait: Wait = True,
    timeout: Timeout = 24.0,
    interval: Interval = 60.0,
    dry_run: DryRun = False,
    strict: Strict = False,
    create_bucket: CreateBucket = False,
    creation_date: CreationDate = None,
    profile: Profile = None,
    region: Region = None,
    label_attribute: LabelAttr = None,
    skip_invalid: SkipInvalidFiles = False,
) -> None:
    """Prepare a folder-per-label dataset: convert, validate, split, stage, and with --train train it.

    Stops before uploading anything when validation predicts that training would fail (exit 1).

    \b
    Example:
      manifestkit prepare folders photos/ --s3-prefix s3://my-bucket/flowers/ \\
          --train --project flowers --output s3://my-bucket/flowers/output/
    """
    _run(source={"folders": root}, s3_prefix=s3_prefix, work_dir=work_dir, test_fraction=test_fraction,
         seed=seed, train=train, project=project, output=output, version=version, wait=wait, timeout=timeout,
         interval=interval, dry_run=dry_run, strict=strict, create_bucket=create_bucket,
         creation_date=creation_date, profile=profile, region=region,
         convert_options={"label_attribute": label_attribute, "skip_invalid": skip_invalid})
