"""``manifestkit train | status | evaluate | start | stop | detect``: the Rekognition model lifecycle."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .. import aws
from .. import rekognition as lib
from ..rekognition.results import TrainingReport
from ._common import app, err, errors_to_exit, progress_bar

Profile = Annotated[Optional[str], typer.Option("--profile", help="AWS profile (default: the standard chain).")]
Region = Annotated[Optional[str], typer.Option("--region", help="AWS region (default: the profile's).")]
Project = Annotated[str, typer.Option("--project", help="Rekognition Custom Labels project name.")]
Version = Annotated[str, typer.Option("--version", help="Model version name.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _tags(values: list[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for v in values or []:
        key, sep, value = v.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {v!r}", param_hint="--tag")
        tags[key] = value
    return tags


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


class LiveStatus:
    """The waiting loop's status line on stderr: redrawn in place on a terminal, one line per change else."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last: str | None = None

    def __call__(self, update: lib.StatusUpdate) -> None:
        text = f"{update.version}: {update.status}, {_duration(update.elapsed)} elapsed"
        if update.throttled:
            text += " (throttled, backing off)"
        if self.tty:
            sys.stderr.write("\r" + text.ljust(79))
            sys.stderr.flush()
        elif update.status != self.last:
            err(text)
        self.last = update.status

    def close(self) -> None:
        """End the status line (once)."""
        if self.tty and self.last is not None:
            sys.stderr.write("\n")
        self.last = None


@contextmanager
def _watching(live: LiveStatus | None = None) -> Iterator[None]:
    """Ctrl-C while waiting is not an error: say that AWS goes on and how to watch again (exit 130)."""
    try:
        yield
    except lib.WaitInterrupted as e:
        if live is not None:
            live.close()
        err(str(e))
        raise typer.Exit(130) from None
    finally:
        if live is not None:
            live.close()


def render_training_report(report: TrainingReport, *, limit: int = 50) -> str:
    """The outcome of a training for people: status, F1, message, counts and located findings."""
    out = [f"{report.version}: {report.status}" + (f", F1 {report.f1:.3f}" if report.f1 is not None else "")
           + (f", billed {_duration(report.billable_seconds)}" if report.billable_seconds else "")]
    if report.status_message:
        out.append(f"  {report.status_message}")
    for name, st in report.statistics.items():
        if isinstance(st, dict):
            out.append(f"  {name}: {st.get('valid_json_lines', '?')} valid, {st.get('invalid_json_lines', '?')} "
                       f"invalid, {st.get('ignored_json_lines', '?')} ignored of {st.get('total_json_lines', '?')} "
                       f"lines (use case {st.get('use_case', '?')})")
    for e in report.errors:
        where = f"{e['dataset']}: " if "dataset" in e else ""
        out.append(f"  error: {where}{e.get('code')}: {e.get('message')}")
    for issue in report.issues[:limit]:
        out.append(f"  {issue.where()}: {issue.severity}: {issue.code} ({issue.scope}): {issue.message}")
    if len(report.issues) > limit:
        out.append(f"  ... and {len(report.issues) - limit} more findings (--json shows all)")
    out.extend(f"  note: {n}" for n in report.notes)
    return "\n".join(out)


