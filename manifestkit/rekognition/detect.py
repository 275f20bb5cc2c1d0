"""DetectCustomLabels on a batch of images: in parallel, as JSON lines, as a manifest to review, drawn.

Local files up to 4 MB are sent as bytes (the operation's limit); S3 URIs as ``S3Object``. Results are
JSON lines (one per image, in input order) and a Ground Truth manifest of the predictions
(``human-annotated: "no"``), so they can be reviewed or relabelled. With ``start`` the model is started
for the batch and stopped at its end, also after an error or Ctrl-C (decisions.md: a running model costs
money every hour); a model that was already running is left running.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec

from ..aws import aws_errors
from ..errors import AwsError, ManifestKitError
from ..images import probe_bytes, probe_file
from ..manifest import CLASSIFICATION_TYPE, DETECTION_TYPE, atomic_writer, creation_date, manifest_path
from ..model import normalize_box
from ..uris import parse_s3_uri
from ._base import describe_version, project_arn
from .run import request_start, request_stop, wait_until_running

__all__ = [
    "DetectReport",
    "ImageResult",
    "MAX_IMAGE_BYTES",
    "detect_images",
    "detect_one",
    "draw_predictions",
    "predictions_to_lines",
]

MAX_IMAGE_BYTES = 4 * 1024 * 1024   # DetectCustomLabels' limit for Image.Bytes (rekognition.md 2.1)
PREDICTION_ATTRIBUTE = "prediction"
JOB_NAME = "manifestkit-detect"
# Errors that concern one image; any other error (model not running, access denied) stops the batch.
_PER_IMAGE_CODES = frozenset({"InvalidImageFormatException", "ImageTooLargeException",
                              "InvalidS3ObjectException", "InvalidParameterException"})
_HEAD_BYTES = 65536
_encode = msgspec.json.Encoder().encode


@dataclass
class ImageResult:
    """The model's answer for one image. ``labels`` are DetectCustomLabels' ``CustomLabels`` as returned."""

    image: str
    labels: list[dict[str, Any]] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DetectReport:
    """What :func:`detect_images` did."""

    project: str
    version: str
    task: str
    results: list[ImageResult] = field(default_factory=list)
    started: bool = False
    stopped: bool = False
    results_path: str | None = None
    manifest_path: str | None = None
    drawn: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)   # in the results but not the manifest: size unknown

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.error)


def _is_s3(image: str) -> bool:
    return image.startswith("s3://")


def _image_param(image: str) -> dict[str, Any]:
    if _is_s3(image):
        bucket, key = parse_s3_uri(image)
        return {"S3Object": {"Bucket": bucket, "Name": key}}
    with open(image, "rb") as fp:
        return {"Bytes": fp.read()}


def _size(image: str, s3: Any) -> tuple[int | None, int | None]:
    """Width and height from the header (a ranged GET for S3); None when it cannot be read."""
    try:
        if _is_s3(image):
            if s3 is None:
                return None, None
            bucket, key = parse_s3_uri(image)
            with aws_errors(f"reading {image}"):
                resp = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{_HEAD_BYTES - 1}")
                head = resp["Body"].read()
            total = resp.get("ContentRange", "").rpartition("/")[2]
            info = probe_bytes(head, name=image, total_size=int(total) if total.isdigit() else None)
        else:
            info = probe_file(image)
    except ManifestKitError:
        return None, None
    return info.width, info.height


def detect_one(rekognition: Any, version_arn: str, image: str, *, s3: Any = None,
               min_confidence: float | None = None, sizes: bool = False) -> ImageResult:
    """DetectCustomLabels on one image (a local path or an ``s3://`` URI).

    Errors about that image alone (bad format, too large, unreadable object) are recorded in the result;
    any other AWS error is raised.
    """
    params: dict[str, Any] = {"ProjectVersionArn": version_arn, "Image": _image_param(image)}
    if min_confidence is not None:
        params["MinConfidence"] = float(min_confidence)
    result = ImageResult(image=image)
    try:
        with aws_errors(f"DetectCustomLabels on {image}"):
            resp = rekognition.detect_custom_labels(**params)
        result.labels = [dict(x) for x in resp.get("CustomLabels", [])]
    except AwsError as e:
        if e.code not in _PER_IMAGE_CODES:
            raise
        result.error = str(e)
    if sizes:
        result.width, result.height = _size(image, s3)
    return result


def task_of(results: Sequence[ImageResult]) -> str:
    """``detection`` when any prediction has a box, else ``classification``."""
    for r in results:
        if any(isinstance(x.get("Geometry"), dict) and x["Geometry"].get("BoundingBox") for x in r.labels):
            return "detection"
    return "classification"


def _pixel_box(bbox: dict[str, Any], width: int, height: int) -> tuple[int, int, int, int] | None:
    """A ratio box (0..1 of the image) in whole pixels, clipped to the image; None if it is empty."""
    (left, top, w, h), _, _ = normalize_box(float(bbox.get("Left", 0)) * width, float(bbox.get("Top", 0)) * height,
                                            float(bbox.get("Width", 0)) * width,
                                            float(bbox.get("Height", 0)) * height, width, height)
    return (left, top, w, h) if w > 0 and h > 0 else None


def predictions_to_lines(results: Sequence[ImageResult], *, task: str, date: str,
                         source_refs: dict[str, str] | None = None,
                         attribute: str = PREDICTION_ATTRIBUTE) -> Iterator[dict[str, Any]]:
    """The predictions as Ground Truth manifest lines (``human-annotated: "no"``), one per image.

    Detection: one object-detection attribute, boxes in pixels (needs the image size), confidence =
    Confidence / 100. Classification: one image-classification attribute pair per label. Images that
    failed, or whose size is unknown for boxes, are left out. ``source_refs`` maps inputs to the
    ``source-ref`` to write (default: the input itself).
    """
    labels = sorted({x["Name"] for r in results if not r.error for x in r.labels if "Name" in x})
    ids = {name: i for i, name in enumerate(labels)}
    for r in results:
        if r.error:
            continue
        line: dict[str, Any] = {"source-ref": (source_refs or {}).get(r.image, r.image)}
        if task == "detection":
            if not r.width or not r.height:
                continue
            anns, objects, used = [], [], {}
            for x in r.labels:
                bbox = (x.get("Geometry") or {}).get("BoundingBox")
                box = _pixel_box(bbox, r.width, r.height) if isinstance(bbox, dict) else None
                if box is None:
                    continue
                cid = ids[x["Name"]]
                used[cid] = x["Name"]
                anns.append({"class_id": cid, "left": box[0], "top": box[1], "width": box[2], "height": box[3]})
                objects.append({"confidence": float(x.get("Confidence", 0.0)) / 100.0})
            line[attribute] = {"image_size": [{"width": r.width, "height": r.height, "depth": 3}],
                               "annotations": anns}
            line[attribute + "-metadata"] = {"objects": objects,
                                             "class-map": {str(k): used[k] for k in sorted(used)},
                                             "type": DETECTION_TYPE, "human-annotated": "no",
                                             "creation-date": date, "job-name": JOB_NAME}
        else:
            for i, x in enumerate(r.labels):
                name = attribute if i == 0 else f"{attribute}-{i}"
                line[name] = ids[x["Name"]]
                line[name + "-metadata"] = {"class-name": x["Name"],
                                            "confidence": float(x.get("Confidence", 0.0)) / 100.0,
                                            "type": CLASSIFICATION_TYPE, "human-annotated": "no",
                                            "creation-date": date, "job-name": JOB_NAME}
        yield line


def _draw_targets(images: Sequence[str], draw_dir: str) -> dict[str, str]:
    """Where each image's drawing goes; refuses any target that is an original input."""
    names = [os.path.basename(parse_s3_uri(i)[1] if _is_s3(i) else i) or f"image-{n}" for n, i in enumerate(images)]
    clash = {n for n in names if names.count(n) > 1}
    targets: dict[str, str] = {}
    originals = {os.path.realpath(i) for i in images if not _is_s3(i)}
    for n, (image, name) in enumerate(zip(images, names)):
        if name in clash:
            name = f"{n:04d}-{name}"
        target = os.path.join(draw_dir, name)
        if os.path.realpath(target) in originals:
            raise ManifestKitError(f"--draw {draw_dir} would overwrite the original {target}; "
                                   "choose another folder")
        targets[image] = target
    return targets


def draw_predictions(result: ImageResult, data: bytes, target: str) -> str:
    """Write a copy of the image with the predictions drawn: boxes and labels, or the labels as text."""
    from PIL import Image, ImageDraw

    with Image.open(io.BytesIO(data)) as src:
        fmt = src.format or "PNG"
        img = src.convert("RGB")
    draw = ImageDraw.Draw(img)
    width, height = img.size
    text_lines = []
    line_w = max(1, round(max(width, height) / 300))
    for x in result.labels:
        caption = f"{x.get('Name', '?')} {float(x.get('Confidence', 0.0)):.1f}%"
        bbox = (x.get("Geometry") or {}).get("BoundingBox")
        box = _pixel_box(bbox, width, height) if isinstance(bbox, dict) else None
        if box is None:
            text_lines.append(caption)
            continue
        left, top, w, h = box
        draw.rectangle([left, top, left + w - 1, top + h - 1], outline=(255, 0, 0), width=line_w)
        draw.text((left + 2, max(0, top - 12) if top >= 12 else top + 2), caption, fill=(255, 0, 0))
    for i, caption in enumerate(text_lines):
        draw.text((4, 4 + 12 * i), caption, fill=(255, 0, 0))
    with atomic_writer(target) as fp:
        if fmt == "JPEG":
            img.save(fp, "JPEG", quality=95)   # thin coloured lines blur at the default quality
        else:
            img.save(fp, "PNG")
    return target


def _read_image(image: str, s3: Any) -> bytes:
    if _is_s3(image):
        bucket, key = parse_s3_uri(image)
        with aws_errors(f"reading {image}"):
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]
    with open(image, "rb") as fp:
        return fp.read()


