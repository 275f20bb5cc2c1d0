from __future__ import annotations

import pytest

from manifestkit.errors import ManifestKitError
from manifestkit.uris import normalize_prefix, parse_s3_uri, relative_key


def test_parse() -> None:
    assert parse_s3_uri("s3://my-bucket/a/b.jpg") == ("my-bucket", "a/b.jpg")
    assert parse_s3_uri("s3://my-bucket") == ("my-bucket", "")


@pytest.mark.parametrize("bad", ["S3://b/x", "https://bkt/x", "bkt/x", "s3://ab/x", "s3:///x", "s3://a b c/x"])
def test_parse_rejects(bad: str) -> None:
    with pytest.raises(ManifestKitError):
        parse_s3_uri(bad)


def test_normalize_prefix_makes_a_folder() -> None:
    assert normalize_prefix("s3://bkt/data") == "s3://bkt/data/"
    assert normalize_prefix("s3://bkt/data/") == "s3://bkt/data/"
    assert normalize_prefix("s3://bkt") == "s3://bkt/"


def test_relative_key() -> None:
    assert relative_key("s3://bkt/p/a/b.jpg", "s3://bkt/p/") == "a/b.jpg"
    assert relative_key("s3://bkt/q/a.jpg", "s3://bkt/p/") is None
    assert relative_key("s3://bkt/q/a.jpg", None) == "q/a.jpg"
    assert relative_key("file.jpg", None) is None
