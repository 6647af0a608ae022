"""Writers sharing blobs on PostgreSQL queue behind one another; none is aborted as a deadlock.

A commit refreshes every blob it names, in batches; two large commits that share blobs
split them at different batch boundaries. The batches are shrunk here so that a few
thousand rows behave as a few hundred thousand would.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import imagehub.models.vcs as vcs_models
from imagehub.core.vcs import BlobId
from imagehub.models import upsert as upsert_module
from imagehub.models.base import utcnow
from imagehub.models.vcs import BlobRow, SqlBlobIndex, sweep_blobs
from imagehub.services import blobs
from imagehub.services.platform import Platform
from tests.support.platforms import migrated_platform
from tests.support.postgres import fresh_database
from tests.support.races import race as _race

BLOBS = 6000
ROUNDS = 12


@pytest.fixture
def pg_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    monkeypatch.setattr(vcs_models, "PG_ID_BATCH", 300)
    monkeypatch.setattr(upsert_module, "UPSERT_CHUNK", 300)
    with fresh_database("lock") as url, migrated_platform(tmp_path, url) as platform:
        yield platform


def _ids(count: int) -> list[BlobId]:
    return sorted(BlobId(hashlib.sha256(b"%d" % i).hexdigest()) for i in range(count))


def test_overlapping_touches_never_deadlock(pg_platform: Platform) -> None:
    ids = _ids(BLOBS)
    with pg_platform.sessions.begin() as session:
        SqlBlobIndex(session).register([(b, 1) for b in ids])
        before = dict(session.execute(select(BlobRow.id, BlobRow.touched_at)).tuples().all())
    stranger = BlobId("f" * 64)
    for _ in range(ROUNDS):
        results, errors = _race(
            pg_platform,
            {
                "all": lambda s: SqlBlobIndex(s).touch(ids),
                # the same rows, cut at batch boundaries half a batch away
                "shifted": lambda s: SqlBlobIndex(s).touch([*ids[150:], stranger]),
            },
        )
        assert errors == []
        assert results == {"all": dict.fromkeys(ids, 1), "shifted": dict.fromkeys(ids[150:], 1)}
    with pg_platform.sessions() as session:
        after = dict(session.execute(select(BlobRow.id, BlobRow.touched_at)).tuples().all())
    assert after.keys() == before.keys()
    assert all(after[b] >= before[b] for b in ids)


def test_overlapping_registrations_never_deadlock(pg_platform: Platform) -> None:
    ids = _ids(BLOBS)
    for _ in range(ROUNDS // 2):
        _, errors = _race(
            pg_platform,
            {
                "all": lambda s: SqlBlobIndex(s).register([(b, 7) for b in ids]),
                "reversed": lambda s: SqlBlobIndex(s).register([(b, 7) for b in reversed(ids[150:])]),
            },
        )
        assert errors == []
    with pg_platform.sessions() as session:
        sizes = set(session.scalars(select(BlobRow.size)))
        assert session.query(BlobRow).count() == BLOBS
    assert sizes == {7}


def test_gc_sweeping_blobs_a_commit_refreshes_never_deadlocks(pg_platform: Platform) -> None:
    ids = _ids(BLOBS // 2)
    shuffled = random.Random(7).sample(ids, len(ids))
    for _ in range(ROUNDS):
        for start in range(0, len(shuffled), 200):  # table order unlike id order, as rows arrive over time
            with pg_platform.sessions.begin() as session:
                SqlBlobIndex(session).register([(b, 1) for b in shuffled[start : start + 200]])
        later = utcnow() + timedelta(hours=1)  # every row is stale, refreshed or not
        results, errors = _race(
            pg_platform,
            {
                "commit": lambda s: SqlBlobIndex(s).touch(ids[150:]),
                "gc": lambda s: sweep_blobs(s, keep=set(), cutoff=later),  # noqa: B023 - run in this round
            },
        )
        assert errors == []
        swept = set(cast(list[BlobId], results["gc"]))
        with pg_platform.sessions() as session:
            left = set(session.scalars(select(BlobRow.id)))
        assert swept | left == set(ids)
        assert not swept & left
        assert left <= set(ids[150:])  # gc passes over only rows the commit holds, never waits for them


def test_uploads_of_the_same_blobs_in_other_orders_never_deadlock(pg_platform: Platform) -> None:
    """As STOW-RS stores the parts of a request, then commits them."""
    parts = [b"part %d" % i for i in range(BLOBS // 2)]
    for round_no in range(ROUNDS // 2):
        ordered = [p + b" round %d" % round_no for p in parts]
        _, errors = _race(
            pg_platform,
            {
                "forwards": lambda s: _store_then_touch(s, pg_platform, ordered),  # noqa: B023
                "backwards": lambda s: _store_then_touch(s, pg_platform, ordered[::-1]),  # noqa: B023
            },
        )
        assert errors == []


def _store_then_touch(session: Session, platform: Platform, contents: list[bytes]) -> None:
    stored = blobs.upload_many(session, platform, contents)
    assert SqlBlobIndex(session).touch(b for b, _ in stored) == dict(stored)
