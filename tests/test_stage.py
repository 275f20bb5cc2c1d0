"""manifestkit.stage (manifestkit/staging.py) against a real HTTP S3 endpoint (moto's server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from imaging import write_image
from manifestkit.cli import app
from manifestkit.errors import ManifestError, ManifestKitError
from manifestkit.staging import SHA256_METADATA, StageResult, _local_path, bucket_region, stage
from s3server import (  # noqa: F401
    inject_error,
    make_s3_client,
    new_bucket,
    record_calls,
    s3_client,
    s3_endpoint,
)


class Crash(Exception):
    """Stands in for a crash or Ctrl-C in the middle of a run."""


def make_dataset(root: Path, bucket: str, prefix: str = "ds/", n_train: int = 6, n_test: int = 3
                 ) -> tuple[Path, Path, Path]:
    """Images under root/img/{cat,dog}/ and train/test manifests naming them under s3://bucket/prefix."""
    img = root / "img"
    refs = {"train": [], "test": []}
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            label = "cat" if i % 2 else "dog"
            rel = f"{label}/{split}-{i}.jpg"
            write_image(img / rel, 64 + i, 64, color=(i * 20 % 255, 10, 200))
            refs[split].append(f"s3://{bucket}/{prefix}{rel}")
    paths = []
    for split in ("train", "test"):
        p = root / f"{split}.manifest"
        with open(p, "w") as fp:
            for ref in refs[split]:
                fp.write(json.dumps({"source-ref": ref, "label": 0, "label-metadata": {
                    "class-name": ref.split("/")[-2], "confidence": 1, "type": "groundtruth/image-classification",
                    "human-annotated": "yes", "creation-date": "2024-05-01T12:00:00.000000"}}) + "\n")
        paths.append(p)
    return img, paths[0], paths[1]


def keys(client: Any, bucket: str) -> dict[str, dict[str, Any]]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", ()):
            out[obj["Key"]] = obj
    return out


def run(client: Any, manifests: list[Path], img: Path, **kw: Any) -> StageResult:
    kw.setdefault("s3_prefix", f"s3://{client.test_bucket}/ds/")
    kw.setdefault("retry_delay", 0.0)
    return stage(manifests, img, s3=client, **kw)


def test_uploads_every_image_to_its_key_then_the_manifests(tmp_path: Path, s3_client: Any) -> None:
    b = s3_client.test_bucket
    img, train, test = make_dataset(tmp_path, b)
    puts = record_calls(s3_client, "PutObject")
    seen: list[tuple[int, int, int, int]] = []
    result = run(s3_client, [train, test], img, workers=4, progress=lambda *a: seen.append(a))

    assert result.ok and result.uploaded == 9 and result.skipped == 0 and not result.failed
    assert result.buckets == {b: "us-east-1"}
    objects = keys(s3_client, b)
    local = sorted(f"ds/{p.relative_to(img).as_posix()}" for p in img.rglob("*.jpg"))
    assert sorted(k for k in objects if not k.startswith("ds/manifests/")) == local
    for k in local:
        data = (img / k[3:]).read_bytes()
        head = s3_client.head_object(Bucket=b, Key=k)
        assert s3_client.get_object(Bucket=b, Key=k)["Body"].read() == data
        assert head["Metadata"][SHA256_METADATA] == hashlib.sha256(data).hexdigest()
        assert head["ContentType"] == "image/jpeg"
    assert s3_client.get_object(Bucket=b, Key="ds/manifests/train.manifest")["Body"].read() == train.read_bytes()
    assert [m.status for m in result.manifests] == ["uploaded", "uploaded"]
    assert [m.target for m in result.manifests] == [f"s3://{b}/ds/manifests/train.manifest",
                                                    f"s3://{b}/ds/manifests/test.manifest"]
    assert [m.images for m in result.manifests] == [6, 3]
    # Manifests strictly after every image.
    order = [c["Key"] for c in puts]
    assert order[-2:] == ["ds/manifests/train.manifest", "ds/manifests/test.manifest"]
    assert not any(k.startswith("ds/manifests/") for k in order[:-2])
    total = sum(os.path.getsize(img / k[3:]) for k in local)
    assert seen[-1] == (9, total, 9, total) and result.bytes_uploaded == total == result.bytes_total


