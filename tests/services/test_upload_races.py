"""Upload sessions under racing clients (PostgreSQL): one session per blob, and completions
that land together both succeed."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from imagehub.core.vcs import BlobId, BlobStore
from imagehub.models.transport import UploadSession
from imagehub.models.vcs import SqlBlobIndex
from imagehub.services import datasets, transport
from imagehub.services.platform import Platform
from tests.support.platforms import migrated_platform
from tests.support.postgres import fresh_database
from tests.support.races import race

CONTENT = os.urandom(300_000)
BLOB = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def pg_platform(tmp_path: Path) -> Iterator[Platform]:
    with fresh_database("up") as url, migrated_platform(tmp_path, url) as platform:
        with platform.sessions.begin() as session:
            datasets.create(session, owner="lab", name="race", author="lab")
        yield platform


def start(session: Session) -> str:
    dataset = datasets.get(session, owner="lab", name="race")
    return transport.start_upload(session, dataset=dataset, blob=BLOB, size=len(CONTENT), actor="lab").id


def complete(platform: Platform, upload_id: str) -> object:
    def step(session: Session) -> object:
        dataset = datasets.get(session, owner="lab", name="race")
        return transport.complete_upload(session, platform, dataset=dataset, upload_id=upload_id)

    return step


def test_two_clients_starting_one_upload_at_once_share_one_session(pg_platform: Platform) -> None:
    started, errors = race(pg_platform, {"first": start, "second": start})
    assert errors == []
    assert started["first"] == started["second"]
    with pg_platform.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(UploadSession)) == 1


def test_two_completions_landing_together_both_succeed(pg_platform: Platform) -> None:
    with pg_platform.sessions.begin() as session:
        upload_id = start(session)
        dataset = datasets.get(session, owner="lab", name="race")
        for offset in range(0, len(CONTENT), 100_000):
            chunk = CONTENT[offset : offset + 100_000]
            transport.append_chunk(
                session, pg_platform, dataset=dataset, upload_id=upload_id, offset=offset, chunk=chunk
            )
    done, errors = race(
        pg_platform, {"first": complete(pg_platform, upload_id), "again": complete(pg_platform, upload_id)}
    )
    assert errors == []
    assert done == {"first": BLOB, "again": BLOB}
    with pg_platform.sessions.begin() as session:
        assert not SqlBlobIndex(session).missing([BlobId(BLOB)])
    assert BlobStore(pg_platform.store).verify(BlobId(BLOB))
    assert not list(pg_platform.store.list("uploads/"))  # the parts went once, whole
    with pg_platform.sessions.begin() as session:  # started again, the blob stored: the same answer
        assert (
            transport.complete_upload(
                session,
                pg_platform,
                dataset=datasets.get(session, owner="lab", name="race"),
                upload_id=upload_id,
            )
            == BLOB
        )
