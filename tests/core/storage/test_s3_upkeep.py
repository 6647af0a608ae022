"""What writers that died leave in S3 (moto on loopback): multipart uploads never finished."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest

from imagehub.core.config import Settings
from imagehub.core.storage import open_store
from imagehub.core.storage import s3 as s3_driver
from imagehub.services.maintenance import KEY_SPACES
from tests.conftest import S3_CREDENTIALS


def test_multipart_uploads_left_unfinished_are_aborted_once_stale(
    s3_settings: Settings, s3_bucket: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(f"s3://{s3_bucket}/store", s3_settings)
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1", **S3_CREDENTIALS)
    for key in ("store/blobs/aa/bb/killed", "elsewhere/not-ours"):
        client.create_multipart_upload(Bucket=s3_bucket, Key=key)
    # moto dates every upload 2010: a century of grace keeps it, as a day keeps a live writer's
    monkeypatch.setattr(s3_driver, "STALE_UPLOAD", timedelta(days=36_500))
    assert store.sweep_unfinished() == 0
    monkeypatch.setattr(s3_driver, "STALE_UPLOAD", timedelta(days=1))
    assert store.sweep_unfinished() == 1
    left = client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
    assert [u["Key"] for u in left] == ["elsewhere/not-ours"]  # outside the store's prefix


def test_a_store_owning_the_whole_bucket_aborts_only_its_own_uploads(
    s3_settings: Settings, s3_bucket: str, moto_endpoint: str
) -> None:
    store = open_store(f"s3://{s3_bucket}", s3_settings)
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1", **S3_CREDENTIALS)
    for key in ("blobs/aa/bb/killed", "derived/volumes/killed.nii.gz", "backups/pacs-export.tar"):
        client.create_multipart_upload(Bucket=s3_bucket, Key=key)  # moto dates them 2010: stale
    assert store.sweep_unfinished(under=KEY_SPACES) == 2
    left = client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
    assert [u["Key"] for u in left] == ["backups/pacs-export.tar"]  # another application's