def _check_inputs(images: Sequence[str]) -> None:
    """Fail before any AWS call (and before starting a billed model) on inputs that cannot work."""
    if not images:
        raise ManifestKitError("no images given")
    for image in images:
        if _is_s3(image):
            parse_s3_uri(image)
            continue
        if not os.path.isfile(image):
            raise ManifestKitError(f"{image}: no such file")
        if os.path.getsize(image) > MAX_IMAGE_BYTES:
            raise ManifestKitError(f"{image} is larger than 4 MB, the limit for images sent directly; upload it "
                                   "to S3 and pass its s3:// URI instead")


def _run_batch(rekognition: Any, version_arn: str, images: Sequence[str], *, s3: Any, min_confidence: float | None,
               workers: int, sizes: bool, progress: Callable[[int], None] | None) -> list[ImageResult]:
    results: dict[str, ImageResult] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="manifestkit-detect")
    futures: dict[Future[ImageResult], str] = {}
    try:
        for image in dict.fromkeys(images):
            futures[pool.submit(detect_one, rekognition, version_arn, image, s3=s3,
                                min_confidence=min_confidence, sizes=sizes)] = image
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            if progress is not None:
                progress(1)
    except BaseException:
        # An AWS error or Ctrl-C: drop what has not started; calls in flight are single requests.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [results[i] for i in images]


