"""S3 permissions for Rekognition Custom Labels: the identity policy a caller needs, a check of it with
harmless real requests, and the legacy service-principal bucket policy merged by ``Sid``.

Since August 2021 an SDK caller needs no bucket policy for ``rekognition.amazonaws.com``: Rekognition
checks S3 access against the caller's own identity (rekognition.md 3.1). The legacy bucket policy
(rekognition.md 3.2) is still offered for accounts that rely on it, and is merged into the bucket's
existing policy without dropping any other statement.
"""

from __future__ import annotations

import difflib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from .aws import aws_errors
from .errors import ManifestKitError
from .uris import parse_s3_uri

__all__ = [
    "Check",
    "LegacyPolicyPlan",
    "PolicyReport",
    "check_access",
    "identity_policy",
    "legacy_bucket_policy",
    "legacy_statements",
    "merge_statements",
    "policy",
]

POLICY_VERSION = "2012-10-17"
REKOGNITION = {"Service": "rekognition.amazonaws.com"}
MARKER_NAME = ".manifestkit-permission-check-"


@dataclass
class Check:
    """One probe of ``check_access``: the permission it exercises, the request, and whether it worked."""

    permission: str
    request: str
    ok: bool
    detail: str = ""
    required: bool = True
    code: str = ""  # the S3 error code of a failed probe


@dataclass
class LegacyPolicyPlan:
    """The legacy bucket policy for one bucket: the policy now, after the merge, and whether it was written."""

    bucket: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    applied: bool = False

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        """A unified diff of the bucket policy, before and after the merge ("" when unchanged)."""
        old = json.dumps(self.before, indent=2).splitlines() if self.before is not None else []
        new = json.dumps(self.after, indent=2).splitlines()
        label = f"s3://{self.bucket} bucket policy"
        return "\n".join(difflib.unified_diff(old, new, f"{label} (current)", f"{label} (merged)",
                                              lineterm=""))


@dataclass
class PolicyReport:
    """What :func:`policy` found: the identity policy, probes (if asked) and legacy plans (if asked)."""

    identity_policy: dict[str, Any]
    checks: list[Check] = field(default_factory=list)
    legacy: list[LegacyPolicyPlan] = field(default_factory=list)

    @property
    def missing(self) -> list[Check]:
        return [c for c in self.checks if not c.ok and c.required]


def _prefix(output_prefix: str | None) -> str:
    p = (output_prefix or "").lstrip("/")
    return p if not p or p.endswith("/") else p + "/"


def identity_policy(bucket: str, output_bucket: str | None = None, output_prefix: str | None = None
                    ) -> dict[str, Any]:
    """The IAM identity policy a caller needs to stage to ``bucket`` and train with output in ``output_bucket``.

    Datasets: list and locate the bucket, read its objects (Rekognition reads them as the caller) and
    write them (``stage``). Output: write under the prefix, where Rekognition puts evaluation results.
    """
    _check_bucket(bucket)
    statements: list[dict[str, Any]] = [
        {"Sid": "ManifestKitDatasetBucket", "Effect": "Allow",
         "Action": ["s3:GetBucketAcl", "s3:GetBucketLocation", "s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{bucket}"]},
        {"Sid": "ManifestKitDatasetObjects", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:GetObjectAcl", "s3:GetObjectTagging", "s3:GetObjectVersion",
                    "s3:PutObject"],
         "Resource": [f"arn:aws:s3:::{bucket}/*"]},
    ]
    if output_bucket or output_prefix:
        out = output_bucket or bucket
        _check_bucket(out)
        if out != bucket:
            statements.append({"Sid": "ManifestKitOutputBucket", "Effect": "Allow",
                               "Action": ["s3:GetBucketAcl", "s3:GetBucketLocation", "s3:ListBucket"],
                               "Resource": [f"arn:aws:s3:::{out}"]})
        if out != bucket or _prefix(output_prefix):
            statements.append({"Sid": "ManifestKitOutputObjects", "Effect": "Allow",
                               "Action": ["s3:GetObject", "s3:PutObject"],
                               "Resource": [f"arn:aws:s3:::{out}/{_prefix(output_prefix)}*"]})
    return {"Version": POLICY_VERSION, "Statement": statements}


