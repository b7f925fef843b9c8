"""The redirect objects in the bucket: one empty object per live code whose
WebsiteRedirectLocation is the link's URL, so S3 (and the edge's fail-open path) answers
a 301 without any code of ours running."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.core.aws import error_code

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

# Bounds how long a cached S3 301 can outlive its link: the sweeper's own 5 minutes.
REDIRECT_CACHE_CONTROL = "public, max-age=300"
DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys


class Redirects:
    """Put, delete and look up the redirect objects of codes. Handed its client."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def put(self, code: str, long_url: str) -> None:
        """Idempotent: the object named by the code answers a 301 to long_url."""
        self._s3.put_object(
            Bucket=self._bucket,
            Key=code,
            Body=b"",
            WebsiteRedirectLocation=long_url,
            CacheControl=REDIRECT_CACHE_CONTROL,
            ContentType="text/html",
        )

    def delete(self, code: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=code)

    def delete_many(self, codes: list[str]) -> None:
        """Idempotent: deleting an object that is already gone succeeds."""
        for start in range(0, len(codes), DELETE_BATCH):
            chunk = codes[start : start + DELETE_BATCH]
            if len(chunk) == 1:
                self.delete(chunk[0])
                continue
            answer = self._s3.delete_objects(
                Bucket=self._bucket,
                Delete={"Objects": [{"Key": c} for c in chunk], "Quiet": True},
            )
            if answer.get("Errors"):
                # Raise so the stream batch is retried; deletes are idempotent.
                raise RuntimeError(
                    f"S3 refused {len(answer['Errors'])} deletes: {answer['Errors'][:3]}"
                )

    def exists(self, code: str) -> bool:
        try:
            self._s3.head_object(Bucket=self._bucket, Key=code)
        except ClientError as error:
            if error_code(error) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True
