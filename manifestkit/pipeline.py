"""Prepare and train in one call: convert, validate, split, stage and, when asked, train and wait.

Each step is the library function of its own command (:func:`~manifestkit.convert.convert_coco` /
:func:`~manifestkit.convert.convert_folders`, :func:`~manifestkit.validation.validate`,
:func:`~manifestkit.splitting.split`, :func:`~manifestkit.staging.stage`,
:func:`~manifestkit.rekognition.train`), so ``prepare`` behaves exactly like the commands run one after
the other. It stops before anything reaches S3 when validation predicts that Rekognition would fail, and
before training when staging did not put every image and manifest in place.

The work folder receives three manifests: ``dataset.manifest`` (the conversion), ``train.manifest`` and
``test.manifest`` (the split). The two split manifests are staged to ``<s3_prefix>manifests/``.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .convert import convert_coco, convert_folders
from .errors import ManifestKitError
from .model import Summary
from .rekognition import Clock, StatusUpdate, TrainResult
from .rekognition import train as train_version
from .splitting import SplitResult
from .splitting import split as split_manifest
from .staging import StageResult
from .staging import stage as stage_manifests
from .uris import normalize_prefix
from .validation import Report, validate

__all__ = ["STEPS", "PrepareResult", "PrepareStopped", "prepare"]

#: The steps in order, as named in ``progress`` and ``on_step`` calls and in :attr:`PrepareStopped.step`.
#: ``check`` is the validation of the train/test pair after the split (label overlap, both parts usable).
STEPS = ("convert", "validate", "split", "check", "stage", "train")

DATASET_NAME = "dataset.manifest"
TRAIN_NAME = "train.manifest"
TEST_NAME = "test.manifest"

#: ``progress(step, n)``: ``n`` more units of ``step`` are done (images, lines or files).
Progress = Callable[[str, int], None]
#: ``on_step(step, result)``: ``step`` finished with ``result`` (its own function's result object).
StepCallback = Callable[[str, Any], None]


@dataclass
class PrepareResult:
    """What :func:`prepare` did: each step's own result (None for a step that did not run).

    ``images`` is the local folder that was staged (the COCO ``images`` folder or the folder root).
    """

    source: str
    images: str
    work_dir: str
    s3_prefix: str
    dataset_manifest: str
    train_manifest: str
    test_manifest: str
    dry_run: bool = False
    conversion: Summary | None = None
    validation: Report | None = None
    split: SplitResult | None = None
    check: Report | None = None
    stage: StageResult | None = None
    training: TrainResult | None = None

    def manifest_uri(self, which: str) -> str | None:
        """The ``s3://`` URI the ``train`` or ``test`` manifest was (or, in a dry run, would be) staged to."""
        path = self.train_manifest if which == "train" else self.test_manifest
        for m in self.stage.manifests if self.stage else ():
            if os.path.realpath(m.path) == os.path.realpath(path):
                return m.target
        return None

    @property
    def train_uri(self) -> str | None:
        """Where the training manifest is in S3."""
        return self.manifest_uri("train")

    @property
    def test_uri(self) -> str | None:
        """Where the test manifest is in S3."""
        return self.manifest_uri("test")


class PrepareStopped(ManifestKitError):
    """:func:`prepare` stopped at ``step`` on purpose; ``result`` holds the results of the steps that ran.

    ``step`` is "validate" or "check" when validation predicts a failed training (or, in strict mode, finds
    errors): ``report`` is that validation report and nothing was uploaded. It is "stage" when staging left
    images or manifests out: nothing was trained.
    """

    def __init__(self, message: str, *, step: str, result: PrepareResult, report: Report | None = None) -> None:
        self.step = step
        self.result = result
        self.report = report
        super().__init__(message)