def test_rerun_skips_unchanged_and_reuploads_changed(tmp_path: Path, s3_client: Any) -> None:
    b = s3_client.test_bucket
    img, train, test = make_dataset(tmp_path, b)
    run(s3_client, [train, test], img)
    lists = record_calls(s3_client, "ListObjectsV2")
    heads = record_calls(s3_client, "HeadObject")
    again = run(s3_client, [train, test], img)
    assert (again.uploaded, again.skipped, again.failed) == (0, 9, [])
    assert [m.status for m in again.manifests] == ["unchanged", "unchanged"]
    assert len(lists) == 1  # one listing instead of a HEAD per image
    assert len(heads) == 2  # only the two manifests are compared one by one

    # Same size, different bytes: caught by the checksum, not only by the size.
    victim = img / "cat" / "train-1.jpg"
    data = bytearray(victim.read_bytes())
    data[-3] ^= 0xFF
    victim.write_bytes(bytes(data))
    write_image(img / "dog" / "test-0.jpg", 300, 200)
    third = run(s3_client, [train, test], img)
    assert (third.uploaded, third.skipped) == (2, 7)
    assert s3_client.get_object(Bucket=b, Key="ds/cat/train-1.jpg")["Body"].read() == bytes(data)


def test_resume_after_a_crash_mid_run(tmp_path: Path, s3_client: Any) -> None:
    b = s3_client.test_bucket
    img, train, test = make_dataset(tmp_path, b, n_train=20, n_test=0)
    count = {"n": 0}

    def crash_on_eighth(params: dict[str, Any], **_: Any) -> None:
        count["n"] += 1
        if count["n"] == 8:
            raise Crash("power cut")

    s3_client.meta.events.register("before-parameter-build.s3.PutObject", crash_on_eighth)
    with pytest.raises(Crash):
        run(s3_client, [train], img, workers=2)
    s3_client.meta.events.unregister("before-parameter-build.s3.PutObject", crash_on_eighth)
    partial = keys(s3_client, b)
    assert 7 <= len(partial) < 20
    assert "ds/manifests/train.manifest" not in partial

    resumed = run(s3_client, [train], img, workers=2)
    assert resumed.ok
    assert resumed.skipped == len(partial) and resumed.uploaded == 20 - len(partial)
    assert len(keys(s3_client, b)) == 21


def test_transient_errors_are_retried(tmp_path: Path, s3_client: Any) -> None:
    img, train, test = make_dataset(tmp_path, s3_client.test_bucket)
    hits = inject_error(s3_client, "PutObject", code="SlowDown", status=503, times=3)
    result = run(s3_client, [train, test], img, workers=1, retries=4)
    assert len(hits) == 3 and result.ok and result.uploaded == 9


def test_retries_give_up_after_the_limit(tmp_path: Path, s3_client: Any) -> None:
    img, train, test = make_dataset(tmp_path, s3_client.test_bucket)
    hits = inject_error(s3_client, "PutObject", code="InternalError", status=500,
                        match=lambda p: p.get("Key") == "ds/cat/test-1.jpg")
    result = run(s3_client, [train, test], img, retries=2)
    assert hits == ["ds/cat/test-1.jpg"] * 3  # the first attempt and two retries
    assert [f.reason for f in result.failed] == ["InternalError: injected InternalError"]
    assert [m.status for m in result.manifests] == ["uploaded", "withheld"]


