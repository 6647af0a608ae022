"""Completing an upload writes its bytes at most once: a lone part or a direct upload is
moved to the blob's address (a rename on disk, a copy inside S3), several parts are put
together once; on S3 the put-together object is never read back through the server."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagehub.core.vcs import BlobId, BlobStore, blob_key
from imagehub.services import datasets, transport
from imagehub.services.platform import Platform
from tests.conftest import S3Storage
from tests.support.platforms import migrated_platform

CHUNK = 100_000


@pytest.fixture(params=["file", "s3"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    storage = request.getfixturevalue("s3_storage").settings if request.param == "s3" else {}
    with migrated_platform(tmp_path, **storage) as platform:
        with platform.sessions.begin() as session:
            datasets.create(session, owner="lab", name="scans", author="lab")
        yield platform


def s3_calls(platform: Platform) -> list[tuple[str, str]]:
    """The S3 operations the store makes from now on, with the key each names."""
    calls: list[tuple[str, str]] = []

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, str(params.get("Key", ""))))

    client: Any = getattr(platform.store, "_client", None)
    if client is not None:
        client.meta.events.register("before-parameter-build.s3", seen)
    return calls


def upload(platform: Platform, content: bytes, chunks: int) -> tuple[BlobId, str]:
    """An upload session holding ``content`` in ``chunks`` parts, not yet completed."""
    blob = BlobId(hashlib.sha256(content).hexdigest())
    with platform.sessions.begin() as session:
        dataset = datasets.get(session, owner="lab", name="scans")
        upload_id = transport.start_upload(
            session, dataset=dataset, blob=blob, size=len(content), actor="lab"
        ).id
        step = -(-len(content) // chunks)
        for offset in range(0, len(content), step):
            part = content[offset : offset + step]
            transport.append_chunk(
                session, platform, dataset=dataset, upload_id=upload_id, offset=offset, chunk=part
            )
    return blob, upload_id


def complete(platform: Platform, upload_id: str) -> BlobId:
    with platform.sessions.begin() as session:
        dataset = datasets.get(session, owner="lab", name="scans")
        return transport.complete_upload(session, platform, dataset=dataset, upload_id=upload_id)


def stored_right(platform: Platform, blob: BlobId) -> bool:
    return BlobStore(platform.store).verify(blob) and not list(platform.store.list("uploads/"))


@pytest.mark.parametrize("chunks", [1, 3])
def test_completion_writes_the_bytes_once_and_never_reads_them_back(platform: Platform, chunks: int) -> None:
    content = os.urandom(3 * CHUNK)
    blob, upload_id = upload(platform, content, chunks)
    calls = s3_calls(platform)
    assert complete(platform, upload_id) == blob
    reads = [key for op, key in calls if op == "GetObject"]
    assert sorted(reads) == sorted(set(reads))  # each part read once, for its hash
    assert not [key for key in reads if key.endswith("/assembled")]
    assert not [
        key for op, key in calls if key.endswith(blob_key(blob)) and op in ("PutObject", "UploadPart")
    ]


def test_a_lone_part_on_disk_becomes_the_blob_by_a_rename(tmp_path: Path) -> None:
    with migrated_platform(tmp_path) as platform:
        with platform.sessions.begin() as session:
            datasets.create(session, owner="lab", name="scans", author="lab")
        blob, upload_id = upload(platform, os.urandom(CHUNK), 1)
        part = next(platform.store.list("uploads/"))
        inode = (tmp_path / "objects" / part.key).stat().st_ino
        complete(platform, upload_id)
        assert (tmp_path / "objects" / blob_key(blob)).stat().st_ino == inode
        assert stored_right(platform, blob)


def test_a_direct_upload_to_s3_is_copied_inside_s3(tmp_path: Path, s3_storage: S3Storage) -> None:
    with migrated_platform(tmp_path, **s3_storage.settings) as platform:
        with platform.sessions.begin() as session:
            dataset = datasets.create(session, owner="lab", name="scans", author="lab")
            content = os.urandom(3 * CHUNK)
            blob = BlobId(hashlib.sha256(content).hexdigest())
            started = transport.start_upload(
                session, dataset=dataset, blob=blob, size=len(content), actor="lab"
            )
            url, upload_id = transport.direct_upload_url(platform, started), started.id
        assert url is not None
        assert httpx.put(url, content=content).status_code == 200
        calls = s3_calls(platform)
        assert complete(platform, upload_id) == blob
        assert [key for op, key in calls if op == "GetObject"] == [f"store/uploads/{upload_id}/direct"]
        assert ("CopyObject", f"store/{blob_key(blob)}") in calls
        assert not [op for op, _ in calls if op in ("PutObject", "CreateMultipartUpload")]
        assert stored_right(platform, blob)
