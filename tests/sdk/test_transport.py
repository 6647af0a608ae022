"""Transport end to end: resumable uploads, working copies, pulls, dedup between datasets."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from sqlalchemy import text

from imagehub.core import paths
from imagehub.core.errors import Conflict, InvalidInput
from imagehub.core.vcs import BlobId, blob_key
from imagehub.sdk import objects
from imagehub.sdk.client import BUNDLE_FILES, UPLOAD_CHUNK, Client, RemoteDataset, RemoteEntry, bundled
from imagehub.sdk.http import RemoteConflict, RemoteError, RemoteInvalid, RemoteNotFound
from imagehub.sdk.ingest import ingest_folder
from imagehub.sdk.objects import ObjectCache
from imagehub.sdk.workcopy import WorkingCopy
from imagehub.services.maintenance import check_integrity
from imagehub.services.platform import Platform
from tests.conftest import Server
from tests.support.live_server import live_server
from tests.support.postgres import set_lock_timeout


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def test_resumable_upload_continues_and_verifies(server: Server) -> None:
    client = server.client()
    remote = client.create_dataset("lab/up")
    payload = os.urandom(3 * 1024 * 1024 + 17)
    blob = hashlib.sha256(payload).hexdigest()
    source = server.tmp / "payload.bin"
    source.write_bytes(payload)
    upload_id, direct = remote.start_upload(blob, len(payload))
    assert upload_id is not None
    assert direct is None  # local-disk storage: everything goes through the server
    remote.api.json(
        "PUT", f"{remote.base}/uploads/{upload_id}", params={"offset": 0}, content=payload[:1_000_000]
    )
    with pytest.raises(RemoteConflict) as wrong:  # a chunk for the wrong offset says where to resume
        remote.api.json("PUT", f"{remote.base}/uploads/{upload_id}", params={"offset": 5}, content=b"x")
    assert wrong.value.body["offset"] == 1_000_000
    sent: list[int] = []
    remote.finish_upload(source, upload_id, sent.append)
    assert sum(sent) == len(payload) - 1_000_000  # only the missing bytes travelled
    assert remote.start_upload(blob, len(payload)) == (None, None)  # the server has it now
    assert remote.missing([blob]) == set()

    liar, _ = remote.start_upload("ab" * 32, 4)
    remote.api.json("PUT", f"{remote.base}/uploads/{liar}", params={"offset": 0}, content=b"nope")
    with pytest.raises(RemoteInvalid, match="hash"):
        remote.api.json("POST", f"{remote.base}/uploads/{liar}/complete")
    assert remote.missing(["ab" * 32]) == {"ab" * 32}  # nothing half-written became visible
    for method, suffix in (("GET", ""), ("POST", "/complete")):  # and the failed session is gone
        with pytest.raises(RemoteNotFound, match="upload session"):
            remote.api.json(method, f"{remote.base}/uploads/{liar}{suffix}")


def test_clone_change_push_pull_diff(server: Server) -> None:
    client = server.client()
    client.create_dataset("lab/study")
    seed = server.tmp / "seed"
    write_files(seed, {"s1/a.dcm": b"a" * 1000, "s1/b.dcm": b"b" * 2000, "s2/c.dcm": b"c" * 3000})
    ingest_folder(client, seed, "lab/study", "main", "seed")

    one = WorkingCopy.clone(server.url, "lab/study", server.tmp / "one")
    assert (server.tmp / "one" / "s1" / "a.dcm").read_bytes() == b"a" * 1000
    unchanged = one.status()
    assert unchanged.clean
    assert unchanged.hashed == 0  # an untouched tree is only stat'ed

    (server.tmp / "one" / "s1" / "a.dcm").unlink()
    (server.tmp / "one" / "s1" / "a.dcm").write_bytes(b"A" * 1500)
    (server.tmp / "one" / "s2" / "c.dcm").unlink()
    write_files(server.tmp / "one", {"s3/d.dcm": b"d" * 500})
    changed = one.status()
    assert (changed.modified, changed.deleted, changed.added) == (["s1/a.dcm"], ["s2/c.dcm"], ["s3/d.dcm"])
    assert changed.hashed == 1  # only the tracked file whose stat changed was read (new files are not)
    assert one.add(["."]) == 3
    one.commit("replace a, drop c, add d")
    pushed = one.push()
    assert len(pushed) == 1
    assert one.status().clean
    assert one.push() == []

    two = WorkingCopy.clone(server.url, "lab/study", server.tmp / "two")
    files = sorted(p.relative_to(server.tmp / "two").as_posix() for p in (server.tmp / "two").rglob("*.dcm"))
    assert files == ["s1/a.dcm", "s1/b.dcm", "s3/d.dcm"]
    assert (server.tmp / "two" / "s1" / "a.dcm").read_bytes() == b"A" * 1500
    diff = client.dataset("lab/study").diff(f"{pushed[0]}~1", pushed[0])
    assert [(d["path"], d["type"]) for d in diff] == [
        ("s1/a.dcm", "modified"),
        ("s2/c.dcm", "removed"),
        ("s3/d.dcm", "added"),
    ]

    write_files(server.tmp / "one", {"s4/e.dcm": b"e"})
    one.add(["s4"])
    one.commit("add e")
    one.push()
    assert two.pull() == one.config["head"]
    assert (server.tmp / "two" / "s4" / "e.dcm").read_bytes() == b"e"


def test_interrupted_push_resumes_with_only_the_missing_bytes(server: Server) -> None:
    client = server.client()
    client.create_dataset("lab/big")
    copy = WorkingCopy.clone(server.url, "lab/big", server.tmp / "wc")
    sizes = [20_000_000, 21_000_000, 22_000_000, 300_000]  # large files go through resumable sessions
    write_files(server.tmp / "wc", {f"f{i}.dcm": os.urandom(size) for i, size in enumerate(sizes)})
    copy.add(["."])
    copy.commit("four files")
    total = sum(sizes)

    class Dropped(Exception):
        pass

    sent_first = 0

    def flaky(n: int) -> None:
        nonlocal sent_first
        sent_first += n
        if sent_first > total // 2:
            raise Dropped("connection lost")

    with pytest.raises(Dropped):
        copy.push(workers=1, progress=flaky)
    assert len(copy.pending()) == 1  # nothing was committed
    assert json.loads((server.tmp / "wc" / ".imagehub" / "uploads.json").read_text())  # a session to resume
    sent_second: list[int] = []
    made = copy.push(workers=1, progress=sent_second.append)
    assert len(made) == 1
    assert sum(sent_second) <= total - sent_first + 8 * 1024 * 1024  # at most one chunk is sent again
    assert sum(sent_second) + sent_first >= total
    other = WorkingCopy.clone(server.url, "lab/big", server.tmp / "check")
    for i, size in enumerate(sizes):
        assert (server.tmp / "check" / f"f{i}.dcm").stat().st_size == size
    del other


def test_a_dataset_sharing_most_files_sends_only_the_rest(server: Server) -> None:
    client = server.client()
    shared = {f"series/{i:02d}.dcm": os.urandom(200_000) for i in range(9)}
    first = server.tmp / "first"
    write_files(first, {**shared, "extra/a.dcm": os.urandom(200_000)})
    sent_first = ingest_folder(client, first, "lab/one", "main").uploaded_bytes
    second = server.tmp / "second"
    write_files(second, {**shared, "extra/b.dcm": os.urandom(200_000)})
    result = ingest_folder(client, second, "lab/two", "main")
    assert sent_first == 2_000_000
    assert result.uploaded_bytes == 200_000  # 10% of the data: the one file the server lacks
    assert result.files == 10


def test_add_reads_and_caches_only_what_it_stages(server: Server) -> None:
    server.client().create_dataset("lab/partial")
    copy = WorkingCopy.clone(server.url, "lab/partial", server.tmp / "wc")
    write_files(server.tmp / "wc", {"s1/a.dcm": b"a" * 10, "scratch/notes.bin": b"not for the dataset"})
    assert copy.add(["s1"]) == 1
    assert copy.cache.has(hashlib.sha256(b"a" * 10).hexdigest())
    assert not copy.cache.has(hashlib.sha256(b"not for the dataset").hexdigest())
    assert copy.status().staged == ["s1/a.dcm"]
    assert copy.status().added == ["scratch/notes.bin"]
    with pytest.raises(InvalidInput, match="outside the working copy"):
        copy.add([str(server.tmp)])
    with pytest.raises(InvalidInput, match="no such file or folder"):
        copy.add(["s2"])
    copy.commit("a only")
    copy.push()
    assert sorted(e.path for e in server.client().dataset("lab/partial").entries("main")[1]) == ["s1/a.dcm"]


@pytest.mark.parametrize("folder", [".imagehub", ".IMAGEHUB"])  # the same folder where case is ignored
def test_a_version_with_files_in_the_state_folder_is_refused_and_never_pulled(
    server: Server, folder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = server.client()
    remote = client.create_dataset("lab/odd")
    files = {"a.dcm": b"1", f"{folder}/staged.json": b'{"put": {"x": 1}}'}
    seed = server.tmp / "seed"
    write_files(seed, files)  # committed file by file: ingest leaves hidden folders out
    for name, content in files.items():
        remote.upload(seed / name, hashlib.sha256(content).hexdigest())
    puts = [RemoteEntry(n, hashlib.sha256(c).hexdigest(), len(c)) for n, c in files.items()]
    with pytest.raises(RemoteInvalid, match=r"a folder named \.imagehub"):
        remote.commit("main", message="odd", puts=puts)
    strict = paths.path_problem
    with monkeypatch.context() as older:  # as an older server took it
        older.setattr(paths, "path_problem", lambda value, stored=True: strict(value, stored=True))
        remote.commit("main", message="odd", puts=puts)
    with pytest.raises(InvalidInput, match="which no checkout may hold"):
        WorkingCopy.clone(server.url, "lab/odd", server.tmp / "wc")
    assert not (server.tmp / "wc" / "a.dcm").exists()
    with pytest.raises(InvalidInput, match="which no checkout may hold"):  # nor a plain folder
        client.dataset("lab/odd").pull("main", server.tmp / "plain")
    assert not (server.tmp / "plain" / folder).exists()


def test_add_again_repairs_a_staged_object_the_cache_lost_and_push_says_so(server: Server) -> None:
    server.client().create_dataset("lab/repair")
    copy = WorkingCopy.clone(server.url, "lab/repair", server.tmp / "wc")
    content = os.urandom(5000)
    write_files(server.tmp / "wc", {"a.dcm": content})
    copy.add(["."])
    cached = copy.cache.path(hashlib.sha256(content).hexdigest())
    cached.unlink()
    cached.write_bytes(content[:100])  # a crash cut the cached copy short
    copy.commit("a")
    with pytest.raises(InvalidInput, match="add` them again"):
        copy.push()
    copy.add(["."])  # the file is unchanged on disk, but its cached copy is read again
    assert cached.read_bytes() == content
    copy.push()
    again = WorkingCopy.clone(server.url, "lab/repair", server.tmp / "again")
    assert (server.tmp / "again" / "a.dcm").read_bytes() == content
    assert again.status().clean


def test_a_cached_object_cut_short_by_a_crash_is_fetched_again(server: Server) -> None:
    client = server.client()
    client.create_dataset("lab/crash")
    seed = server.tmp / "seed"
    files = {"small.dcm": os.urandom(5000), "large.dcm": os.urandom(9 * 1024 * 1024)}
    write_files(seed, files)
    ingest_folder(client, seed, "lab/crash", "main")
    for content in files.values():  # what a power cut can leave: the name, not all the bytes
        path = client.cache.path(hashlib.sha256(content).hexdigest())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.write_bytes(content[:100])
    client.dataset("lab/crash").pull("main", server.tmp / "out")
    for name, content in files.items():
        assert (server.tmp / "out" / name).read_bytes() == content
        assert client.cache.path(hashlib.sha256(content).hexdigest()).read_bytes() == content


def test_transfers_are_split_into_bundles_by_size_and_count() -> None:
    sizes = [5, 5, 5, 20, 1, 1]
    assert bundled(sizes, lambda s: s, 10) == [[5, 5], [5], [20], [1, 1]]
    assert bundled([], lambda s: s, 10) == []
    many = bundled([1] * (BUNDLE_FILES + 1), lambda s: s, 10**9)
    assert [len(group) for group in many] == [BUNDLE_FILES, 1]


def test_a_clone_of_many_files_fetches_them_all_in_parallel_bundles(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("imagehub.sdk.client.DOWNLOAD_BUNDLE_BYTES", 50_000)  # 8 bundles
    requested: list[int] = []
    real_fetch = RemoteDataset.fetch_bundle
    monkeypatch.setattr(
        RemoteDataset,
        "fetch_bundle",
        lambda self, entries, *args: requested.append(len(entries)) or real_fetch(self, entries, *args),
    )
    files = {f"s/{i:03d}.dcm": os.urandom(3000) + bytes([i % 256]) for i in range(120)}
    source = server.tmp / "many"
    write_files(source, files)
    client = server.client()
    ingest_folder(client, source, "lab/many", "main")
    dataset = client.dataset("lab/many")
    commit, rows = dataset.entries("main")
    entries = list(rows)
    dataset.fetch_all(entries, commit, workers=4)
    assert sorted(requested) == [8] + [16] * 7
    for entry in entries:
        cached = client.cache.path(entry.blob)
        assert cached.read_bytes() == files[entry.path]
        assert cached.stat().st_mode & 0o777 == 0o444  # shared by working copies: never edited in place
    assert list((client.cache.root / "tmp").iterdir()) == []
    assert list(client.cache.root.glob(f"objects/*/{objects.TEMP_PREFIX}*")) == []


@pytest.mark.parametrize("hostile", ["../escape.dcm", "/tmp/absolute.dcm", "a/../../b.dcm"])
def test_a_server_naming_paths_outside_the_folder_is_refused(tmp_path: Path, hostile: str) -> None:
    """A compromised or buggy server must not make a pull write outside its destination."""
    app = FastAPI()
    content = b"payload"

    @app.get("/api/v1/datasets/evil/set/refs/{ref}/plan")
    def plan(ref: str) -> dict[str, object]:
        row = {"path": hostile, "blob": hashlib.sha256(content).hexdigest(), "size": len(content)}
        return {"commit": "c" * 64, "results": [row], "next_after": None}

    with live_server(app) as url:
        client = Client(url, "token", cache=ObjectCache(tmp_path / "cache"))
        with pytest.raises(InvalidInput):
            client.dataset("evil/set").pull("main", tmp_path / "dest" / "inner")
    assert not (tmp_path / "dest" / "escape.dcm").exists()
    assert not (tmp_path / "dest" / "inner").exists()
    assert not Path("/tmp/absolute.dcm").exists()


@pytest.mark.parametrize("cut", [30, 72 + 700_000])
def test_a_bundle_that_ends_early_is_an_error_and_caches_nothing_of_the_cut_record(
    tmp_path: Path, cut: int
) -> None:
    """The connection drops part way through a download bundle: whole records before the
    cut are kept, the cut one is not, and the error says what happened."""
    first, second = os.urandom(300_000), os.urandom(900_000)
    ids = [hashlib.sha256(c).hexdigest() for c in (first, second)]
    body = b"".join(
        i.encode() + len(c).to_bytes(8, "big") + c for i, c in zip(ids, (first, second), strict=True)
    )
    cut_at = len(first) + 72 + cut
    app = FastAPI()

    @app.get("/api/v1/datasets/lab/cut/refs/{ref}/plan")
    def plan(ref: str) -> dict[str, object]:
        rows = [
            {"path": f"{n}.dcm", "blob": i, "size": len(c)}
            for n, i, c in zip("ab", ids, (first, second), strict=True)
        ]
        return {"commit": "c" * 64, "results": rows, "next_after": None}

    @app.post("/api/v1/datasets/lab/cut/refs/{ref}/bundle")
    def bundle(ref: str) -> StreamingResponse:
        def pieces() -> Iterator[bytes]:
            for start in range(0, cut_at, 65_536):
                yield body[start : min(start + 65_536, cut_at)]

        return StreamingResponse(pieces(), media_type="application/octet-stream")

    with live_server(app) as url:
        client = Client(url, "token", cache=ObjectCache(tmp_path / "cache"))
        with pytest.raises(RemoteError, match="ended early"):
            client.dataset("lab/cut").pull("main", tmp_path / "dest")
    assert client.cache.path(ids[0]).read_bytes() == first  # the whole record before the cut
    assert not client.cache.has(ids[1])


def test_a_download_cut_short_resumes_from_its_partial_file(server: Server) -> None:
    content = os.urandom(3_000_000)
    source = server.tmp / "big"
    write_files(source, {"vol/a.nii": content})
    uploader = server.client("uploader-cache")
    ingest_folder(uploader, source, "lab/resume", "main")

    client = server.client()
    dataset = client.dataset("lab/resume")
    commit, rows = dataset.entries("main")
    (entry,) = list(rows)
    with client.cache.partial(entry.blob) as (_, handle):  # what an interrupted pull left
        handle.write(content[:1_000_000])
    fetched: list[int] = []
    cached = dataset.fetch(entry, commit, progress=fetched.append)
    assert cached.read_bytes() == content
    assert sum(fetched) == 2_000_000  # only the missing bytes came over the wire
    assert list((client.cache.root / "tmp").iterdir()) == []

    other = server.client("other-cache")
    with other.cache.partial(entry.blob) as (_, handle):  # a partial file that went bad
        handle.write(b"garbage" * 1000)
    with pytest.raises(RemoteError, match="do not match"):
        other.dataset("lab/resume").fetch(entry, commit)
    assert other.dataset("lab/resume").fetch(entry, commit).read_bytes() == content  # starts afresh


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_commit_turned_away_for_a_concurrent_write_is_sent_again(
    server: Server, platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(server.url, server.token, cache=ObjectCache(server.tmp / "cache"))
    client.create_dataset("lab/busy")
    dataset = client.dataset("lab/busy")
    content = b"committed while another writer held the branch"
    (server.tmp / "scan.dcm").write_bytes(content)
    blob = hashlib.sha256(content).hexdigest()
    dataset.upload(server.tmp / "scan.dcm", blob)
    set_lock_timeout(platform.engine, "300ms")
    holder = platform.engine.connect()  # a concurrent writer, done after 0.5 s
    holder.execute(text("SELECT id FROM vcs_refs WHERE name = 'main' FOR UPDATE"))
    finished = threading.Timer(0.5, holder.rollback)
    finished.start()
    try:
        with caplog.at_level(logging.WARNING, logger="imagehub_api.errors"):
            commit = dataset.commit("main", message="m", puts=[RemoteEntry("scan.dcm", blob, len(content))])
        assert dataset.log("main")[0]["id"] == commit["id"]
    finally:
        finished.join()
        holder.close()
        client.close()
    assert any("database contention" in r.getMessage() for r in caplog.records)  # refused at first


def test_ctrl_c_stops_a_pull_at_the_next_chunk(server: Server) -> None:
    client = server.client()
    client.create_dataset("lab/big")
    seed = server.tmp / "seed"
    write_files(seed, {f"v{i}.nii": os.urandom(9 * 1024 * 1024) for i in range(6)})
    ingest_folder(client, seed, "lab/big", "main")
    remote = client.dataset("lab/big")
    commit, rows = remote.entries("main")
    entries = list(rows)
    received: list[int] = []

    def progress(n: int) -> None:
        received.append(n)
        if len(received) == 3:
            raise KeyboardInterrupt  # as if Ctrl-C reached the command here

    with pytest.raises(KeyboardInterrupt):
        remote.fetch_all(entries, commit, workers=2, progress=progress)
    # The worker still running stopped within a few chunks, before finishing its 9 MiB file;
    # nothing queued was started (without stopping, all 54 MiB would come).
    assert sum(received) <= 10 * objects.CHUNK
    assert sum(client.cache.has(e.blob, e.size) for e in entries) == 0
    remote.fetch_all(entries, commit, workers=2)  # and the next pull resumes and completes
    assert all(client.cache.has(e.blob, e.size) for e in entries)


def test_a_stopping_pool_leaves_other_pools_alone() -> None:
    from imagehub.sdk.parallel import Stopped, check_stop, transfer_pool

    started = threading.Event()
    release = threading.Event()

    def transfer() -> str:
        started.set()
        release.wait(10)
        check_stop()  # the next chunk
        return "done"

    with transfer_pool(1) as other:
        running = other.submit(transfer)
        started.wait(10)

        def chunks() -> None:
            for _ in range(1000):  # ten seconds of chunks, unless the pool stops it
                check_stop()
                time.sleep(0.01)

        stopped = []

        def fail_in_a_pool() -> None:
            with transfer_pool(1) as failing:
                stopped.append(failing.submit(chunks))
                release.set()
                raise RuntimeError("one download failed")

        with pytest.raises(RuntimeError):
            fail_in_a_pool()
        assert running.result(10) == "done"
    with pytest.raises(Stopped):
        stopped[0].result(10)
    check_stop()  # outside any pool: never stops


def test_a_pull_folder_holds_exactly_the_version_pulled_last(server: Server) -> None:
    client = server.client()
    client.create_dataset("lab/pins")
    seed = server.tmp / "seed-pins"
    write_files(seed, {"a.nii.gz": b"a1", "b.nii.gz": b"b1"})
    v1 = ingest_folder(client, seed, "lab/pins", "main").commit
    later = server.tmp / "later-pins"
    write_files(later, {"a.nii.gz": b"a2", "c.nii.gz": b"c2"})
    ingest_folder(client, later, "lab/pins", "main")
    remote = client.dataset("lab/pins")
    remote.commit("main", message="b is withdrawn", deletes=["b.nii.gz"])
    out = server.tmp / "pinned"
    remote.pull("main", out)
    assert sorted(p.name for p in out.glob("*.nii.gz")) == ["a.nii.gz", "c.nii.gz"]
    assert remote.pull(v1, out) == v1
    assert sorted(p.name for p in out.glob("*.nii.gz")) == ["a.nii.gz", "b.nii.gz"]  # c went with main
    assert (out / "a.nii.gz").read_bytes() == b"a1"
    (out / "c.nii.gz").write_bytes(b"someone's own file")
    with pytest.raises(Conflict, match="not from the earlier pull"):
        remote.pull("main", out)
    assert (out / "c.nii.gz").read_bytes() == b"someone's own file"
    mine = server.tmp / "mine"
    write_files(mine, {"notes.txt": b"mine"})
    with pytest.raises(InvalidInput, match="not empty"):
        remote.pull("main", mine)


def test_a_large_upload_started_again_resumes_where_it_stopped(server: Server) -> None:
    """What `ingest` does after Ctrl-C: it starts the upload afresh, and the server hands back
    the session it already had, so only the missing chunks travel."""
    client = server.client()
    client.create_dataset("lab/again")
    remote = client.dataset("lab/again")
    content = os.urandom(UPLOAD_CHUNK * 2 + 1000)
    blob = hashlib.sha256(content).hexdigest()
    path = server.tmp / "big.nii"
    path.write_bytes(content)
    first, _ = remote.start_upload(blob, len(content))
    remote.api.json(
        "PUT", f"{remote.base}/uploads/{first}", params={"offset": 0}, content=content[:UPLOAD_CHUNK]
    )
    again, _ = remote.start_upload(blob, len(content))
    assert again == first
    sent: list[int] = []
    remote.upload(path, blob, progress=sent.append)
    assert sum(sent) == len(content) - UPLOAD_CHUNK
    assert remote.missing([blob]) == set()


def test_a_pull_cut_short_runs_again_and_pulls_into_one_folder_take_turns(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = server.client()
    client.create_dataset("lab/cut")
    seed = server.tmp / "seed-cut"
    write_files(seed, {f"v/{i:02d}.nii.gz": f"one {i}".encode() for i in range(12)})
    v1 = ingest_folder(client, seed, "lab/cut", "main").commit
    remote = client.dataset("lab/cut")
    out = server.tmp / "cut"
    assert remote.pull(v1, out) == v1
    changed = server.tmp / "seed-cut-2"
    write_files(changed, {f"v/{i:02d}.nii.gz": f"two {i}".encode() for i in range(12, 20)})
    ingest_folder(client, changed, "lab/cut", "main")
    remote.commit("main", message="drop the first four", deletes=[f"v/{i:02d}.nii.gz" for i in range(4)])

    real = objects.ObjectCache.materialise
    placed: list[Path] = []

    def interrupted(self: objects.ObjectCache, blob: str, dest: Path, *, link: bool = True) -> None:
        if len(placed) == 5:
            raise KeyboardInterrupt
        placed.append(dest)
        real(self, blob, dest, link=link)

    monkeypatch.setattr(objects.ObjectCache, "materialise", interrupted)
    with pytest.raises(KeyboardInterrupt):
        remote.pull("main", out, workers=1)
    monkeypatch.setattr(objects.ObjectCache, "materialise", real)
    head = remote.pull("main", out)  # run again: it finishes
    want = {f"v/{i:02d}.nii.gz" for i in range(4, 20)}
    assert {p.relative_to(out).as_posix() for p in out.rglob("*.nii.gz")} == want
    assert json.loads((out / ".imagehub-pull.json").read_text())["commit"] == head

    other = server.tmp / "ranks"  # every rank of a distributed job pulls into the same folder
    with ThreadPoolExecutor(3) as pool:
        commits = list(pool.map(lambda _: remote.pull("main", other), range(3)))
    assert commits == [head] * 3
    assert {p.relative_to(other).as_posix() for p in other.rglob("*.nii.gz")} == want


def test_a_blob_lost_from_disk_is_sent_again_by_the_next_push_and_ingest(
    server: Server, platform: Platform
) -> None:
    server.client().create_dataset("lab/mend")
    copy = WorkingCopy.clone(server.url, "lab/mend", server.tmp / "wc")
    files = {"small.dcm": os.urandom(1000), "large.dcm": os.urandom(UPLOAD_CHUNK + 1000)}
    write_files(copy.root, files)
    copy.add(["."])
    copy.commit("scans")
    copy.push()
    ids = {name: BlobId(hashlib.sha256(content).hexdigest()) for name, content in files.items()}
    for blob in ids.values():
        platform.store.delete(blob_key(blob))  # lost from disk: the index still lists them
    write_files(copy.root, {f"again/{name}": content for name, content in files.items()})
    copy.add(["."])
    copy.commit("the same scans again")
    copy.push()
    assert check_integrity(platform, deep=True).ok
    platform.store.put(blob_key(ids["small.dcm"]), b"cut short")
    result = ingest_folder(server.client(), copy.root / "again", "lab/mend", "main")
    assert result.uploaded_bytes == len(files["small.dcm"])
    assert check_integrity(platform, deep=True).ok