def detect_images(*, rekognition: Any, project: str, version: str, images: Sequence[str], s3: Any = None,
                  min_confidence: float | None = None, workers: int = 8, start: bool = False, units: int = 1,
                  keep_running: bool = False, results_path: str | os.PathLike[str] | None = None,
                  s3_prefix: str | None = None, draw_dir: str | os.PathLike[str] | None = None,
                  progress: Callable[[int], None] | None = None, start_delay: int = 30,
                  start_max_attempts: int = 40,
                  creation_date_value: str | None = None) -> DetectReport:
    """Run a model on ``images`` (local paths or ``s3://`` URIs); write results, a manifest and drawings.

    ``results_path`` gets JSON lines (one per image) and, beside it with the ``.manifest`` extension,
    the Ground Truth manifest of the predictions; local images get ``s3_prefix`` + their file name as
    ``source-ref`` when given. ``start`` starts the model (``units`` inference units), waits until it
    runs and stops it at the end - also after an error or Ctrl-C - unless it was already running or
    ``keep_running``.
    """
    images = [os.fspath(i) for i in images]
    _check_inputs(images)
    targets = _draw_targets(images, os.fspath(draw_dir)) if draw_dir is not None else {}
    if min_confidence is not None and not 0 <= min_confidence <= 100:
        raise ManifestKitError("--min-confidence is a percentage: 0 to 100")
    arn = project_arn(rekognition, project)
    desc = describe_version(rekognition, arn, version)
    report = DetectReport(project=project, version=version, task="classification")
    if not start and desc.get("Status") != "RUNNING":
        raise ManifestKitError(f"{project}/{version} is not running (status {desc.get('Status')}): start it with "
                               "'manifestkit start', or pass --start to run it just for this batch")
    try:
        if start:
            # Note "started" before waiting: Ctrl-C during the wait must stop the model too.
            desc, report.started = request_start(rekognition, desc, project=project, version=version,
                                                 min_units=units)
            if desc.get("Status") != "RUNNING":
                wait_until_running(rekognition, arn, project=project, version=version, delay=start_delay,
                                   max_attempts=start_max_attempts)
        report.results = _run_batch(rekognition, desc["ProjectVersionArn"], images, s3=s3,
                                    min_confidence=min_confidence, workers=workers,
                                    sizes=results_path is not None, progress=progress)
        report.task = task_of(report.results)
        if results_path is not None:
            _write_outputs(report, os.fspath(results_path), s3_prefix, creation_date_value)
        for image, target in targets.items():
            result = next(r for r in report.results if r.image == image)
            if result.error is None:
                report.drawn.append(draw_predictions(result, _read_image(image, s3), target))
    finally:
        if report.started and not keep_running:
            try:
                request_stop(rekognition, desc["ProjectVersionArn"])
            except ManifestKitError as e:
                raise ManifestKitError(
                    f"could not stop {project}/{version}, which manifestkit started and which is billed while it "
                    f"runs ({e}); stop it with 'manifestkit stop --project {project} --version {version}'") from e
            report.stopped = True
    return report


def _write_outputs(report: DetectReport, results_path: str, s3_prefix: str | None, date: str | None) -> None:
    with atomic_writer(results_path) as fp:
        for r in report.results:
            fp.write(_encode(r.to_dict()))
            fp.write(b"\n")
    refs = {}
    if s3_prefix:
        from ..uris import normalize_prefix

        prefix = normalize_prefix(s3_prefix)
        refs = {r.image: prefix + os.path.basename(r.image) for r in report.results if not _is_s3(r.image)}
    stem = results_path[: -len(".jsonl")] if results_path.endswith(".jsonl") else results_path
    target = manifest_path(stem if stem != results_path else results_path + ".predictions")
    with atomic_writer(target) as fp:
        for line in predictions_to_lines(report.results, task=report.task, date=creation_date(date),
                                         source_refs=refs):
            fp.write(_encode(line))
            fp.write(b"\n")
    report.results_path, report.manifest_path = results_path, target
    if report.task == "detection":
        report.left_out = [r.image for r in report.results if not r.error and not (r.width and r.height)]
