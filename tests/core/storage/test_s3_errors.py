"""What the S3 driver says when the bucket itself is the problem (moto on loopback)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import IncompleteReadError

from imagehub.core.config import Settings
from imagehub.core.storage import ObjectNotFound, StorageError, open_store
from imagehub.core.storage import s3 as s3_driver
from tests.conftest import S3_CREDENTIALS


def test_a_missing_bucket_is_a_storage_error_not_a_missing_object(s3_settings: Settings) -> None:
    store = open_store(f"s3://gone-{uuid.uuid4().hex[:10]}/store", s3_settings)
    with pytest.raises(StorageError, match="does not exist") as raised:
        store.stat("blobs/aa/bb/x")
    assert not isinstance(raised.value, ObjectNotFound)
    with pytest.raises(StorageError, match="does not exist"):
        store.exists("blobs/aa/bb/x")


def test_a_bucket_deleted_while_the_server_runs_is_noticed(
    s3_settings: Settings, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = f"brief-{uuid.uuid4().hex[:10]}"
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1", **S3_CREDENTIALS)
    client.create_bucket(Bucket=bucket)
    store = open_store(f"s3://{bucket}/store", s3_settings)
    assert store.exists("blobs/aa/bb/x") is False  # the bucket answered that it exists
    client.delete_bucket(Bucket=bucket)
    monkeypatch.setattr(s3_driver, "BUCKET_RECHECK_S", 0.0)  # as a minute later
    with pytest.raises(StorageError, match="does not exist"):
        store.exists("blobs/aa/bb/x")


def test_a_missing_key_in_a_bucket_that_exists_is_not_found(s3_settings: Settings, s3_bucket: str) -> None:
    store = open_store(f"s3://{s3_bucket}/store", s3_settings)
    assert store.exists("blobs/aa/bb/x") is False
    with pytest.raises(ObjectNotFound):
        store.stat("blobs/aa/bb/x")


def test_a_body_cut_off_part_way_is_a_storage_error(
    s3_settings: Settings, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(f"s3://{s3_bucket}/store", s3_settings)
    store.put("big", b"x" * (3 * 1024 * 1024))
    client = store._client  # type: ignore[attr-defined]
    real_get = client.get_object

    def cut_short(**request: Any) -> dict[str, Any]:
        response = real_get(**request)
        chunks = response["Body"].iter_chunks

        def first_then_drop(size: int) -> Iterator[bytes]:
            yield next(chunks(size))
            raise IncompleteReadError(actual_bytes=size, expected_bytes=3 * 1024 * 1024)

        response["Body"].iter_chunks = first_then_drop
        return response  # type: ignore[no-any-return]

    monkeypatch.setattr(client, "get_object", cut_short)
    with pytest.raises(StorageError, match="S3 unreachable"):
        b"".join(store.get("big"))