def prepare(*, s3_prefix: str, work_dir: str | os.PathLike[str], coco: str | os.PathLike[str] | None = None,
            images: str | os.PathLike[str] | None = None, folders: str | os.PathLike[str] | None = None,
            s3: Any, test_fraction: float = 0.2, seed: int = 0, strict: bool = False,
            creation_date: str | _dt.datetime | None = None, convert_options: Mapping[str, Any] | None = None,
            create_bucket: bool = False, region: str | None = None,
            client_for_region: Callable[[str], Any] | None = None,
            rekognition: Any = None, project: str | None = None, output_uri: str | None = None,
            version: str | None = None, wait: bool = True, timeout: float = 24 * 3600.0, interval: float = 60.0,
            dry_run: bool = False, progress: Progress | None = None, on_step: StepCallback | None = None,
            on_request: Callable[[dict[str, Any]], None] | None = None,
            on_status: Callable[[StatusUpdate], None] | None = None, clock: Clock | None = None
            ) -> PrepareResult:
    """Convert a COCO file (``coco`` + ``images``) or a folder-per-label tree (``folders``), validate,
    split, stage to ``s3_prefix`` and, with ``project``, train a model version; see the module doc.

    Args:
        s3_prefix: ``s3://BUCKET/PREFIX/``: images go to PREFIX + their path under the images folder,
            the train and test manifests to PREFIX + ``manifests/``.
        work_dir: the local folder for the three manifests (created if missing).
        s3: a boto3 S3 client (also used in a dry run: staging compares with what is in S3).
        strict: also stop when validation finds any error (lines Rekognition would drop).
        convert_options: extra keyword arguments for the converter (``crowd``, ``bad_boxes``, ...).
        region: the Rekognition region; a bucket elsewhere stops staging before any upload.
        rekognition, project, output_uri: train ``project`` (created if missing) with the staged
            manifests, its outputs under ``output_uri``; ``wait`` polls until training ends.
        dry_run: convert, validate and split locally, stage without uploading and, with ``project``,
            send nothing to Rekognition (``on_request`` gets each request that would be sent).
        progress: ``progress(step, n)``; ``on_step(step, result)`` after each step.

    Raises:
        PrepareStopped: validation predicts that training would fail (nothing was uploaded), or staging
            left images or manifests out (nothing was trained).
        ManifestKitError: bad arguments or inputs, and every error of the steps themselves.
    """
    if (coco is None) == (folders is None):
        raise ManifestKitError("give either a COCO file (coco=, with images=) or a folder-per-label root "
                               "(folders=), not both or neither")
    if coco is not None and images is None:
        raise ManifestKitError("a COCO source needs images=: the folder the COCO file_names are under, which "
                               "is also the folder staged to S3")
    if folders is not None and images is not None:
        raise ManifestKitError("images= goes with coco=; a folder-per-label root is its own images folder")
    if project is not None and (rekognition is None or output_uri is None):
        raise ManifestKitError("training (project=) needs a rekognition client and output_uri= "
                               "(s3://BUCKET/PREFIX/ for the model's files)")
    if project is None and output_uri is not None:
        raise ManifestKitError("output_uri= is where training writes; give project= too, or leave it out")
    prefix = normalize_prefix(s3_prefix)
    root = os.fspath(images if coco is not None else folders)  # type: ignore[arg-type]
    if not os.path.isdir(root):
        raise ManifestKitError(f"the images folder {root} does not exist or is not a folder")
    work = os.fspath(work_dir)
    if os.path.exists(work) and not os.path.isdir(work):
        raise ManifestKitError(f"the work folder {work} is a file; give a folder for the manifests")
    if _inside(work, root):
        # The manifests would become part of the dataset folder, which prepare never writes to.
        raise ManifestKitError(f"the work folder {work} is inside the images folder {root}: choose one outside "
                               "it (manifestkit never writes into its inputs)")
    if project is not None:
        # A request Rekognition would refuse (a bad project or version name, output URI, ...) should fail
        # now, not after the upload: build the training requests once as a dry run, with the manifests
        # where staging will put them, and discard them.
        train_version(rekognition=rekognition, project=project, train_uri=f"{prefix}manifests/{TRAIN_NAME}",
                      test_uri=f"{prefix}manifests/{TEST_NAME}", output_uri=output_uri or "", version=version,
                      dry_run=True, clock=clock)
    os.makedirs(work, exist_ok=True)

    result = PrepareResult(source="coco" if coco is not None else "folders", images=root, work_dir=work,
                           s3_prefix=prefix, dataset_manifest=os.path.join(work, DATASET_NAME),
                           train_manifest=os.path.join(work, TRAIN_NAME),
                           test_manifest=os.path.join(work, TEST_NAME), dry_run=dry_run)

    def tick(step: str) -> Callable[[int], None] | None:
        if progress is None:
            return None
        return lambda n: progress(step, n)

    def done(step: str, value: Any) -> None:
        if on_step is not None:
            on_step(step, value)

    # 1. Convert.
    opts = dict(convert_options or {})
    if coco is not None:
        result.conversion = convert_coco(coco, result.dataset_manifest, s3_prefix=prefix, images=images,
                                         creation_date=creation_date, progress=tick("convert"), **opts)
    else:
        result.conversion = convert_folders(root, result.dataset_manifest, s3_prefix=prefix,
                                            creation_date=creation_date, progress=tick("convert"), **opts)
    done("convert", result.conversion)

    # 2. Validate the whole manifest against the local images.
    result.validation = validate(result.dataset_manifest, images=root, s3_prefix=prefix,
                                 progress=tick("validate"))
    done("validate", result.validation)
    _stop_if_failing(result.validation, "validate", strict, result)

    # 3. Split; 4. check the pair the way Rekognition sees it (overlap, each part usable). The images
    # were checked in step 2, so this pass reads the two manifests only.
    result.split = split_manifest(result.dataset_manifest, result.train_manifest, result.test_manifest,
                                  test_fraction=test_fraction, seed=seed, images=root, s3_prefix=prefix,
                                  progress=tick("split"))
    done("split", result.split)
    result.check = validate(result.train_manifest, test=result.test_manifest, progress=tick("check"))
    done("check", result.check)
    _stop_if_failing(result.check, "check", strict, result)

    # 5. Stage: images first, then the two manifests.
    last = [0]

    def stage_progress(files: int, _bytes: int, _total_files: int, _total_bytes: int) -> None:
        if progress is not None and files > last[0]:
            progress("stage", files - last[0])
            last[0] = files

    result.stage = stage_manifests([result.train_manifest, result.test_manifest], root, s3=s3, s3_prefix=prefix,
                                   dry_run=dry_run, create_bucket=create_bucket, region=region,
                                   client_for_region=client_for_region, progress=stage_progress)
    done("stage", result.stage)
    if not result.stage.ok:
        failed = len(result.stage.failed)
        withheld = [m.target for m in result.stage.manifests if m.status == "withheld"]
        raise PrepareStopped(f"staging left {failed} image(s) out and did not upload {', '.join(withheld)}, so "
                             "nothing was trained: fix the causes listed and run the same command again (what "
                             "is already in S3 is skipped)", step="stage", result=result)

    # 6. Train.
    if project is None:
        return result
    train_uri, test_uri = result.train_uri, result.test_uri
    if train_uri is None or test_uri is None:  # stage reports every manifest it was given
        raise ManifestKitError("staging reported no S3 location for the train or test manifest")
    result.training = train_version(rekognition=rekognition, s3=s3, project=project, train_uri=train_uri,
                                    test_uri=test_uri, output_uri=output_uri or "", version=version,
                                    dry_run=dry_run, wait=wait, timeout=timeout, interval=interval,
                                    train_file=result.train_manifest, test_file=result.test_manifest,
                                    on_request=on_request, on_status=on_status, clock=clock)
    done("train", result.training)
    return result


def _stop_if_failing(report: Report, step: str, strict: bool, result: PrepareResult) -> None:
    if report.exit_code(strict) == 0:
        return
    what = "the dataset" if step == "validate" else "the train/test split"
    if report.verdict == "would_fail":
        why = f"validation of {what} predicts that Rekognition would fail ({', '.join(report.terminal)})"
    else:
        why = f"validation of {what} found errors ({report.verdict_text()}) and strict mode is on"
    again = (f"manifestkit validate {result.dataset_manifest} --images {result.images} "
             f"--s3-prefix {result.s3_prefix}" if step == "validate" else
             f"manifestkit validate {result.train_manifest} --test {result.test_manifest}")
    raise PrepareStopped(f"{why}: nothing was uploaded. Fix the findings and run again; '{again}' shows "
                         "them all", step=step, result=result, report=report)


def _inside(path: str, folder: str) -> bool:
    p, f = os.path.realpath(path), os.path.realpath(folder)
    return p == f or p.startswith(f.rstrip(os.sep) + os.sep)