def test_a_failing_image_withholds_its_manifest_only(tmp_path: Path, s3_client: Any) -> None:
    b = s3_client.test_bucket
    img, train, test = make_dataset(tmp_path, b)
    hits = inject_error(s3_client, "PutObject", match=lambda p: p.get("Key") == "ds/dog/train-2.jpg")
    result = run(s3_client, [train, test], img, retries=2)
    assert hits == ["ds/dog/train-2.jpg"]  # AccessDenied is not retried
    assert not result.ok and result.uploaded == 8
    [failure] = result.failed
    assert failure.target == f"s3://{b}/ds/dog/train-2.jpg" and "AccessDenied" in failure.reason
    statuses = {Path(m.path).name: (m.status, m.failed_images) for m in result.manifests}
    assert statuses == {"train.manifest": ("withheld", 1), "test.manifest": ("uploaded", 0)}
    objects = keys(s3_client, b)
    assert "ds/manifests/train.manifest" not in objects and "ds/manifests/test.manifest" in objects


def test_missing_local_image_and_escaping_keys_fail(tmp_path: Path, s3_client: Any) -> None:
    b = s3_client.test_bucket
    img, train, _ = make_dataset(tmp_path, b, n_train=2, n_test=0)
    (tmp_path / "secret.jpg").write_bytes(b"x")
    with open(train, "a") as fp:
        for ref in (f"s3://{b}/ds/cat/gone.jpg", f"s3://{b}/ds/../secret.jpg", f"s3://{b}/elsewhere/a.jpg",
                    f"s3://other-bucket/ds/a.jpg"):
            fp.write(json.dumps({"source-ref": ref}) + "\n")
        fp.write("not json\n")
    result = run(s3_client, [train], img)
    reasons = {f.target: f.reason for f in result.failed}
    assert reasons[f"s3://{b}/ds/cat/gone.jpg"].startswith("not found:")
    assert "escapes" in reasons[f"s3://{b}/ds/../secret.jpg"]
    assert "outside --s3-prefix" in reasons[f"s3://{b}/elsewhere/a.jpg"]
    assert "outside --s3-prefix" in reasons["s3://other-bucket/ds/a.jpg"]
    assert result.lines_without_image == 1 and result.uploaded == 2
    assert [m.status for m in result.manifests] == ["withheld"]
    assert not any(k.endswith("secret.jpg") for k in keys(s3_client, b))


def test_without_prefix_the_whole_key_is_the_local_path(tmp_path: Path, s3_client: Any) -> None:
    b = s3_client.test_bucket
    img, train, _ = make_dataset(tmp_path, b, prefix="", n_train=3, n_test=0)
    result = stage([train], img, s3=s3_client)
    assert result.ok and result.uploaded == 3
    assert result.manifests[0].target == f"s3://{b}/manifests/train.manifest"
    assert set(keys(s3_client, b)) == {"dog/train-0.jpg", "cat/train-1.jpg", "dog/train-2.jpg",
                                       "manifests/train.manifest"}


def test_manifest_to_folder_and_single_object(tmp_path: Path, s3_client: Any) -> None:
    b = s3_client.test_bucket
    img, train, test = make_dataset(tmp_path, b, n_train=2, n_test=2)
    r = run(s3_client, [train, test], img, manifest_to=f"s3://{b}/sets/")
    assert [m.target for m in r.manifests] == [f"s3://{b}/sets/train.manifest", f"s3://{b}/sets/test.manifest"]
    r = run(s3_client, [train], img, manifest_to=f"s3://{b}/exact/name.manifest")
    assert r.manifests[0].target == f"s3://{b}/exact/name.manifest"
    assert "exact/name.manifest" in keys(s3_client, b)
    with pytest.raises(ManifestKitError, match="end it with '/'"):
        run(s3_client, [train, test], img, manifest_to=f"s3://{b}/one.manifest")
    twin = tmp_path / "other"
    twin.mkdir()
    (twin / "train.manifest").write_bytes(train.read_bytes())
    with pytest.raises(ManifestKitError, match="would both be uploaded"):
        run(s3_client, [train, twin / "train.manifest"], img)