@app.command()
def train(
    project: Project,
    train_uri: Annotated[str, typer.Option("--train", help="S3 URI of the training manifest.")],
    output: Annotated[str, typer.Option("--output", help="s3://BUCKET/PREFIX/ for the model's output files.")],
    test_uri: Annotated[Optional[str], typer.Option("--test", help="S3 URI of the test manifest.")] = None,
    auto_split: Annotated[bool, typer.Option("--auto-split",
                                             help="No test manifest: Rekognition splits the training one.")]
    = False,
    version: Annotated[Optional[str], typer.Option("--version",
                                                   help="Version name (default: v-YYYYMMDD-HHMMSS, UTC).")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Watch the training until it ends.")] = True,
    timeout: Annotated[float, typer.Option("--timeout", help="Hours to wait before giving up watching.",
                                           min=0.01)] = 24.0,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between status checks.", min=1)] = 60.0,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", help="KEY=VALUE tag on the model (repeatable).")]
    = None,
    kms_key: Annotated[Optional[str], typer.Option("--kms-key", help="KMS key for the model's files.")] = None,
    use_datasets: Annotated[bool, typer.Option("--use-datasets",
                                               help="Create the project's datasets from the manifests, then "
                                                    "train from them.")] = False,
    train_file: Annotated[Optional[Path], typer.Option("--train-file", dir_okay=False,
                                                       help="Local copy of the training manifest, to trace "
                                                            "findings to its lines without downloading it.")]
    = None,
    test_file: Annotated[Optional[Path], typer.Option("--test-file", dir_okay=False,
                                                      help="Local copy of the test manifest.")] = None,
    as_json: Json = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Send nothing; print each request as a JSON line.")]
    = False,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """Train a model version from manifests in S3 (creates the project if it does not exist).

    \b
    Example:
      manifestkit train --project parts --train s3://my-bucket/parts/train.manifest \\
          --test s3://my-bucket/parts/test.manifest --output s3://my-bucket/parts/output/
    """
    tags = _tags(tag)
    live = LiveStatus()
    with errors_to_exit(), _watching(live):
        clients = aws.make_clients(profile, region)
        result = lib.train(rekognition=clients.rekognition, s3=clients.s3, project=project, train_uri=train_uri,
                           test_uri=test_uri, auto_split=auto_split, output_uri=output, version=version,
                           tags=tags, kms_key=kms_key, use_datasets=use_datasets, dry_run=dry_run,
                           wait=wait, timeout=timeout * 3600, interval=interval,
                           train_file=train_file, test_file=test_file, on_status=live)
    if dry_run:
        for request in result.requests:
            typer.echo(json.dumps(request, sort_keys=False))
        err(f"dry run: nothing was sent. {result.project_arn} is a placeholder ARN (account 000000000000): "
            "the real one is known only once the project exists. CreateProject is sent only if the project "
            "does not exist yet.")
        return
    if result.report is None:
        typer.echo(result.version_arn)
        err(f"training started{' (created project ' + project + ')' if result.created_project else ''}; "
            f"watch it with: {result.status_command}")
        return
    if as_json:
        typer.echo(json.dumps(result.report.to_dict(), indent=2, default=str))
    else:
        typer.echo(result.version_arn)
        err(render_training_report(result.report))
    if not result.report.succeeded:
        raise typer.Exit(1)


@app.command()
def status(
    project: Project,
    version: Annotated[Optional[str], typer.Option("--version", help="Only this version.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the version is no longer busy "
                                                      "(training, starting, stopping).")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Hours to wait.", min=0.01)] = 24.0,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between checks.", min=1)] = 60.0,
    as_json: Json = False,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """List a project's model versions: status, F1, times, billable training time.

    \b
    Example:
      manifestkit status --project parts --version v-20261127-203000 --wait
    """
    live = LiveStatus()
    with errors_to_exit(), _watching(live):
        clients = aws.make_clients(profile, region)
        versions = lib.version_status(rekognition=clients.rekognition, project=project, version=version,
                                      wait=wait, timeout=timeout * 3600, interval=interval, on_status=live)
    if as_json:
        typer.echo(json.dumps([v.to_dict() for v in versions], indent=2))
        return
    if not versions:
        err(f"project {project} has no model versions yet")
        return
    rows = [("VERSION", "STATUS", "F1", "CREATED", "TRAINING END", "BILLED", "UNITS")]
    for v in versions:
        units = "-" if v.min_units is None else f"{v.min_units}" + (f"..{v.max_units}" if v.max_units else "")
        rows.append((v.name, v.status, _f(v.f1), v.created or "-", v.training_end or "-",
                     _duration(v.billable_seconds) if v.billable_seconds is not None else "-", units))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    for v in versions:
        if v.status_message:
            typer.echo(f"{v.name}: {v.status_message}")


