"""detect: DetectCustomLabels in parallel, results and predictions manifest, drawing, and --start's stop
guarantee (also after an error or Ctrl-C)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.stub import ANY
from hypothesis import given, settings
from hypothesis import strategies as st
from imaging import write_image
from PIL import Image
from rekstub import PROJECT, Stubbed, rek, version_arn  # noqa: F401
from s3server import s3_client, s3_endpoint  # noqa: F401
from typer.testing import CliRunner

from manifestkit import aws
from manifestkit.cli import app
from manifestkit.errors import ManifestKitError
from manifestkit.rekognition import ImageResult, detect_images, predictions_to_lines

ARN = version_arn("v1")
BOX = {"Name": "screw", "Confidence": 87.5,
       "Geometry": {"BoundingBox": {"Width": 0.25, "Height": 0.5, "Left": 0.5, "Top": 0.25}}}


def _detect(rek: Stubbed, image: Any, labels: list[dict[str, Any]], min_confidence: float | None = None) -> None:
    params: dict[str, Any] = {"ProjectVersionArn": ARN, "Image": image}
    if min_confidence is not None:
        params["MinConfidence"] = min_confidence
    rek.add("detect_custom_labels", {"CustomLabels": labels}, params)


def _running(rek: Stubbed, status: str = "RUNNING") -> None:
    rek.project()
    rek.version("v1", status)


def test_local_bytes_and_s3_objects_results_and_manifest(rek: Stubbed, s3_client: Any,  # noqa: F811
                                                          tmp_path: Path) -> None:
    a = write_image(tmp_path / "in" / "a.jpg", 200, 100)
    s3_client.put_object(Bucket=s3_client.test_bucket, Key="imgs/b.png",
                         Body=write_image(tmp_path / "b.png", 64, 80).read_bytes())
    b = f"s3://{s3_client.test_bucket}/imgs/b.png"
    _running(rek)
    _detect(rek, {"Bytes": a.read_bytes()}, [BOX], 40.0)
    _detect(rek, {"S3Object": {"Bucket": s3_client.test_bucket, "Name": "imgs/b.png"}},
            [{**BOX, "Name": "cap", "Confidence": 55.0}], 40.0)
    out = tmp_path / "out" / "results.jsonl"
    report = detect_images(rekognition=rek.client, s3=s3_client, project=PROJECT, version="v1", images=[str(a), b],
                           min_confidence=40, workers=1, results_path=out, creation_date_value="2026-11-27T20:00:00")
    assert report.task == "detection" and report.failed == 0 and not report.started
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(r["image"], r["width"], r["height"]) for r in rows] == [(str(a), 200, 100), (b, 64, 80)]
    assert rows[0]["labels"] == [BOX]
    lines = [json.loads(x) for x in (tmp_path / "out" / "results.manifest").read_text().splitlines()]
    assert report.manifest_path == str(tmp_path / "out" / "results.manifest")
    assert lines[0] == {
        "source-ref": str(a),
        "prediction": {"image_size": [{"width": 200, "height": 100, "depth": 3}],
                       "annotations": [{"class_id": 1, "left": 100, "top": 25, "width": 50, "height": 50}]},
        "prediction-metadata": {"objects": [{"confidence": 0.875}], "class-map": {"1": "screw"},
                                "type": "groundtruth/object-detection", "human-annotated": "no",
                                "creation-date": "2026-11-27T20:00:00.000000", "job-name": "manifestkit-detect"}}
    assert lines[1]["source-ref"] == b
    assert lines[1]["prediction"]["annotations"] == [{"class_id": 0, "left": 32, "top": 20, "width": 16, "height": 40}]
    assert lines[1]["prediction-metadata"]["class-map"] == {"0": "cap"}


def test_classification_predictions_manifest() -> None:
    results = [ImageResult("s3://b/1.jpg", [{"Name": "rose", "Confidence": 99.0},
                                            {"Name": "leaf", "Confidence": 60.0}]),
               ImageResult("s3://b/2.jpg", []), ImageResult("s3://b/3.jpg", error="bad image")]
    lines = list(predictions_to_lines(results, task="classification", date="D",
                                      source_refs={"s3://b/1.jpg": "s3://other/1.jpg"}))
    assert lines == [
        {"source-ref": "s3://other/1.jpg",
         "prediction": 1, "prediction-metadata": {"class-name": "rose", "confidence": 0.99,
                                                  "type": "groundtruth/image-classification",
                                                  "human-annotated": "no", "creation-date": "D",
                                                  "job-name": "manifestkit-detect"},
         "prediction-1": 0, "prediction-1-metadata": {"class-name": "leaf", "confidence": 0.6,
                                                      "type": "groundtruth/image-classification",
                                                      "human-annotated": "no", "creation-date": "D",
                                                      "job-name": "manifestkit-detect"}},
        {"source-ref": "s3://b/2.jpg"}]


ratio = st.floats(min_value=-0.2, max_value=1.2, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 5000), ratio, ratio, ratio, ratio)
def test_boxes_in_pixels_stay_inside_the_image(w: int, h: int, left: float, top: float, bw: float, bh: float) -> None:
    label = {"Name": "x", "Confidence": 50.0,
             "Geometry": {"BoundingBox": {"Left": left, "Top": top, "Width": bw, "Height": bh}}}
    [line] = predictions_to_lines([ImageResult("s3://b/i.jpg", [label], w, h)], task="detection", date="D")
    anns = line["prediction"]["annotations"]
    assert len(anns) == len(line["prediction-metadata"]["objects"])
    for a in anns:
        assert all(isinstance(a[k], int) for k in ("left", "top", "width", "height"))
        assert a["left"] >= 0 and a["top"] >= 0 and a["width"] > 0 and a["height"] > 0
        assert a["left"] + a["width"] <= w and a["top"] + a["height"] <= h


def test_parallel_batch_keeps_input_order(rek: Stubbed, tmp_path: Path) -> None:  # noqa: F811
    images = [str(write_image(tmp_path / f"{i}.png", 64 + i, 64)) for i in range(8)]
    _running(rek)
    for _ in images:
        rek.add("detect_custom_labels", {"CustomLabels": [{"Name": "ok", "Confidence": 90.0}]},
                {"ProjectVersionArn": ARN, "Image": ANY})
    done: list[int] = []
    report = detect_images(rekognition=rek.client, project=PROJECT, version="v1", images=images, workers=4,
                           progress=done.append)
    assert [r.image for r in report.results] == images and sum(done) == 8
    assert report.task == "classification"


def test_a_bad_image_is_recorded_and_the_batch_goes_on(rek: Stubbed, tmp_path: Path) -> None:  # noqa: F811
    good, bad = write_image(tmp_path / "good.jpg"), tmp_path / "bad.jpg"
    bad.write_bytes(b"GIF89a not really")
    _running(rek)
    _detect(rek, {"Bytes": good.read_bytes()}, [])
    rek.error("detect_custom_labels", "InvalidImageFormatException",
              {"ProjectVersionArn": ARN, "Image": {"Bytes": bad.read_bytes()}})
    report = detect_images(rekognition=rek.client, project=PROJECT, version="v1", images=[str(good), str(bad)],
                           workers=1)
    assert report.failed == 1 and "InvalidImageFormatException" in (report.results[1].error or "")


def test_not_running_without_start_fails_before_any_detection(rek: Stubbed, tmp_path: Path) -> None:  # noqa: F811
    _running(rek, "STOPPED")
    with pytest.raises(ManifestKitError, match="not running \\(status STOPPED\\).*--start"):
        detect_images(rekognition=rek.client, project=PROJECT, version="v1",
                      images=[str(write_image(tmp_path / "a.jpg"))])


def test_inputs_are_checked_before_any_call(rek: Stubbed, tmp_path: Path) -> None:  # noqa: F811
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"\0" * (4 * 1024 * 1024))
    with pytest.raises(ManifestKitError, match="larger than 4 MB.*s3://"):
        detect_images(rekognition=rek.client, project=PROJECT, version="v1", images=[str(big)])
    with pytest.raises(ManifestKitError, match="no such file"):
        detect_images(rekognition=rek.client, project=PROJECT, version="v1", images=[str(tmp_path / "none.jpg")])
    with pytest.raises(ManifestKitError, match="would overwrite the original"):
        detect_images(rekognition=rek.client, project=PROJECT, version="v1",
                      images=[str(write_image(tmp_path / "a.jpg"))], draw_dir=tmp_path)


def _start_sequence(rek: Stubbed) -> None:
    _running(rek, "STOPPED")
    rek.add("start_project_version", {"Status": "STARTING"}, {"ProjectVersionArn": ARN, "MinInferenceUnits": 1})
    rek.version("v1", "STARTING")     # the waiter's polls
    rek.version("v1", "RUNNING")
    rek.version("v1", "RUNNING")      # the description after the wait


def _stop(rek: Stubbed) -> None:
    rek.add("stop_project_version", {"Status": "STOPPING"}, {"ProjectVersionArn": ARN})


def test_start_runs_the_batch_then_stops(rek: Stubbed, tmp_path: Path) -> None:  # noqa: F811
    img = write_image(tmp_path / "a.jpg")
    _start_sequence(rek)
    _detect(rek, {"Bytes": img.read_bytes()}, [])
    _stop(rek)
    report = detect_images(rekognition=rek.client, project=PROJECT, version="v1", images=[str(img)], start=True,
                           start_delay=0)
    assert report.started and report.stopped


def test_start_stops_the_model_after_an_error(rek: Stubbed, tmp_path: Path) -> None:  # noqa: F811
    img = write_image(tmp_path / "a.jpg")
    _start_sequence(rek)
    rek.error("detect_custom_labels", "AccessDeniedException", {"ProjectVersionArn": ARN,
                                                                "Image": {"Bytes": img.read_bytes()}})
    _stop(rek)   # the fixture fails the test unless this StopProjectVersion was sent
    with pytest.raises(ManifestKitError, match="AccessDeniedException"):
        detect_images(rekognition=rek.client, project=PROJECT, version="v1", images=[str(img)], start=True,
                      start_delay=0)


def test_start_stops_the_model_after_ctrl_c(rek: Stubbed, tmp_path: Path) -> None:  # noqa: F811
    imgs = [write_image(tmp_path / f"{i}.jpg") for i in range(2)]
    _start_sequence(rek)
    _detect(rek, {"Bytes": imgs[0].read_bytes()}, [])
    _stop(rek)

    def ctrl_c(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        detect_images(rekognition=rek.client, project=PROJECT, version="v1", images=[str(i) for i in imgs],
                      start=True, start_delay=0, workers=1, progress=ctrl_c)
    # The second image was never sent: the pool dropped it (the stubber would have failed otherwise).


def test_a_model_that_already_ran_is_left_running(rek: Stubbed, tmp_path: Path) -> None:  # noqa: F811
    img = write_image(tmp_path / "a.jpg")
    _running(rek)
    _detect(rek, {"Bytes": img.read_bytes()}, [])
    report = detect_images(rekognition=rek.client, project=PROJECT, version="v1", images=[str(img)], start=True)
    assert not report.started and not report.stopped


def test_a_failed_stop_says_the_model_may_still_run(rek: Stubbed, tmp_path: Path) -> None:  # noqa: F811
    img = write_image(tmp_path / "a.jpg")
    _start_sequence(rek)
    _detect(rek, {"Bytes": img.read_bytes()}, [])
    rek.error("stop_project_version", "ThrottlingException", {"ProjectVersionArn": ARN})
    with pytest.raises(ManifestKitError, match="could not stop parts/v1.*manifestkit stop --project parts"):
        detect_images(rekognition=rek.client, project=PROJECT, version="v1", images=[str(img)], start=True,
                      start_delay=0)


def test_draw_writes_copies_with_boxes(rek: Stubbed, tmp_path: Path) -> None:  # noqa: F811
    img = write_image(tmp_path / "in" / "a.png", 200, 100, color=(255, 255, 255))
    original = img.read_bytes()
    _running(rek)
    _detect(rek, {"Bytes": original}, [BOX])
    report = detect_images(rekognition=rek.client, project=PROJECT, version="v1", images=[str(img)],
                           draw_dir=tmp_path / "drawn")
    assert report.drawn == [str(tmp_path / "drawn" / "a.png")]
    assert img.read_bytes() == original
    with Image.open(report.drawn[0]) as drawn:
        assert drawn.size == (200, 100)
        assert drawn.getpixel((100, 40))[:3] == (255, 0, 0)      # the box's left edge
        assert drawn.getpixel((125, 50))[:3] == (255, 255, 255)  # inside the box is untouched


def test_cli_detect_prints_json_lines(rek: Stubbed, tmp_path: Path,  # noqa: F811
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws, "make_clients", lambda profile=None, region=None: SimpleNamespace(
        rekognition=rek.client, s3=None))
    img = write_image(tmp_path / "a.jpg")
    _running(rek)
    _detect(rek, {"Bytes": img.read_bytes()}, [{"Name": "rose", "Confidence": 91.0}], 50.0)
    result = CliRunner().invoke(app, ["detect", "--project", PROJECT, "--version", "v1", "--min-confidence", "50",
                                      str(img)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"image": str(img), "labels": [{"Name": "rose", "Confidence": 91.0}],
                                         "width": None, "height": None, "error": None}
    assert "1 images, 1 labels found (classification)" in result.stderr


def test_start_stops_the_model_after_ctrl_c_while_it_starts(rek: Stubbed, tmp_path: Path,  # noqa: F811
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.waiter

    def ctrl_c(seconds: float) -> None:
        raise KeyboardInterrupt

    # botocore's waiter sleeps with time.sleep between polls: Ctrl-C arrives there.
    monkeypatch.setattr(botocore.waiter, "time", SimpleNamespace(sleep=ctrl_c))
    img = write_image(tmp_path / "a.jpg")
    _running(rek, "STOPPED")
    rek.add("start_project_version", {"Status": "STARTING"}, {"ProjectVersionArn": ARN, "MinInferenceUnits": 1})
    rek.version("v1", "STARTING")
    _stop(rek)
    with pytest.raises(ManifestKitError, match="stopped waiting for parts/v1 to start"):
        detect_images(rekognition=rek.client, project=PROJECT, version="v1", images=[str(img)], start=True,
                      start_delay=1)


def test_detection_images_of_unknown_size_are_reported_not_dropped_silently(rek: Stubbed,  # noqa: F811
                                                                             tmp_path: Path) -> None:
    _running(rek)
    _detect(rek, {"S3Object": {"Bucket": "some-bucket", "Name": "a.jpg"}}, [BOX])
    # No S3 client: the image's header cannot be read, so its boxes cannot be converted to pixels.
    report = detect_images(rekognition=rek.client, project=PROJECT, version="v1", images=["s3://some-bucket/a.jpg"],
                           results_path=tmp_path / "r.jsonl")
    assert report.left_out == ["s3://some-bucket/a.jpg"]
    assert (tmp_path / "r.manifest").read_text() == ""
    assert json.loads((tmp_path / "r.jsonl").read_text())["labels"] == [BOX]


def test_draw_an_s3_image(rek: Stubbed, s3_client: Any, tmp_path: Path) -> None:  # noqa: F811
    data = write_image(tmp_path / "src.jpg", 600, 600, color=(255, 255, 255)).read_bytes()
    s3_client.put_object(Bucket=s3_client.test_bucket, Key="x/board.jpg", Body=data)
    uri = f"s3://{s3_client.test_bucket}/x/board.jpg"
    _running(rek)
    _detect(rek, {"S3Object": {"Bucket": s3_client.test_bucket, "Name": "x/board.jpg"}}, [BOX])
    report = detect_images(rekognition=rek.client, s3=s3_client, project=PROJECT, version="v1", images=[uri],
                           draw_dir=tmp_path / "drawn")
    assert report.drawn == [str(tmp_path / "drawn" / "board.jpg")]
    with Image.open(report.drawn[0]) as drawn:
        r, g, b = drawn.getpixel((300, 300))[:3]      # the box's left edge (JPEG: roughly red)
        assert r > 200 and g < 80 and b < 80