def test_dry_run_uploads_nothing(tmp_path: Path, s3_client: Any) -> None:
    b = s3_client.test_bucket
    img, train, test = make_dataset(tmp_path, b)
    run(s3_client, [test], img)
    before = keys(s3_client, b)
    result = run(s3_client, [train, test], img, dry_run=True)
    assert result.dry_run and result.uploaded == 6 and result.skipped == 3
    assert [m.status for m in result.manifests] == ["planned", "planned"]
    assert keys(s3_client, b).keys() == before.keys()


def test_missing_bucket_is_an_error_naming_it(tmp_path: Path, s3_client: Any) -> None:
    img, train, _ = make_dataset(tmp_path, "mk-no-such-bucket-here", n_train=2, n_test=0)
    with pytest.raises(ManifestKitError, match="mk-no-such-bucket-here does not exist.*--create-bucket"):
        stage([train], img, s3=s3_client, s3_prefix="s3://mk-no-such-bucket-here/ds/")
    assert bucket_region(s3_client, "mk-no-such-bucket-here") is None


def test_create_bucket_in_the_rekognition_region(tmp_path: Path, s3_endpoint: str) -> None:
    east = make_s3_client(s3_endpoint)
    west = make_s3_client(s3_endpoint, "eu-west-1")
    name = f"mk-created-{os.getpid()}"
    img, train, _ = make_dataset(tmp_path, name, n_train=2, n_test=0)
    made: list[str] = []

    def factory(region: str) -> Any:
        made.append(region)
        return west

    result = stage([train], img, s3=east, s3_prefix=f"s3://{name}/ds/", create_bucket=True, region="eu-west-1",
                   client_for_region=factory)
    assert result.ok and result.created_buckets == [name] and result.buckets == {name: "eu-west-1"}
    assert made and set(made) == {"eu-west-1"}
    assert bucket_region(east, name) == "eu-west-1"
    assert east.head_object(Bucket=name, Key="ds/manifests/train.manifest")["ContentLength"] > 0


def test_bucket_in_another_region_is_refused_before_any_upload(tmp_path: Path, s3_endpoint: str) -> None:
    east = make_s3_client(s3_endpoint)
    b = new_bucket(east, "eu-west-1")
    img, train, _ = make_dataset(tmp_path, b, n_train=2, n_test=0)
    puts = record_calls(east, "PutObject")
    with pytest.raises(ManifestKitError, match=f"{b} is in eu-west-1 but Rekognition runs in us-east-1"):
        stage([train], img, s3=east, s3_prefix=f"s3://{b}/ds/", region="us-east-1")
    assert puts == [] and keys(east, b) == {}
    # In the right region it stages, through a client made for the bucket's region.
    west = make_s3_client(s3_endpoint, "eu-west-1")
    result = stage([train], img, s3=east, s3_prefix=f"s3://{b}/ds/", region="eu-west-1",
                   client_for_region=lambda r: west)
    assert result.ok and result.buckets == {b: "eu-west-1"} and puts == []


