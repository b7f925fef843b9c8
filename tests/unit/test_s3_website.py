"""The local S3 website stand-in: which key a path asks for, and what the bucket policy lets
an anonymous request read (the data template's own policy, resolved)."""

from __future__ import annotations

import pytest

from infra import resources
from local.s3_website import anonymous_read_allowed, object_key

SECRET = "s" * 43
OLD = "o" * 43


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/abc", "abc"),
        ("/%61bc", "abc"),  # S3 decodes once: an escaped letter is the letter
        ("/%2Fabc", "/abc"),  # one leading slash is dropped, the escaped one stays
        ("//abc", "/abc"),
        ("/%252Fabc", "%2Fabc"),  # decoded once only
        ("/abc/", "abc/index.html"),
        ("/", "index.html"),
    ],
)
def test_the_website_endpoint_decodes_a_path_once_and_drops_one_slash(path, key):
    assert object_key(path) == key


def policy(current: str = SECRET, previous: str = SECRET) -> dict:
    return resources.redirect_bucket_policy(
        "bucket", {"OriginSecret": current, "PreviousOriginSecret": previous}
    )


def test_the_template_policy_lets_only_the_origin_secret_read():
    assert anonymous_read_allowed(policy(), "bucket", "abc", SECRET)
    assert not anonymous_read_allowed(policy(), "bucket", "abc", None)
    assert not anonymous_read_allowed(policy(), "bucket", "abc", "")
    assert not anonymous_read_allowed(policy(), "bucket", "abc", SECRET + "x")
    assert not anonymous_read_allowed(policy(), "bucket", "abc", "https://go.example.com/abc")
    assert not anonymous_read_allowed(policy(), "other", "abc", SECRET)


def test_during_a_rotation_both_values_read():
    rotating = policy(current=SECRET, previous=OLD)
    assert anonymous_read_allowed(rotating, "bucket", "abc", SECRET)
    assert anonymous_read_allowed(rotating, "bucket", "abc", OLD)
    assert not anonymous_read_allowed(policy(), "bucket", "abc", OLD)


def test_no_policy_or_a_deny_reads_nothing():
    assert not anonymous_read_allowed({}, "bucket", "abc", SECRET)
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": "arn:aws:s3:::bucket/*"}
    denied = {"Statement": [*policy()["Statement"], deny]}
    assert not anonymous_read_allowed(denied, "bucket", "abc", SECRET)
