"""The S3 website endpoint of the redirect bucket, played over the emulator's bucket.

What the local short domain passes requests on to, as CloudFront passes them to
`<bucket>.s3-website-<region>.amazonaws.com`. It answers as that endpoint does:

* access: every request is anonymous, so it is allowed only by the bucket policy
  (data.yaml's, applied by local/bootstrap.py). Its `aws:Referer` condition is evaluated
  here, since the emulator does not enforce bucket policies: without the secret Referer
  CloudFront adds, the answer is 403, as S3 answers a request sent straight to it.
* keys: the path is percent-decoded once and exactly one leading slash dropped, so
  `/%2Fabc` and `//abc` ask for the key `/abc`, and `/%252Fabc` for `%2Fabc`: none of them
  is the object `abc`, which only `/abc` (or an escape of its letters) reaches.
* an object's WebsiteRedirectLocation -> 301; a missing object -> the error document, 404.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from infra import resources

FORBIDDEN_PAGE = b"<html><body><h1>403 Forbidden</h1><p>Code: AccessDenied</p></body></html>\n"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def object_key(path: str) -> str:
    """The key the website endpoint looks up for a request path (query already removed)."""
    decoded = unquote(path)
    key = decoded[1:] if decoded.startswith("/") else decoded
    if key == "" or key.endswith("/"):
        return key + resources.WEBSITE_INDEX_DOCUMENT
    return key


def _values(condition: Any) -> list[str]:
    return [str(v) for v in condition] if isinstance(condition, list) else [str(condition)]


def _condition_holds(conditions: Mapping[str, Mapping[str, Any]], referer: str | None) -> bool:
    for operator, keys in conditions.items():
        for key, wanted in keys.items():
            if key.lower() != "aws:referer" or referer is None:
                return False  # a key the request does not carry never matches
            if operator == "StringEquals" and referer not in _values(wanted):
                return False
            if operator == "StringLike" and not any(
                fnmatch.fnmatchcase(referer, pattern) for pattern in _values(wanted)
            ):
                return False
            if operator not in ("StringEquals", "StringLike"):
                return False
    return True


def anonymous_read_allowed(policy: Mapping[str, Any], bucket: str, key: str,
                           referer: str | None) -> bool:
    """Whether `policy` lets an anonymous s3:GetObject of `key` through (Deny wins)."""
    resource = f"arn:aws:s3:::{bucket}/{key}"
    allowed = False
    for statement in policy.get("Statement", []):
        principal = statement.get("Principal")
        if principal not in ("*", {"AWS": "*"}):
            continue
        actions = _values(statement.get("Action", []))
        if not any(fnmatch.fnmatchcase("s3:GetObject", action) for action in actions):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _values(statement.get("Resource"))):
            continue
        if not _condition_holds(statement.get("Condition", {}), referer):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


class S3Website:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def policy(self) -> dict[str, Any]:
        try:
            text = self.s3.get_bucket_policy(Bucket=self.bucket)["Policy"]
        except self.s3.exceptions.ClientError:
            return {}  # no policy: nothing is public
        return dict(json.loads(text))

    def get(self, path: str, headers: Mapping[str, str]) -> Answer:
        key = object_key(path)
        referer = next((v for k, v in headers.items() if k.lower() == "referer"), None)
        if not anonymous_read_allowed(self.policy(), self.bucket, key, referer):
            return Answer(403, {"Content-Type": "text/html; charset=utf-8"}, FORBIDDEN_PAGE)
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "403"):
                raise
            page = self.s3.get_object(Bucket=self.bucket, Key=resources.WEBSITE_ERROR_DOCUMENT)
            return Answer(404, {"Content-Type": "text/html; charset=utf-8"}, page["Body"].read())
        location = head.get("WebsiteRedirectLocation")
        if location:
            return Answer(301, {"Location": location}, b"")
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        content_type = head.get("ContentType", "application/octet-stream")
        return Answer(200, {"Content-Type": content_type}, body)