def test_non_md5_etag_falls_back_to_the_stored_sha256(tmp_path: Path, s3_client: Any) -> None:
    b = s3_client.test_bucket
    img, train, _ = make_dataset(tmp_path, b, n_train=1, n_test=0)
    path = img / "dog" / "train-0.jpg"
    data = path.read_bytes()
    # A multipart upload has an ETag like "<md5 of md5s>-1": not the file's MD5.
    for key, sha in (("ds/dog/train-0.jpg", hashlib.sha256(data).hexdigest()), ("ds/other.jpg", "0" * 64)):
        up = s3_client.create_multipart_upload(Bucket=b, Key=key, Metadata={SHA256_METADATA: sha})
        part = s3_client.upload_part(Bucket=b, Key=key, UploadId=up["UploadId"], PartNumber=1, Body=data)
        s3_client.complete_multipart_upload(Bucket=b, Key=key, UploadId=up["UploadId"], MultipartUpload={
            "Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    assert "-" in s3_client.head_object(Bucket=b, Key="ds/dog/train-0.jpg")["ETag"]
    result = run(s3_client, [train], img)
    assert (result.uploaded, result.skipped) == (0, 1)
    (img / "other.jpg").write_bytes(data)
    with open(train, "a") as fp:
        fp.write(json.dumps({"source-ref": f"s3://{b}/ds/other.jpg"}) + "\n")
    result = run(s3_client, [train], img)
    assert (result.uploaded, result.skipped) == (1, 1)  # the wrong stored SHA-256 forces an upload


def test_listing_denied_falls_back_to_head(tmp_path: Path, s3_client: Any) -> None:
    img, train, test = make_dataset(tmp_path, s3_client.test_bucket)
    run(s3_client, [train, test], img)
    inject_error(s3_client, "ListObjectsV2")
    heads = record_calls(s3_client, "HeadObject")
    result = run(s3_client, [train, test], img)
    assert result.ok and result.skipped == 9 and len(heads) == 11


def test_bad_arguments(tmp_path: Path, s3_client: Any) -> None:
    img, train, _ = make_dataset(tmp_path, s3_client.test_bucket, n_train=1, n_test=0)
    with pytest.raises(ManifestKitError, match="images folder"):
        run(s3_client, [train], tmp_path / "nope")
    with pytest.raises(ManifestError, match="manifest not found"):
        run(s3_client, [tmp_path / "nope.manifest"], img)
    with pytest.raises(ManifestKitError, match="not an S3 URI"):
        run(s3_client, [train], img, s3_prefix="my-bucket/ds/")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b.jpg", "..", ".", "", "x/..", "/", "\\", "c d", "é"]), min_size=1,
                max_size=5))
def test_local_path_never_leaves_the_root(tmp_path_factory: pytest.TempPathFactory, parts: list[str]) -> None:
    root = os.path.realpath(tmp_path_factory.getbasetemp())
    rel = "/".join(parts)
    local, why = _local_path(root, rel)
    if local is None:
        assert why
    else:
        assert os.path.realpath(local).startswith(root + os.sep)
        assert ".." not in rel.split("/")


# ------------------------------------------------------------------------------------------ the CLI