def legacy_statements(bucket: str, output_bucket: str | None = None, output_prefix: str | None = None
                      ) -> dict[str, list[dict[str, Any]]]:
    """The pre-2021 service-principal statements of rekognition.md 3.2, per bucket they belong to."""
    _check_bucket(bucket)
    out: dict[str, list[dict[str, Any]]] = {bucket: [
        {"Sid": "AWSRekognitionS3AclBucketRead20191011", "Effect": "Allow", "Principal": REKOGNITION,
         "Action": ["s3:GetBucketAcl", "s3:GetBucketLocation"], "Resource": f"arn:aws:s3:::{bucket}"},
        {"Sid": "AWSRekognitionS3GetBucket20191011", "Effect": "Allow", "Principal": REKOGNITION,
         "Action": ["s3:GetObject", "s3:GetObjectAcl", "s3:GetObjectVersion", "s3:GetObjectTagging"],
         "Resource": f"arn:aws:s3:::{bucket}/*"},
    ]}
    if output_bucket or output_prefix:
        ob = output_bucket or bucket
        _check_bucket(ob)
        out.setdefault(ob, []).extend([
            {"Sid": "AWSRekognitionS3ACLBucketWrite20191011", "Effect": "Allow", "Principal": REKOGNITION,
             "Action": "s3:GetBucketAcl", "Resource": f"arn:aws:s3:::{ob}"},
            {"Sid": "AWSRekognitionS3PutObject20191011", "Effect": "Allow", "Principal": REKOGNITION,
             "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{ob}/{_prefix(output_prefix)}*",
             "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}},
        ])
    return out


def merge_statements(existing: dict[str, Any] | None, statements: list[dict[str, Any]]) -> dict[str, Any]:
    """``existing`` with each statement replaced by ``Sid`` or appended; every other statement is kept.

    Raises ManifestKitError when the existing policy is not a policy document.
    """
    if existing is None:
        return {"Version": POLICY_VERSION, "Statement": [dict(s) for s in statements]}
    if not isinstance(existing, dict):
        raise ManifestKitError("the bucket's current policy is not a JSON object; fix it by hand first")
    merged = dict(existing)
    current = existing.get("Statement", [])
    # A policy may hold a single statement object instead of a list.
    current = [current] if isinstance(current, dict) else list(current)
    by_sid = {s["Sid"]: s for s in statements}
    result: list[Any] = []
    for s in current:
        sid = s.get("Sid") if isinstance(s, dict) else None
        if sid in by_sid:
            result.append(dict(by_sid.pop(sid)))
        else:
            result.append(s)
    result.extend(dict(s) for s in statements if s["Sid"] in by_sid)
    merged.setdefault("Version", POLICY_VERSION)
    merged["Statement"] = result
    return merged


def legacy_bucket_policy(s3: Any, bucket: str, output_bucket: str | None = None,
                         output_prefix: str | None = None, *, apply: bool = False) -> list[LegacyPolicyPlan]:
    """Merge the legacy statements into each bucket's current policy; write it back only if ``apply``."""
    import botocore.exceptions as bex

    plans = []
    for b, statements in legacy_statements(bucket, output_bucket, output_prefix).items():
        try:
            text = s3.get_bucket_policy(Bucket=b)["Policy"]
            before: dict[str, Any] | None = json.loads(text)
        except bex.ClientError as e:
            if e.response.get("Error", {}).get("Code") != "NoSuchBucketPolicy":
                with aws_errors(f"reading the policy of bucket {b}"):
                    raise
            before = None
        except ValueError:
            raise ManifestKitError(f"the policy of bucket {b} is not valid JSON; fix it by hand first") from None
        plan = LegacyPolicyPlan(b, before, merge_statements(before, statements))
        if apply and plan.changed:
            with aws_errors(f"writing the policy of bucket {b}"):
                s3.put_bucket_policy(Bucket=b, Policy=json.dumps(plan.after))
            plan.applied = True
        plans.append(plan)
    return plans


def check_access(s3: Any, bucket: str, output_bucket: str | None = None, output_prefix: str | None = None
                 ) -> list[Check]:
    """Probe the caller's permissions with harmless requests; each :class:`Check` says what worked.

    Dataset bucket: HeadBucket and ListObjectsV2 (s3:ListBucket), GetBucketLocation, GetBucketAcl and,
    if the bucket holds an object, HeadObject (s3:GetObject). Output location: PutObject of an empty
    marker under the prefix, then DeleteObject of it (s3:DeleteObject is not needed for training; a
    failed delete is reported as a leftover marker, not as a missing permission).
    """
    import botocore.exceptions as bex

    _check_bucket(bucket)
    checks: list[Check] = []

    def probe(permission: str, request: str, fn: Any, required: bool = True) -> Any:
        try:
            value = fn()
        except bex.ClientError as e:
            err = e.response.get("Error", {})
            code = str(err.get("Code", "Unknown"))
            checks.append(Check(permission, request, False, f"{code}: {err.get('Message') or code}", required,
                                code))
            return None
        except bex.BotoCoreError as e:
            checks.append(Check(permission, request, False, str(e), required))
            return None
        checks.append(Check(permission, request, True, "", required))
        return value if value is not None else True

    buckets = [bucket]
    out = output_bucket or (bucket if output_prefix else None)
    if out and out != bucket:
        _check_bucket(out)
        buckets.append(out)
    for b in buckets:
        probe("s3:ListBucket", f"HeadBucket {b}", lambda b=b: s3.head_bucket(Bucket=b))
        if checks[-1].code in ("404", "NoSuchBucket", "NotFound"):
            raise ManifestKitError(f"the bucket {b} does not exist: check its name, or create it "
                                   "('manifestkit stage --create-bucket' does)")
        listing = probe("s3:ListBucket", f"ListObjectsV2 s3://{b}/",
                        lambda b=b: s3.list_objects_v2(Bucket=b, MaxKeys=1))
        probe("s3:GetBucketLocation", f"GetBucketLocation {b}", lambda b=b: s3.get_bucket_location(Bucket=b))
        probe("s3:GetBucketAcl", f"GetBucketAcl {b}", lambda b=b: s3.get_bucket_acl(Bucket=b))
        if b == bucket and isinstance(listing, dict) and listing.get("Contents"):
            key = listing["Contents"][0]["Key"]
            probe("s3:GetObject", f"HeadObject s3://{b}/{key}", lambda b=b, k=key: s3.head_object(Bucket=b, Key=k))
    if out:
        key = f"{_prefix(output_prefix)}{MARKER_NAME}{uuid.uuid4().hex}"
        put = probe("s3:PutObject", f"PutObject s3://{out}/{key}",
                    lambda: s3.put_object(Bucket=out, Key=key, Body=b""))
        if put is not None:
            probe("s3:DeleteObject", f"DeleteObject s3://{out}/{key}",
                  lambda: s3.delete_object(Bucket=out, Key=key), required=False)
    return checks


def policy(bucket: str, *, output_bucket: str | None = None, output_prefix: str | None = None,
           s3: Any = None, check: bool = False, legacy: bool = False,
           apply: bool = False) -> PolicyReport:
    """The ``manifestkit policy`` work in one call: identity policy, optional check and legacy merge.

    ``s3`` (a boto3 S3 client) is needed only for ``check`` and ``legacy``. Buckets may be given as
    names or ``s3://`` URIs; an ``s3://BUCKET/PREFIX/`` output prefix also names the output bucket.
    """
    if bucket.startswith("s3://"):
        bucket = parse_s3_uri(bucket)[0]
    if output_bucket and output_bucket.startswith("s3://"):
        output_bucket = parse_s3_uri(output_bucket)[0]
    if output_prefix and output_prefix.startswith("s3://"):
        ob, output_prefix = parse_s3_uri(output_prefix)
        output_bucket = output_bucket or ob
    report = PolicyReport(identity_policy(bucket, output_bucket, output_prefix))
    if (check or legacy) and s3 is None:
        raise ManifestKitError("an S3 client is needed to check permissions or read bucket policies")
    if apply and not legacy:
        raise ManifestKitError("apply only writes the legacy bucket policy: ask for it as well")
    if check:
        report.checks = check_access(s3, bucket, output_bucket, output_prefix)
    if legacy:
        report.legacy = legacy_bucket_policy(s3, bucket, output_bucket, output_prefix, apply=apply)
    return report


def _check_bucket(name: str) -> None:
    parse_s3_uri(f"s3://{name}/")
