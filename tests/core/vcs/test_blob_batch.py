"""Bulk loads through a blob batch: verified, written once, visible only when it closes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from imagehub.core.storage.local import FileBatch, FileStore
from imagehub.core.vcs import BlobMismatch, BlobStore, blob_key


def test_batch_stores_each_distinct_blob_once_and_publishes_on_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = FileStore(tmp_path / "objects")
    blobs = BlobStore(objects)
    written: list[str] = []
    real_put = FileBatch.put
    monkeypatch.setattr(
        FileBatch, "put", lambda self, key, source: written.append(key) or real_put(self, key, source)
    )
    with blobs.batch() as batch:
        first = batch.put_stream([b"same bytes"])
        again = batch.put_stream(iter([b"same ", b"bytes"]))
        other = batch.put_stream([b"other bytes"])
        assert not blobs.exists(first[0])
    assert first == again == (hashlib.sha256(b"same bytes").hexdigest(), 10)
    assert b"".join(blobs.open(first[0])) == b"same bytes"
    assert b"".join(blobs.open(other[0])) == b"other bytes"
    assert sorted(o.key for o in objects.list("blobs/")) == sorted([blob_key(first[0]), blob_key(other[0])])
    assert written == [blob_key(first[0]), blob_key(other[0])]  # the repeat was not written again


def test_a_record_that_does_not_match_its_id_stops_the_batch_and_keeps_nothing(tmp_path: Path) -> None:
    blobs = BlobStore(FileStore(tmp_path / "objects"))
    good = hashlib.sha256(b"good").hexdigest()

    def tampered_bundle() -> None:
        with blobs.batch() as batch:
            batch.put_stream(b"good", good)
            batch.put_stream([b"tampered"], good)

    with pytest.raises(BlobMismatch):
        tampered_bundle()
    assert not blobs.exists(good)


def test_bytes_uploaded_under_their_id_repair_a_damaged_blob(tmp_path: Path) -> None:
    objects = FileStore(tmp_path / "objects")
    blobs = BlobStore(objects)
    data = b"slice bytes " * 100
    blob, _ = blobs.put_stream(data)
    flipped = bytearray(data)
    flipped[10] ^= 1
    objects.put(blob_key(blob), bytes(flipped))  # damaged in the bucket, same size
    blobs.put_stream(data)  # a writer without an id trusts an object of the right size
    assert not blobs.verify(blob)
    assert blobs.put_stream(iter([data]), expected=blob) == (blob, len(data))
    assert blobs.verify(blob)
    objects.delete(blob_key(blob))
    with blobs.batch() as batch:
        batch.put_stream(data, expected=blob)
    assert blobs.verify(blob)