@pytest.fixture()
def endpoint_env(monkeypatch: pytest.MonkeyPatch, s3_endpoint: str) -> str:
    """Point the CLI's own clients at the moto server the way users do: AWS_ENDPOINT_URL_S3."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    return s3_endpoint


def test_cli_stages_through_aws_endpoint_url_s3(tmp_path: Path, s3_client: Any, endpoint_env: str) -> None:
    b = s3_client.test_bucket
    img, train, test = make_dataset(tmp_path, b)
    args = ["stage", str(train), str(test), "--images", str(img), "--s3-prefix", f"s3://{b}/ds/", "--workers", "3"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert res.stdout.split() == [f"s3://{b}/ds/manifests/train.manifest", f"s3://{b}/ds/manifests/test.manifest"]
    assert "images: 9 named, 9 uploaded" in res.stderr and f"bucket {b}: us-east-1" in res.stderr
    assert len(keys(s3_client, b)) == 11
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "0 uploaded (0 B), 9 unchanged (skipped), 0 failed" in res.stderr


def test_cli_failure_exit_code_and_summary(tmp_path: Path, s3_client: Any, endpoint_env: str) -> None:
    b = s3_client.test_bucket
    img, train, test = make_dataset(tmp_path, b)
    (img / "cat" / "train-3.jpg").unlink()
    report = tmp_path / "stage-report.json"
    res = CliRunner().invoke(app, ["stage", str(train), str(test), "--images", str(img),
                                   "--s3-prefix", f"s3://{b}/ds/", "--report", str(report)])
    assert res.exit_code == 1
    assert f"failed: s3://{b}/ds/cat/train-3.jpg: not found:" in res.stderr
    assert "train.manifest: NOT uploaded: 1 of its images could not be staged" in res.stderr
    assert res.stdout.split() == [f"s3://{b}/ds/manifests/test.manifest"]
    data = json.loads(report.read_text())
    assert (data["ok"], data["uploaded"], data["failed"]) == (False, 8, 1)
    missing = os.path.join(os.path.realpath(img), "cat", "train-3.jpg")  # the images folder, resolved
    assert data["failures"] == [{"target": f"s3://{b}/ds/cat/train-3.jpg", "path": missing,
                                 "reason": f"not found: {missing}"}]
    assert [(m["status"], m["failed_images"]) for m in data["manifests"]] == [("withheld", 1), ("uploaded", 0)]


def test_cli_region_mismatch_and_missing_bucket(tmp_path: Path, s3_endpoint: str, endpoint_env: str) -> None:
    west = new_bucket(make_s3_client(s3_endpoint), "eu-west-1")
    img, train, _ = make_dataset(tmp_path, west, n_train=1, n_test=0)
    res = CliRunner().invoke(app, ["stage", str(train), "--images", str(img), "--s3-prefix", f"s3://{west}/ds/",
                                   "--region", "us-east-1"])
    assert res.exit_code == 1
    assert res.stderr.startswith(f"error: the bucket {west} is in eu-west-1 but Rekognition runs in us-east-1")
    res = CliRunner().invoke(app, ["stage", str(train), "--images", str(img), "--s3-prefix", f"s3://{west}/ds/",
                                   "--region", "eu-west-1"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["stage", str(train), "--images", str(img), "--s3-prefix",
                                   "s3://mk-cli-missing-bucket/ds/"])
    assert res.exit_code == 1 and "error: the bucket mk-cli-missing-bucket does not exist" in res.stderr
    assert "Traceback" not in res.output


def test_cli_dry_run_and_usage_errors(tmp_path: Path, s3_client: Any, endpoint_env: str) -> None:
    b = s3_client.test_bucket
    img, train, _ = make_dataset(tmp_path, b, n_train=2, n_test=0)
    res = CliRunner().invoke(app, ["stage", str(train), "--images", str(img), "--s3-prefix", f"s3://{b}/ds/",
                                   "--dry-run"])
    assert res.exit_code == 0 and "2 would upload" in res.stderr and "would upload" in res.stderr
    assert keys(s3_client, b) == {} and res.stdout == ""
    res = CliRunner().invoke(app, ["stage", str(train), "--images", str(img), "--workers", "0"])
    assert res.exit_code == 2


def test_cli_honours_the_generic_aws_endpoint_url(tmp_path: Path, s3_client: Any, s3_endpoint: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    b = s3_client.test_bucket
    img, train, _ = make_dataset(tmp_path, b, n_train=2, n_test=0)
    res = CliRunner().invoke(app, ["stage", str(train), "--images", str(img), "--s3-prefix", f"s3://{b}/ds/"])
    assert res.exit_code == 0, res.output
    assert "ds/manifests/train.manifest" in keys(s3_client, b)


def test_cli_ctrl_c_says_how_to_resume(tmp_path: Path, s3_client: Any, endpoint_env: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import manifestkit.aws

    real = manifestkit.aws.make_clients
    calls = {"n": 0}

    def ctrl_c_on_third_put(params: dict[str, Any], **_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt

    def make_clients(profile: str | None = None, region: str | None = None) -> Any:
        clients = real(profile, region)
        clients.s3.meta.events.register("before-parameter-build.s3.PutObject", ctrl_c_on_third_put)
        return clients

    monkeypatch.setattr(manifestkit.aws, "make_clients", make_clients)
    b = s3_client.test_bucket
    img, train, _ = make_dataset(tmp_path, b, n_train=8, n_test=0)
    args = ["stage", str(train), "--images", str(img), "--s3-prefix", f"s3://{b}/ds/", "--workers", "1"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 130 and "run the same command again to resume" in res.stderr
    assert res.stdout == "" and "ds/manifests/train.manifest" not in keys(s3_client, b)
    monkeypatch.setattr(manifestkit.aws, "make_clients", real)
    before = len(keys(s3_client, b))
    assert 2 <= before < 8  # the two puts before Ctrl-C, and at most the one the worker had started
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0
    assert f"{8 - before} uploaded" in res.stderr and f"{before} unchanged (skipped)" in res.stderr


def test_symbolic_links_must_stay_inside_the_images_folder(tmp_path: Path, s3_client: Any) -> None:
    b = s3_client.test_bucket
    img, train, _ = make_dataset(tmp_path, b, n_train=1, n_test=0)
    outside = tmp_path / "outside"
    write_image(outside / "secret.jpg")
    (img / "cat").mkdir(exist_ok=True)
    (img / "cat" / "link-out.jpg").symlink_to(outside / "secret.jpg")
    (img / "cat" / "link-in.jpg").symlink_to(img / "dog" / "train-0.jpg")
    (img / "evil").symlink_to(outside, target_is_directory=True)
    with open(train, "a") as fp:
        for rel in ("cat/link-out.jpg", "cat/link-in.jpg", "evil/secret.jpg"):
            fp.write(json.dumps({"source-ref": f"s3://{b}/ds/{rel}"}) + "\n")
    result = run(s3_client, [train], img)
    reasons = {f.target.rsplit("/ds/", 1)[1]: f.reason for f in result.failed}
    assert set(reasons) == {"cat/link-out.jpg", "evil/secret.jpg"}
    assert "symbolic link" in reasons["cat/link-out.jpg"] and "outside the images folder" in reasons["evil/secret.jpg"]
    assert result.uploaded == 2  # train-0.jpg and the link to it
    assert "ds/cat/link-in.jpg" in keys(s3_client, b) and "ds/evil/secret.jpg" not in keys(s3_client, b)


def test_cli_progress_bars_show_files_and_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    from manifestkit.cli.stage import _stage_bars

    with _stage_bars(enabled=True, mininterval=0) as progress:
        progress(1, 500, 4, 4000)
        progress(4, 4000, 4, 4000)
    err = capsys.readouterr().err
    assert "files: 100%" in err and "4/4" in err
    assert "bytes: 100%" in err and "4.00k/4.00k" in err


# File names end in ".jpg" so that a file never shares its name with a folder of another example.
names = st.text(alphabet="abcXYZ019 _-.éü+()", min_size=1, max_size=10).map(lambda s: s + ".jpg")


@settings(max_examples=6, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", "a/", "b c/", "ü/x/"]), names), min_size=1, max_size=6,
                unique_by=lambda t: (t[0] + t[1]).lower()))
def test_any_file_names_round_trip_and_rerun_skips(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str,
                                                  files: list[tuple[str, str]]) -> None:
    tmp = tmp_path_factory.mktemp("names")
    client = make_s3_client(s3_endpoint)
    b = new_bucket(client)
    img = tmp / "img"
    manifest = tmp / "m.manifest"
    with open(manifest, "w", encoding="utf-8") as fp:
        for i, (folder, name) in enumerate(files):
            rel = f"{folder}{name}"
            (img / rel).parent.mkdir(parents=True, exist_ok=True)
            (img / rel).write_bytes(b"%d" % i * (i + 1))
            fp.write(json.dumps({"source-ref": f"s3://{b}/p/{rel}"}, ensure_ascii=False) + "\n")
    first = stage([manifest], img, s3=client, s3_prefix=f"s3://{b}/p/", workers=3)
    assert first.ok and first.uploaded == len(files)
    stored = keys(client, b)
    assert set(stored) == {f"p/{f}{n}" for f, n in files} | {"p/manifests/m.manifest"}
    for folder, name in files:
        data = (img / f"{folder}{name}").read_bytes()
        assert client.get_object(Bucket=b, Key=f"p/{folder}{name}")["Body"].read() == data
    again = stage([manifest], img, s3=client, s3_prefix=f"s3://{b}/p/", workers=3)
    assert (again.uploaded, again.skipped) == (0, len(files))
