"""manifestkit.permissions (manifestkit.policy): identity policy, permission check and legacy bucket-policy merge (moto server)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import manifestkit.aws
from manifestkit.cli import app
from manifestkit.errors import AwsError, ManifestKitError
from manifestkit.permissions import (
    MARKER_NAME,
    check_access,
    identity_policy,
    legacy_bucket_policy,
    legacy_statements,
    merge_statements,
    policy,
)
from s3server import inject_error, new_bucket, s3_client, s3_endpoint  # noqa: F401

UNRELATED = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": ["arn:aws:s3:::{b}", "arn:aws:s3:::{b}/*"],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def unrelated(bucket: str) -> dict[str, Any]:
    return json.loads(json.dumps(UNRELATED).replace("{b}", bucket))


def statement_map(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in doc["Statement"]}


def test_identity_policy_for_one_bucket() -> None:
    doc = identity_policy("my-bucket")
    s = statement_map(doc)
    assert doc["Version"] == "2012-10-17" and set(s) == {"ManifestKitDatasetBucket", "ManifestKitDatasetObjects"}
    assert s["ManifestKitDatasetBucket"]["Resource"] == ["arn:aws:s3:::my-bucket"]
    assert "s3:ListBucket" in s["ManifestKitDatasetBucket"]["Action"]
    assert s["ManifestKitDatasetObjects"]["Resource"] == ["arn:aws:s3:::my-bucket/*"]
    assert {"s3:GetObject", "s3:PutObject"} <= set(s["ManifestKitDatasetObjects"]["Action"])


def test_identity_policy_with_an_output_location() -> None:
    s = statement_map(identity_policy("data", "results", "runs/v1"))
    assert s["ManifestKitOutputBucket"]["Resource"] == ["arn:aws:s3:::results"]
    assert s["ManifestKitOutputObjects"]["Resource"] == ["arn:aws:s3:::results/runs/v1/*"]
    assert "s3:PutObject" in s["ManifestKitOutputObjects"]["Action"]
    # Output in the dataset bucket needs no second bucket statement.
    s = statement_map(identity_policy("data", None, "out/"))
    assert "ManifestKitOutputBucket" not in s
    assert s["ManifestKitOutputObjects"]["Resource"] == ["arn:aws:s3:::data/out/*"]
    with pytest.raises(ManifestKitError, match="invalid S3 bucket name"):
        identity_policy("no/slashes")


def test_legacy_statements_are_those_of_the_contract() -> None:
    st_ = legacy_statements("in-bucket", "out-bucket", "train/out")
    assert [s["Sid"] for s in st_["in-bucket"]] == ["AWSRekognitionS3AclBucketRead20191011",
                                                      "AWSRekognitionS3GetBucket20191011"]
    assert [s["Sid"] for s in st_["out-bucket"]] == ["AWSRekognitionS3ACLBucketWrite20191011",
                                                       "AWSRekognitionS3PutObject20191011"]
    put = st_["out-bucket"][1]
    assert put["Resource"] == "arn:aws:s3:::out-bucket/train/out/*"
    assert put["Principal"] == {"Service": "rekognition.amazonaws.com"}
    assert put["Condition"] == {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}
    assert set(st_["in-bucket"][1]["Action"]) == {"s3:GetObject", "s3:GetObjectAcl", "s3:GetObjectVersion",
                                                 "s3:GetObjectTagging"}
    same = legacy_statements("bk1", None, "out/")
    assert list(same) == ["bk1"] and len(same["bk1"]) == 4


def test_merge_keeps_other_statements_and_replaces_by_sid() -> None:
    old_version = dict(legacy_statements("bk1")["bk1"][0], Action=["s3:GetBucketAcl"])
    existing = {"Version": "2012-10-17", "Id": "keep-me", "Statement": [unrelated("bk1"), old_version]}
    merged = merge_statements(existing, legacy_statements("bk1")["bk1"])
    assert merged["Id"] == "keep-me"
    assert [s["Sid"] for s in merged["Statement"]] == ["DenyInsecureTransport",
                                                      "AWSRekognitionS3AclBucketRead20191011",
                                                      "AWSRekognitionS3GetBucket20191011"]
    assert merged["Statement"][0] == unrelated("bk1")
    assert merged["Statement"][1]["Action"] == ["s3:GetBucketAcl", "s3:GetBucketLocation"]
    assert existing["Statement"][1]["Action"] == ["s3:GetBucketAcl"]  # the input is not modified
    single = merge_statements({"Version": "2012-10-17", "Statement": unrelated("bk1")}, [])
    assert single["Statement"] == [unrelated("bk1")]


sids = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=6)


@settings(max_examples=80, deadline=None)
@given(st.lists(sids, max_size=8, unique=True), st.lists(sids, min_size=1, max_size=5, unique=True),
       st.integers(0, 3))
def test_merge_properties(old: list[str], new: list[str], anonymous: int) -> None:
    existing = {"Version": "2012-10-17",
                "Statement": [{"Sid": s, "Effect": "Allow", "Tag": "old"} for s in old]
                + [{"Effect": "Deny", "Tag": f"anon{i}"} for i in range(anonymous)]}
    statements = [{"Sid": s, "Effect": "Allow", "Tag": "new"} for s in new]
    merged = merge_statements(existing, statements)["Statement"]
    # Nothing lost: every old statement whose Sid is not being replaced survives unchanged, in order.
    kept = [s for s in existing["Statement"] if s.get("Sid") not in new]
    assert [s for s in merged if s.get("Tag") != "new"] == kept
    # Every new statement present exactly once; nothing duplicated.
    assert sorted(s["Sid"] for s in merged if s.get("Tag") == "new") == sorted(new)
    assert len(merged) == len(kept) + len(new)
    # Idempotent.
    assert merge_statements({"Version": "2012-10-17", "Statement": merged}, statements)["Statement"] == merged


def test_legacy_policy_dry_run_then_apply(s3_client: Any) -> None:
    b = s3_client.test_bucket
    s3_client.put_bucket_policy(Bucket=b, Policy=json.dumps({"Version": "2012-10-17",
                                                             "Statement": [unrelated(b)]}))
    [plan] = legacy_bucket_policy(s3_client, b, None, "output/")
    assert not plan.applied and plan.changed
    assert json.loads(s3_client.get_bucket_policy(Bucket=b)["Policy"])["Statement"] == [unrelated(b)]
    assert '+      "Sid": "AWSRekognitionS3PutObject20191011",' in plan.diff()
    assert plan.diff().startswith(f"--- s3://{b} bucket policy (current)")

    [plan] = legacy_bucket_policy(s3_client, b, None, "output/", apply=True)
    assert plan.applied
    stored = json.loads(s3_client.get_bucket_policy(Bucket=b)["Policy"])
    assert stored["Statement"][0] == unrelated(b)
    assert [s["Sid"] for s in stored["Statement"][1:]] == [
        "AWSRekognitionS3AclBucketRead20191011", "AWSRekognitionS3GetBucket20191011",
        "AWSRekognitionS3ACLBucketWrite20191011", "AWSRekognitionS3PutObject20191011"]
    [again] = legacy_bucket_policy(s3_client, b, None, "output/", apply=True)
    assert not again.changed and not again.applied and again.diff() == ""


def test_legacy_policy_on_a_bucket_without_policy_and_a_missing_bucket(s3_client: Any) -> None:
    [plan] = legacy_bucket_policy(s3_client, s3_client.test_bucket)
    assert plan.before is None and len(plan.after["Statement"]) == 2
    with pytest.raises(AwsError, match="NoSuchBucket"):
        legacy_bucket_policy(s3_client, "mk-policy-missing-bucket")


def test_check_all_allowed(s3_client: Any) -> None:
    b = s3_client.test_bucket
    s3_client.put_object(Bucket=b, Key="ds/a.jpg", Body=b"x")
    checks = check_access(s3_client, b, None, "out/")
    assert all(c.ok for c in checks), checks
    assert {c.permission for c in checks} == {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketAcl",
                                              "s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    # The marker was removed again.
    left = s3_client.list_objects_v2(Bucket=b, Prefix="out/").get("KeyCount", 0)
    assert left == 0


def test_check_reports_the_denied_permission(s3_client: Any) -> None:
    b = s3_client.test_bucket
    hits = inject_error(s3_client, "PutObject")
    report = policy(b, output_prefix="out/", s3=s3_client, check=True)
    assert [c.permission for c in report.missing] == ["s3:PutObject"]
    assert report.missing[0].detail == "AccessDenied: injected AccessDenied"
    assert len(hits) == 1 and hits[0].startswith("out/" + MARKER_NAME)
    assert not any(c.permission == "s3:DeleteObject" for c in report.checks)


def test_check_a_failed_delete_is_only_a_warning(s3_client: Any) -> None:
    inject_error(s3_client, "DeleteObject")
    report = policy(s3_client.test_bucket, output_prefix="out/", s3=s3_client, check=True)
    assert report.missing == []
    [delete] = [c for c in report.checks if c.permission == "s3:DeleteObject"]
    assert not delete.ok and not delete.required


def test_policy_arguments() -> None:
    with pytest.raises(ManifestKitError, match="S3 client is needed"):
        policy("b-ok", check=True)
    with pytest.raises(ManifestKitError, match="legacy bucket policy"):
        policy("b-ok", apply=True, s3=object())
    report = policy("s3://b-ok/", output_prefix="s3://other-out/runs/")
    assert statement_map(report.identity_policy)["ManifestKitDatasetBucket"]["Resource"] == ["arn:aws:s3:::b-ok"]
    assert statement_map(report.identity_policy)["ManifestKitOutputObjects"]["Resource"] == [
        "arn:aws:s3:::other-out/runs/*"]


# ------------------------------------------------------------------------------------------ the CLI


@pytest.fixture()
def endpoint_env(monkeypatch: pytest.MonkeyPatch, s3_endpoint: str) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    return s3_endpoint


def test_cli_prints_the_identity_policy() -> None:
    res = CliRunner().invoke(app, ["policy", "--bucket", "my-bucket", "--output-bucket", "my-out",
                                   "--output-prefix", "runs/"])
    assert res.exit_code == 0
    assert json.loads(res.stdout) == identity_policy("my-bucket", "my-out", "runs/")


def test_cli_check_with_a_denied_action(s3_client: Any, endpoint_env: str, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    real = manifestkit.aws.make_clients

    def make_clients(profile: str | None = None, region: str | None = None) -> Any:
        clients = real(profile, region)
        inject_error(clients.s3, "GetBucketAcl")
        return clients

    monkeypatch.setattr(manifestkit.aws, "make_clients", make_clients)
    res = CliRunner().invoke(app, ["policy", "--bucket", s3_client.test_bucket, "--output-prefix", "o/", "--check"])
    assert res.exit_code == 1
    assert "MISSING  s3:GetBucketAcl" in res.stderr
    assert "missing permissions: s3:GetBucketAcl" in res.stderr
    assert "ok       s3:PutObject" in res.stderr


def test_cli_legacy_merge_dry_run_and_apply(s3_client: Any, endpoint_env: str) -> None:
    b = s3_client.test_bucket
    s3_client.put_bucket_policy(Bucket=b, Policy=json.dumps({"Version": "2012-10-17",
                                                             "Statement": [unrelated(b)]}))
    res = CliRunner().invoke(app, ["policy", "--bucket", b, "--legacy-bucket-policy"])
    assert res.exit_code == 0
    printed = json.loads(res.stdout)
    assert printed["Statement"][0] == unrelated(b) and len(printed["Statement"]) == 3
    assert "+      \"Sid\": \"AWSRekognitionS3GetBucket20191011\"," in res.stderr
    assert "dry run; add --apply" in res.stderr
    assert len(json.loads(s3_client.get_bucket_policy(Bucket=b)["Policy"])["Statement"]) == 1

    res = CliRunner().invoke(app, ["policy", "--bucket", b, "--legacy-bucket-policy", "--apply"])
    assert res.exit_code == 0 and "bucket policy written" in res.stderr
    assert json.loads(s3_client.get_bucket_policy(Bucket=b)["Policy"]) == printed


def test_cli_legacy_two_buckets_prints_one_policy_per_bucket(s3_client: Any, endpoint_env: str) -> None:
    b = s3_client.test_bucket
    out = new_bucket(s3_client)
    res = CliRunner().invoke(app, ["policy", "--bucket", b, "--output-bucket", out, "--output-prefix", "r/",
                                   "--legacy-bucket-policy"])
    assert res.exit_code == 0
    docs = json.loads(res.stdout)
    assert set(docs) == {b, out}
    assert docs[out]["Statement"][1]["Resource"] == f"arn:aws:s3:::{out}/r/*"


def test_cli_apply_needs_legacy() -> None:
    res = CliRunner().invoke(app, ["policy", "--bucket", "b-ok", "--apply"])
    assert res.exit_code == 2 and "--legacy-bucket-policy" in res.output


def test_cli_check_against_a_missing_bucket(endpoint_env: str) -> None:
    res = CliRunner().invoke(app, ["policy", "--bucket", "mk-policy-nope", "--check"])
    assert res.exit_code == 1 and res.stderr.startswith("error: the bucket mk-policy-nope does not exist")
