"""S3 writes that happen at most once per key: the archive's exactly-once rests on them.

`put_once` is a conditional PUT (`If-None-Match: *`): S3 stores the object only if the key holds
none, and answers 412 Precondition Failed otherwise, so two archivers racing for the same hour, or
a restarted one redoing it, can never replace an object — the first write wins and stays. (Both
AWS S3, since August 2024, and moto's server honour it; the integration tests run against moto.)
A 409 ConditionalRequestConflict (another conditional write of the key in flight) is resolved by
looking: if the object is there it was written once, by someone else.
"""

from __future__ import annotations

from typing import Any

import orjson
from botocore.exceptions import ClientError

_EXISTS = frozenset(("PreconditionFailed", "412"))
_CONFLICT = frozenset(("ConditionalRequestConflict", "409"))
_MISSING = frozenset(("NoSuchKey", "404", "NotFound"))


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class ArchiveStore:
    """One S3 bucket through a boto3 S3 client (sync; what a Lambda handler uses)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (development; in AWS it is provisioned)."""
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) not in _MISSING:
                raise
            self.s3.create_bucket(Bucket=self.bucket)

    def put_once(self, key: str, body: bytes, *, content_type: str) -> bool:
        """Store `body` under `key` unless an object is there; True if this call stored it."""
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                IfNoneMatch="*",
            )
        except ClientError as exc:
            code = _code(exc)
            if code in _EXISTS:
                return False
            if code in _CONFLICT and self.exists(key):
                return False
            raise
        return True

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise
        return True

    def read_json(self, key: str) -> Any:
        """The JSON document under `key`, None if there is none."""
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        return orjson.loads(response["Body"].read())

    def write_json(self, key: str, value: Any) -> None:
        """Store a JSON document, replacing what is there (only the high-water mark does)."""
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=orjson.dumps(value),
            ContentType="application/json",
        )
