"""S3 driver (AWS, MinIO, any S3-compatible endpoint) over boto3.

Large bodies go up as multipart uploads in bounded parts; ranged reads map onto
HTTP Range requests, so neither direction holds a whole object in memory.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from imagehub.core.redact import masked_url
from imagehub.core.storage.base import (
    CHUNK_SIZE,
    ImmediateBatch,
    ObjectInfo,
    ObjectNotFound,
    Source,
    StorageError,
    iter_source,
    validate_key,
    validate_prefix,
)
from imagehub.core.storage.reader import ranged_reader

MULTIPART_THRESHOLD = 16 * 1024 * 1024
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
# A presigned PUT lets its holder store any Content-Type with the bytes; downloads say what
# S3 must answer instead, so a stored page is never shown by a browser that follows the URL.
DOWNLOAD_ONLY = {
    "ResponseContentType": "application/octet-stream",
    "ResponseContentDisposition": "attachment",
}
BUCKET_RECHECK_S = 60.0  # how long an answer that the bucket exists is trusted
STALE_UPLOAD = timedelta(days=1)  # a multipart upload begun this long ago belongs to a writer that died


class _ChunkReader:
    """File-like view over an iterator of chunks, for boto3's upload_fileobj."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer.extend(chunk)
        if size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


class S3Store:
    """Objects under ``s3://bucket/prefix``."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self._bucket_seen_at = -BUCKET_RECHECK_S  # monotonic time of the last answer that it exists
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,  # None: boto3's own chain (AWS_DEFAULT_REGION, ~/.aws/config)
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            # botocore waits 60 s per read over 5 tries: a silent endpoint held each call ~6 min
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"},
                signature_version="s3v4",
                connect_timeout=10,
                read_timeout=30,
            ),
        )
        self._transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_THRESHOLD,
            max_concurrency=4,
        )

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def batch(self) -> AbstractContextManager[ImmediateBatch]:
        return nullcontext(ImmediateBatch(self))  # a completed PUT is already durable

    def put(self, key: str, source: Source) -> ObjectInfo:
        body = _ChunkReader(iter_source(source))
        with _errors(key):
            self._client.upload_fileobj(body, self.bucket, self._key(key), Config=self._transfer)
        return self.stat(key)

    def open(self, key: str, size: int) -> BinaryIO:
        return ranged_reader(self, key, size)

    def get(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if end is not None and end <= start:
            return iter(())
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if start or end is not None:
            request["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        with _errors(key):
            try:
                response = self._client.get_object(**request)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                    return iter(())
                raise
        return _translated(key, response["Body"].iter_chunks(CHUNK_SIZE))

    def stat(self, key: str) -> ObjectInfo:
        try:
            with _errors(key):
                head = self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ObjectNotFound:
            self._require_bucket()
            raise
        return ObjectInfo(key=key, size=head["ContentLength"], modified=head.get("LastModified"))

    def _require_bucket(self) -> None:
        """A HEAD answers a bare 404 for a missing bucket as for a missing key: asked at
        most once a minute, so that a bucket that is gone (even one deleted while the server
        runs) reads as a storage error, never as every object lost."""
        if time.monotonic() - self._bucket_seen_at < BUCKET_RECHECK_S:
            return
        with _errors(""):
            try:
                self._client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code", "")) in _NOT_FOUND_CODES:
                    raise StorageError(f"S3 bucket {self.bucket!r} does not exist") from exc
                raise
        self._bucket_seen_at = time.monotonic()

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectNotFound:
            return False
        return True

    def sizes(self, keys: Iterable[str]) -> dict[str, int] | None:
        """None: a HEAD per key would cost a request per file of every push or ingest."""
        return None

    def refresh(self, key: str) -> ObjectInfo | None:
        """S3 keeps no touch: the object is copied onto itself, which gives it a new time."""
        source = {"Bucket": self.bucket, "Key": self._key(key)}
        try:
            with _errors(key):
                self._client.copy_object(
                    Bucket=self.bucket, Key=self._key(key), CopySource=source, MetadataDirective="REPLACE"
                )
        except ObjectNotFound:
            return None
        return self.stat(key)

    def move(self, source: str, key: str) -> ObjectInfo:
        """S3 has no rename: a copy inside S3 (boto3's managed copy, in parts above the multipart
        threshold, as one CopyObject may not exceed 5 GB), then ``source`` deleted."""
        with _errors(source):
            self._client.copy(
                {"Bucket": self.bucket, "Key": self._key(source)},
                self.bucket,
                self._key(key),
                Config=self._transfer,
            )
        self.delete(source)
        return self.stat(key)

    def delete(self, key: str) -> None:
        with _errors(key):
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        with _errors(prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        key=item["Key"][len(self.prefix) :],
                        size=item["Size"],
                        modified=item.get("LastModified"),
                    )

    def presign(self, key: str, expires_in: int = 3600) -> str:
        self.stat(key)
        with _errors(key):
            return self._client.generate_presigned_url(  # type: ignore[no-any-return]
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._key(key), **DOWNLOAD_ONLY},
                ExpiresIn=expires_in,
            )

    def sweep_unfinished(self, under: Sequence[str] = ("",)) -> int:
        """Abort multipart uploads begun days ago under this store's prefix and ``under``: a
        writer killed part way leaves its parts stored, billed and never listed."""
        cutoff, swept = datetime.now(UTC) - STALE_UPLOAD, 0
        for prefix in (self.prefix + key for key in under):
            with _errors(prefix):
                pages = self._client.get_paginator("list_multipart_uploads").paginate(
                    Bucket=self.bucket, Prefix=prefix
                )
                for page in pages:
                    for upload in page.get("Uploads", []):
                        if upload["Initiated"] < cutoff:
                            self._client.abort_multipart_upload(
                                Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                            )
                            swept += 1
        return swept

    def presign_upload(self, key: str, expires_in: int = 3600) -> str | None:
        with _errors(key):
            return self._client.generate_presigned_url(  # type: ignore[no-any-return]
                "put_object",
                Params={"Bucket": self.bucket, "Key": self._key(key)},
                ExpiresIn=expires_in,
            )


def _translated(key: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The body's chunks; a connection that drops part way is a storage error too, not a
    botocore one that callers would take for damaged bytes."""
    with _errors(key):
        yield from chunks


@contextmanager
def _errors(key: str) -> Iterator[None]:
    """Translate boto errors into StorageError / ObjectNotFound with the key named."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND_CODES:
            raise ObjectNotFound(f"no object {key!r}") from exc
        raise StorageError(f"S3 error on {key!r}: {code or exc}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"S3 unreachable: {masked_url(str(exc))}") from exc