@app.command()
def evaluate(
    project: Project,
    version: Version,
    worst: Annotated[int, typer.Option("--worst", help="How many worst test images to list.", min=0)] = 10,
    as_json: Json = False,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """Show a trained version's evaluation: per-label metrics, confusion matrix, worst test images.

    \b
    Example:
      manifestkit evaluate --project parts --version v-20261127-203000
    """
    with errors_to_exit():
        clients = aws.make_clients(profile, region)
        ev = lib.evaluate(rekognition=clients.rekognition, s3=clients.s3, project=project, version=version,
                          worst=worst)
    if as_json:
        typer.echo(json.dumps(ev.to_dict(), indent=2))
        return
    typer.echo(render_evaluation(ev))


def render_evaluation(ev: lib.Evaluation) -> str:
    """The evaluation for people."""
    out = [f"{ev.project}/{ev.version} ({ev.task}): F1 {_f(ev.f1)}, precision {_f(ev.precision)}, "
           f"recall {_f(ev.recall)}; {ev.training_images or '?'} training / {ev.testing_images or '?'} test images"]
    if ev.average_precision is not None or ev.average_recall is not None:
        out.append(f"average precision (mAP) {_f(ev.average_precision)}, average recall {_f(ev.average_recall)}")
    rows = [("LABEL", "PRECISION", "RECALL", "F1", "THRESHOLD", "TEST IMAGES")]
    for lm in ev.labels:
        rows.append((lm.label, _f(lm.precision), _f(lm.recall), _f(lm.f1), _f(lm.threshold),
                     "-" if lm.test_images is None else str(lm.test_images)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out.append("")
    out.extend("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
    out.append("(worst F1 first; " + ev.threshold_note + ")")
    if ev.confusion:
        labels = sorted({str(c["ground_truth"]) for c in ev.confusion} | {str(c["predicted"]) for c in ev.confusion})
        cell = {(str(c["ground_truth"]), str(c["predicted"])): c["value"] for c in ev.confusion}
        w = max(12, *(len(x) for x in labels))
        out += ["", "confusion matrix (rows: ground truth, columns: predicted)",
                " " * w + "  " + "  ".join(x.rjust(w) for x in labels)]
        for g in labels:
            out.append(g.ljust(w) + "  " + "  ".join(_f(cell.get((g, p))).rjust(w) for p in labels))
    if ev.worst:
        out += ["", f"worst test images (of {ev.snapshot_uri}):"]
        for img in ev.worst:
            parts = []
            if img.false_positives:
                parts.append(f"{img.false_positives} false positive(s) {', '.join(img.false_positive_labels)} "
                             f"(top confidence {img.top_false_positive_confidence:.2f})")
            if img.false_negatives:
                parts.append(f"{img.false_negatives} false negative(s) {', '.join(img.false_negative_labels)}")
            truth = f" [labelled: {', '.join(img.ground_truth)}]" if img.ground_truth else ""
            out.append(f"  {img.source_ref}: {'; '.join(parts)}{truth}")
    return "\n".join(out)


Units = Annotated[int, typer.Option("--units", help="Inference units (billed per unit-hour).", min=1)]


@app.command()
def start(
    project: Project,
    version: Version,
    units: Units = 1,
    max_units: Annotated[Optional[int], typer.Option("--max-units", help="Allow auto-scaling up to this many "
                                                                         "units.", min=1)] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the model runs.")] = False,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """Start a trained model. It is billed for every hour it runs: stop it with 'manifestkit stop'.

    \b
    Example:
      manifestkit start --project parts --version v-20261127-203000 --units 1 --wait
    """
    with errors_to_exit(), _watching():
        clients = aws.make_clients(profile, region)
        res = lib.start_model(rekognition=clients.rekognition, project=project, version=version, min_units=units,
                              max_units=max_units, wait=wait)
    typer.echo(f"{project}/{version}: {res.version.status}")
    err(f"{'started' if res.started else 'it was already ' + res.version.status.lower()}; billed per inference "
        f"unit-hour until stopped: manifestkit stop --project {project} --version {version}")


@app.command()
def stop(
    project: Project,
    version: Version,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the model has stopped.")] = False,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """Stop a running model.

    \b
    Example:
      manifestkit stop --project parts --version v-20261127-203000 --wait
    """
    live = LiveStatus()
    with errors_to_exit(), _watching(live):
        clients = aws.make_clients(profile, region)
        info = lib.stop_model(rekognition=clients.rekognition, project=project, version=version, wait=wait,
                              on_status=live)
    typer.echo(f"{project}/{version}: {info.status}")


@app.command()
def detect(
    project: Project,
    version: Version,
    images: Annotated[list[str], typer.Argument(help="Image files (JPEG/PNG, up to 4 MB) or s3:// URIs.")],
    min_confidence: Annotated[Optional[float], typer.Option("--min-confidence", min=0, max=100,
                                                            help="Lowest confidence to return, 0-100 "
                                                                 "(default: each label's threshold).")] = None,
    draw: Annotated[Optional[Path], typer.Option("--draw", file_okay=False,
                                                 help="Write copies with the predictions drawn here.")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", dir_okay=False,
                                                   help="Write results as JSON lines here, and the predictions "
                                                        "as a manifest beside it (.manifest).")] = None,
    s3_prefix: Annotated[Optional[str], typer.Option("--s3-prefix", help="source-ref prefix for local images "
                                                                         "in the predictions manifest.")] = None,
    start_model: Annotated[bool, typer.Option("--start", help="Start the model for this batch and stop it "
                                                               "afterwards (also on error or Ctrl-C).")] = False,
    units: Units = 1,
    keep_running: Annotated[bool, typer.Option("--keep-running", help="With --start: leave the model running.")]
    = False,
    workers: Annotated[int, typer.Option("--workers", help="Parallel requests.", min=1, max=64)] = 8,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """Run a model on images: labels (and boxes) as JSON lines, a manifest to review, drawn copies.

    \b
    Example:
      manifestkit detect --project parts --version v-20261127-203000 --start -o results.jsonl photos/*.jpg
    """
    with errors_to_exit(), _watching(), progress_bar("detecting", total=len(images), unit="img") as progress:
        clients = aws.make_clients(profile, region)
        report = lib.detect_images(rekognition=clients.rekognition, s3=clients.s3, project=project, version=version,
                                   images=images, min_confidence=min_confidence, workers=workers,
                                   start=start_model, units=units, keep_running=keep_running,
                                   results_path=output, s3_prefix=s3_prefix, draw_dir=draw, progress=progress)
    if output is None:
        for r in report.results:
            typer.echo(json.dumps(r.to_dict()))
    err(_render_detect(report))
    if report.failed:
        raise typer.Exit(1)


def _render_detect(report: Any) -> str:
    found = sum(len(r.labels) for r in report.results)
    out = [f"{len(report.results)} images, {found} labels found ({report.task})"
           + (f", {report.failed} failed" if report.failed else "")]
    out.extend(f"  {r.image}: {r.error}" for r in report.results if r.error)
    if report.results_path:
        out.append(f"wrote {report.results_path} and {report.manifest_path}")
    if report.left_out:
        out.append(f"warning: {len(report.left_out)} images are not in the manifest: their size could not be read "
                   f"to place the boxes in pixels (e.g. {report.left_out[0]})")
    if report.drawn:
        out.append(f"drew {len(report.drawn)} images")
    if report.started:
        out.append("model stopped" if report.stopped else "model left running (billed until stopped)")
    return "\n".join(out)
