"""The SQL stores of the versioning engine, on both backends, across id batches."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from imagehub.core.vcs import BlobId, NodeId
from imagehub.models import vcs
from imagehub.models.vcs import SqlBlobIndex, SqlDeltaStore, SqlNodeStore
from imagehub.services.platform import Platform


def ids(prefix: str, count: int) -> list[str]:
    return [hashlib.sha256(f"{prefix}{i}".encode()).hexdigest() for i in range(count)]


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 3 ids, so that a handful of ids crosses several batches on each backend."""
    monkeypatch.setattr(vcs, "BATCH", 3)
    monkeypatch.setattr(vcs, "PG_ID_BATCH", 3)


def test_lookups_and_touches_span_batches(platform: Platform, small_batches: None) -> None:
    present = [BlobId(b) for b in ids("present", 10)]
    absent = [BlobId(b) for b in ids("absent", 4)]
    nodes = {NodeId(n): n.encode() for n in ids("node", 8)}
    with platform.sessions.begin() as session:
        SqlBlobIndex(session).register((b, i + 1) for i, b in enumerate(present))
        SqlNodeStore(session).put_many(nodes)
    with platform.sessions.begin() as session:
        session.execute(text("UPDATE vcs_blobs SET touched_at = '2000-01-01'"))
    with platform.sessions.begin() as session:
        blob_index = SqlBlobIndex(session)
        assert blob_index.missing(present + absent) == set(absent)
        assert blob_index.touch(present[:7] + absent) == {b: i + 1 for i, b in enumerate(present[:7])}
        blob_index.register([(present[0], 99)])  # sizes are measured: a later one mends the row
        assert blob_index.touch([present[0]]) == {present[0]: 99}
        blob_index.register([(present[0], 1)])
        wanted = list(nodes) + [NodeId(n) for n in ids("no-such-node", 2)]
        assert SqlNodeStore(session).get_many(wanted) == nodes
    with platform.sessions() as session:
        touched = {
            row[0]
            for row in session.execute(text("SELECT id FROM vcs_blobs WHERE touched_at > '2001-01-01'"))
        }
    assert touched == set(present[:7])  # exactly those the commit referenced


def test_deltas_are_found_by_their_pair_of_trees_across_batches(
    platform: Platform, small_batches: None
) -> None:
    trees = [NodeId(n) for n in ids("tree", 6)]
    recorded = {(trees[i], trees[i + 1]): f"delta {i}".encode() for i in range(5)}
    with platform.sessions.begin() as session:
        SqlDeltaStore(session).put_many(recorded)
    with platform.sessions.begin() as session:
        store = SqlDeltaStore(session)
        store.put_many({(trees[0], trees[1]): b"recorded twice"})  # the first one stays
        wanted = [*recorded, (trees[1], trees[0]), (trees[0], trees[2])]
        assert store.get_many(wanted) == recorded
        assert store.get_many([]) == {}


def test_write_heavy_columns_carry_no_index_and_postgresql_nodes_use_lz4(platform: Platform) -> None:
    indexed = {
        column
        for table in ("vcs_blobs", "vcs_nodes")
        for index in inspect(platform.engine).get_indexes(table)
        for column in index["column_names"]
    }
    assert "touched_at" not in indexed
    if platform.engine.dialect.name != "postgresql":
        return
    with platform.sessions() as session:
        try:  # a server built without lz4 keeps its default, by design
            with session.begin_nested():
                session.execute(text("SET LOCAL default_toast_compression = 'lz4'"))
            has_lz4 = True
        except DBAPIError:
            has_lz4 = False
        method = session.execute(
            text(
                "SELECT attcompression FROM pg_attribute "
                "WHERE attrelid = 'vcs_nodes'::regclass AND attname = 'payload'"
            )
        ).scalar_one()
    assert method == ("l" if has_lz4 else "")
