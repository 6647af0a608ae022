"""One contract, every driver: the same cases run against local disk and S3 (moto)."""

from __future__ import annotations

import hashlib
import io
import os
import time
import urllib.request

import pytest

from imagehub.core.errors import InvalidInput
from imagehub.core.storage import ObjectNotFound, ObjectStore


def read_all(store: ObjectStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(store.get(key, start, end))


def test_put_get_roundtrip_from_bytes_file_and_iterator(store: ObjectStore) -> None:
    store.put("a/bytes", b"hello")
    store.put("a/file", io.BytesIO(b"from a file"))
    store.put("a/iter", iter([b"chunk-1;", b"", b"chunk-2"]))
    assert read_all(store, "a/bytes") == b"hello"
    assert read_all(store, "a/file") == b"from a file"
    assert read_all(store, "a/iter") == b"chunk-1;chunk-2"


def test_put_overwrites_and_reports_size(store: ObjectStore) -> None:
    store.put("k", b"first version")
    info = store.put("k", b"v2")
    assert info.size == 2
    assert store.stat("k").size == 2
    assert read_all(store, "k") == b"v2"


def test_empty_object(store: ObjectStore) -> None:
    assert store.put("empty", b"").size == 0
    assert read_all(store, "empty") == b""


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [(0, 4, b"0123"), (5, None, b"56789"), (3, 7, b"3456"), (9, 10, b"9"), (4, 4, b""), (20, None, b"")],
    ids=["head", "tail", "middle", "last-byte", "empty-range", "past-end"],
)
def test_ranged_get(store: ObjectStore, start: int, end: int | None, expected: bytes) -> None:
    store.put("digits", b"0123456789")
    assert read_all(store, "digits", start, end) == expected


def test_large_object_streams_in_chunks_and_multipart(store: ObjectStore) -> None:
    # 40 MiB crosses the S3 multipart threshold; content is position-dependent so a
    # reordered or dropped part would change the hash.
    size = 40 * 1024 * 1024
    block = os.urandom(1024 * 1024)

    def body() -> object:
        for i in range(size // len(block)):
            yield i.to_bytes(4, "big") + block[4:]

    expected = hashlib.sha256()
    for chunk in body():  # type: ignore[attr-defined]
        expected.update(chunk)
    store.put("big/object", body())  # type: ignore[arg-type]
    got = hashlib.sha256()
    largest = 0
    for chunk in store.get("big/object"):
        got.update(chunk)
        largest = max(largest, len(chunk))
    assert store.stat("big/object").size == size
    assert got.hexdigest() == expected.hexdigest()
    assert largest <= 1024 * 1024  # bounded memory: no whole-object reads


def test_move_places_an_object_under_its_new_key_and_removes_the_old(store: ObjectStore) -> None:
    content = os.urandom(20 * 1024 * 1024)  # above the S3 multipart threshold: copied in parts
    store.put("uploads/1/assembled", content)
    store.put("blobs/damaged", b"cut sh")
    assert store.move("uploads/1/assembled", "blobs/damaged").size == len(content)
    assert hashlib.sha256(read_all(store, "blobs/damaged")).digest() == hashlib.sha256(content).digest()
    assert not store.exists("uploads/1/assembled")
    with pytest.raises(ObjectNotFound):
        store.move("uploads/1/assembled", "blobs/other")
    assert not store.exists("blobs/other")


def test_sizes_of_many_keys_on_disk_and_none_on_s3(store: ObjectStore) -> None:
    store.put("a/one", b"one")
    store.put("a/cut", b"cu")
    found = store.sizes(["a/one", "a/cut", "a/gone"])
    assert found == (None if store.url.startswith("s3://") else {"a/one": 3, "a/cut": 2})


def test_missing_objects(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.stat("nope")
    with pytest.raises(ObjectNotFound):
        read_all(store, "nope")
    assert not store.exists("nope")
    store.delete("nope")  # idempotent


def test_delete(store: ObjectStore) -> None:
    store.put("gone/soon", b"x")
    assert store.exists("gone/soon")
    store.delete("gone/soon")
    assert not store.exists("gone/soon")


def test_list_by_prefix_in_key_order(store: ObjectStore) -> None:
    keys = ["blobs/ab/1", "blobs/ab/2", "blobs/ac/1", "blobs.txt", "blobsx", "other/1", "b"]
    for key in keys:
        store.put(key, key.encode())
    assert [o.key for o in store.list("blobs/")] == ["blobs/ab/1", "blobs/ab/2", "blobs/ac/1"]
    assert [o.key for o in store.list("blobs")] == sorted(k for k in keys if k.startswith("blobs"))
    assert [o.key for o in store.list("blobs/ab")] == ["blobs/ab/1", "blobs/ab/2"]
    assert [o.key for o in store.list()] == sorted(keys)
    assert [o.size for o in store.list("other/")] == [len(b"other/1")]
    assert list(store.list("nothing/")) == []


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "..", "a//b", "a/./b", "back\\slash", "nul\x00"])
def test_keys_that_could_escape_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidInput):
        store.put(key, b"x")
    with pytest.raises(InvalidInput):
        store.stat(key)


def test_presigned_url_serves_the_bytes(store: ObjectStore) -> None:
    store.put("shared/file.dcm", b"DICM-bytes")
    url = store.presign("shared/file.dcm", expires_in=60)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"DICM-bytes"
    with pytest.raises(ObjectNotFound):
        store.presign("shared/missing")


def test_batch_publishes_every_put_when_the_block_exits(store: ObjectStore) -> None:
    with store.batch() as batch:
        batch.put("batch/a", b"first")
        batch.put("batch/b", iter([b"sec", b"ond"]))
    assert read_all(store, "batch/a") == b"first"
    assert read_all(store, "batch/b") == b"second"
    assert [o.key for o in store.list("batch/")] == ["batch/a", "batch/b"]


def test_refresh_gives_an_existing_object_a_new_time(store: ObjectStore) -> None:
    assert store.refresh("blobs/absent") is None
    assert not store.exists("blobs/absent")  # refreshing makes nothing
    store.put("blobs/kept", b"content")
    before = store.stat("blobs/kept").modified
    assert before is not None
    time.sleep(1.1)  # S3 times are whole seconds
    refreshed = store.refresh("blobs/kept")
    assert refreshed is not None
    assert refreshed.size == 7
    assert refreshed.modified is not None
    assert refreshed.modified > before
    assert read_all(store, "blobs/kept") == b"content"
