"""With S3 storage, large files travel straight between the client and S3 (moto on loopback)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from imagehub.sdk.client import Client, RemoteDataset
from imagehub.sdk.http import RemoteError, RemoteInvalid
from imagehub.sdk.objects import ObjectCache
from imagehub.sdk.parallel import Stopped, check_stop, transfer_pool
from imagehub.sdk.workcopy import WorkingCopy
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.conftest import S3Storage
from tests.support.accounts import make_user
from tests.support.live_server import live_server
from tests.support.platforms import migrated_platform
from tests.support.ports import free_port


def counting(app: FastAPI, seen: list[str]) -> FastAPI:
    """``app``, noting each request's method and path in ``seen``."""

    @app.middleware("http")
    async def count(request, call_next):  # type: ignore[no-untyped-def]
        seen.append(f"{request.method} {request.url.path}")
        return await call_next(request)

    return app


def test_large_files_go_directly_to_and_from_s3(
    tmp_path: Path, database_url: str, s3_storage: S3Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    with migrated_platform(tmp_path / "server", database_url, **s3_storage.settings) as platform:
        run_direct_transfers(platform, s3_storage.client, s3_storage.bucket, tmp_path, monkeypatch)


def run_direct_transfers(
    platform: Platform, s3: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = make_user(platform, "lab")
    monkeypatch.setenv("IMAGEHUB_TOKEN", token)
    monkeypatch.setenv("IMAGEHUB_CACHE_DIR", str(tmp_path / "cache"))
    requests_seen: list[str] = []

    app = counting(create_app(platform), requests_seen)

    with live_server(app) as url:
        client = Client(url, token, cache=ObjectCache(tmp_path / "cache"))
        client.create_dataset("lab/ct")
        copy = WorkingCopy.clone(url, "lab/ct", tmp_path / "wc")
        big = os.urandom(12 * 1024 * 1024)
        (tmp_path / "wc" / "volume.dcm").write_bytes(big)
        copy.add(["."])
        copy.commit("a large volume")
        copy.push()
        assert not [
            r for r in requests_seen if r.startswith("PUT") and "/uploads/" in r
        ]  # no chunk via the API
        blob = hashlib.sha256(big).hexdigest()
        stored = s3.get_object(Bucket=bucket, Key=f"store/blobs/{blob[:2]}/{blob[2:4]}/{blob}")["Body"].read()
        assert stored == big
        assert s3.list_objects_v2(Bucket=bucket, Prefix="store/uploads/").get("KeyCount", 0) == 0

        requests_seen.clear()
        monkeypatch.setenv("IMAGEHUB_CACHE_DIR", str(tmp_path / "other-cache"))
        WorkingCopy.clone(url, "lab/ct", tmp_path / "again")
        assert (tmp_path / "again" / "volume.dcm").read_bytes() == big
        assert not [r for r in requests_seen if "/objects/content" in r]  # fetched from S3 directly
        assert [r for r in requests_seen if "/objects/url" in r]

        remote = client.dataset("lab/ct")
        liar = os.urandom(9 * 1024 * 1024)
        claimed = hashlib.sha256(b"something else").hexdigest()
        upload_id, direct = remote.start_upload(claimed, len(liar))
        assert direct is not None
        assert httpx.put(direct, content=liar).status_code == 200
        with pytest.raises(RemoteInvalid, match="hash"):
            remote.api.json("POST", f"{remote.base}/uploads/{upload_id}/complete")
        assert remote.missing([claimed]) == {claimed}  # nothing unverified became a blob


@dataclass(frozen=True)
class DirectServer:
    """A live server storing in S3, its dataset lab/ct, and the requests it saw."""

    dataset: RemoteDataset
    seen: list[str]
    tmp: Path

    def start(self, content: bytes) -> tuple[Path, str, str]:
        """A local file of ``content`` and an upload session for it: (file, session id, direct URL)."""
        path = self.tmp / "volume.dcm"
        path.write_bytes(content)
        upload_id, direct = self.dataset.start_upload(hashlib.sha256(content).hexdigest(), len(content))
        assert upload_id is not None
        assert direct is not None
        return path, upload_id, direct


@pytest.fixture
def direct(tmp_path: Path, database_url: str, s3_storage: S3Storage) -> Iterator[DirectServer]:
    with migrated_platform(tmp_path / "server", database_url, **s3_storage.settings) as platform:
        token = make_user(platform, "lab")
        seen: list[str] = []
        with live_server(counting(create_app(platform), seen)) as url:
            client = Client(url, token, cache=ObjectCache(tmp_path / "cache"))
            client.create_dataset("lab/ct")
            yield DirectServer(client.dataset("lab/ct"), seen, tmp_path)


def test_unreachable_storage_is_one_error_that_shows_no_signature(direct: DirectServer) -> None:
    content = os.urandom(9 * 1024 * 1024)
    path, upload_id, url = direct.start(content)
    down = str(httpx.URL(url).copy_with(port=free_port()))
    with pytest.raises(RemoteError, match="cannot reach") as refused:
        direct.dataset.put_direct(path, down, upload_id)
    message = str(refused.value)
    assert httpx.URL(down).path in message
    assert "?" not in message
    assert "Signature" not in message
    assert direct.dataset.missing([hashlib.sha256(content).hexdigest()])


def test_ctrl_c_stops_a_direct_upload_part_way_and_never_completes_it(direct: DirectServer) -> None:
    content = os.urandom(12 * 1024 * 1024)
    path, upload_id, url = direct.start(content)
    started = threading.Event()
    sent: list[int] = []

    def progress(size: int) -> None:
        """The first chunk is out: wait until the command is stopping (Ctrl-C below)."""
        sent.append(size)
        started.set()
        for _ in range(1000):
            try:
                check_stop()
            except Stopped:
                return
            threading.Event().wait(0.01)

    def ctrl_c() -> None:
        with transfer_pool(1) as pool:
            upload = pool.submit(direct.dataset.put_direct, path, url, upload_id, progress)
            assert started.wait(30)
            raise KeyboardInterrupt(upload)

    with pytest.raises(KeyboardInterrupt) as stopped:
        ctrl_c()
    upload = stopped.value.args[0]
    assert isinstance(upload.exception(), Stopped)
    assert sum(sent) < len(content)
    assert not [r for r in direct.seen if r.endswith("/complete")]
    assert direct.dataset.missing([hashlib.sha256(content).hexdigest()])


def test_a_direct_upload_stored_whole_is_completed_without_sending_it_again(direct: DirectServer) -> None:
    """The PUT ended, its completion did not (the command was killed): the next push only completes."""
    content = os.urandom(9 * 1024 * 1024)
    path, upload_id, url = direct.start(content)
    assert httpx.put(url, content=content).status_code == 200
    again, fresh = direct.dataset.start_upload(hashlib.sha256(content).hexdigest(), len(content))
    assert again == upload_id
    assert fresh is not None
    unreachable = str(httpx.URL(fresh).copy_with(port=free_port()))  # no PUT could succeed
    direct.dataset.put_direct(path, unreachable, upload_id)
    assert not direct.dataset.missing([hashlib.sha256(content).hexdigest()])
