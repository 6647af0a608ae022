"""The Python SDK: a server, its datasets, and pinned versions for training code.

client = Client("http://imagehub:8000", token)
brain = client.dataset("radiology/brain")
commit = brain.pull("v1.0", "data/brain")      # returns the exact commit pulled
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpx

from imagehub.core.errors import Conflict, InvalidInput
from imagehub.core.paths import path_problem
from imagehub.core.vcs.types import is_full_id
from imagehub.sdk.http import Api, RemoteConflict, RemoteError, RemoteNotFound, error_from, reaching
from imagehub.sdk.objects import CHUNK, ObjectCache, sha256_handle
from imagehub.sdk.parallel import check_stop, transfer_pool

UPLOAD_CHUNK = 8 * 1024 * 1024
BUNDLE_FILES = 2000
DOWNLOAD_BUNDLE_BYTES = 64 * 1024 * 1024  # enough bundles to keep every worker busy
# Direct transfers with object storage: no bound on the whole (large files take what they
# take), but an endpoint that accepts and then says nothing is given up on.
STORAGE_TIMEOUT = httpx.Timeout(connect=15, read=120, write=120, pool=15)
Progress = Callable[[int], None]  # called with bytes just transferred
T = TypeVar("T")


def bundled(items: list[T], size_of: Callable[[T], int], max_bytes: int) -> list[list[T]]:
    """Consecutive groups of at most ``BUNDLE_FILES`` items and, unless one item alone is
    larger, ``max_bytes`` bytes."""
    groups: list[list[T]] = []
    filled = 0
    for item in items:
        size = size_of(item)
        if not groups or filled + size > max_bytes or len(groups[-1]) >= BUNDLE_FILES:
            groups.append([])
            filled = 0
        groups[-1].append(item)
        filled += size
    return groups


def _no_progress(_: int) -> None:
    return None


def _stoppable(handle: BinaryIO, progress: Progress) -> Iterator[bytes]:
    """A file's bytes as a request body, checking between chunks whether to stop."""
    while chunk := handle.read(CHUNK):
        check_stop()
        yield chunk
        progress(len(chunk))


@dataclass(frozen=True)
class RemoteEntry:
    path: str
    blob: str
    size: int
    media_type: str = "application/octet-stream"
    summary: dict[str, Any] | None = None


class _StreamReader:
    """Exact-size reads over an iterator of byte chunks, copying each byte once: views of
    the chunks as they arrived, joined per read (a growing buffer copied them three times)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.head = memoryview(b"")

    def read(self, size: int) -> bytes:
        parts: list[memoryview] = []
        need = size
        while need:
            if not self.head:
                chunk = next(self.chunks, None)
                if chunk is None:
                    raise RemoteError("the server's bundle ended early", 0, {})
                self.head = memoryview(chunk)
            part = self.head[:need]
            parts.append(part)
            need -= len(part)
            self.head = self.head[len(part) :]
        return b"".join(parts)


class Client:
    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        cache: ObjectCache | None = None,
        purpose: str | None = None,
    ) -> None:
        self.api = Api(url, token, purpose=purpose)
        self.cache = cache or ObjectCache()

    def dataset(self, full_name: str) -> RemoteDataset:
        owner, _, name = full_name.partition("/")
        if not owner or not name:
            raise RemoteError(f"name datasets as owner/name, not {full_name!r}", 0, {})
        return RemoteDataset(self, owner, name)

    def create_dataset(
        self, full_name: str, *, description: str = "", visibility: str = "private", datasheet: bool = False
    ) -> RemoteDataset:
        """Create ``owner/name``; with ``datasheet`` its first version holds a README.md template."""
        owner, _, name = full_name.partition("/")
        body = {
            "owner": owner,
            "name": name,
            "description": description,
            "visibility": visibility,
            "datasheet": datasheet,
        }
        self.api.json("POST", "/api/v1/datasets", json=body)
        return RemoteDataset(self, owner, name)

    def whoami(self) -> dict[str, Any]:
        return dict(self.api.json("GET", "/api/v1/auth/me"))

    def close(self) -> None:
        self.api.close()


PULL_MARK = ".imagehub-pull.json"  # in a folder a pull filled: which version of which dataset
PULL_LOCK = ".imagehub-pull.lock"  # held while a pull fills the folder


class RemoteDataset:
    def __init__(self, client: Client, owner: str, name: str) -> None:
        self.client = client
        self.api = client.api
        self.full_name = f"{owner}/{name}"
        self.base = f"/api/v1/datasets/{owner}/{name}"

    # -- reading -------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return dict(self.api.json("GET", self.base))

    def resolve(self, ref: str) -> str:
        return str(self.api.json("GET", f"{self.base}/commits/{ref}")["id"])

    def entries(self, ref: str, prefix: str = "") -> tuple[str, Iterator[RemoteEntry]]:
        """The commit ``ref`` resolves to and every entry under ``prefix`` at that commit.

        Paths are checked here, so a server naming ``../`` or absolute paths can never make
        a pull or checkout write outside its folder, nor place a ``.imagehub`` state folder
        (whose config would send the token to a server it names)."""
        first = self.api.json("GET", f"{self.base}/refs/{ref}/plan", params={"prefix": prefix})
        commit = str(first["commit"])

        def rows() -> Iterator[RemoteEntry]:
            page = first
            while True:
                for row in page["results"]:
                    if reason := path_problem(row["path"]):
                        raise InvalidInput(
                            f"{ref} holds {row['path']!r}, which no checkout may hold ({reason}):"
                            " delete it on the server"
                        )
                    yield RemoteEntry(**row)
                if not page["next_after"]:
                    return
                page = self.api.json(
                    "GET",
                    f"{self.base}/refs/{commit}/plan",
                    params={"prefix": prefix, "after": page["next_after"]},
                )

        return commit, rows()

    def files(self, ref: str, prefix: str = "") -> list[RemoteEntry]:
        """Every entry of a version under ``prefix``."""
        return [*self.entries(ref, prefix)[1]]

    def open(self, path: str, ref: str) -> bytes:
        """The bytes of one file at a version (through the local cache)."""
        commit = self.pinned(ref)
        entry = self.api.json("GET", f"{self.base}/refs/{commit}/objects/stat", params={"path": path})
        self.fetch(RemoteEntry(**entry), commit)
        return self.client.cache.path(entry["blob"]).read_bytes()

    def pinned(self, ref: str) -> str:
        """The commit ``ref`` names now, so that the requests that follow agree though a branch
        moves meanwhile (a full commit id is taken as it is)."""
        return ref if is_full_id(ref) else self.resolve(ref)

    def log(self, ref: str, limit: int = 50) -> list[dict[str, Any]]:
        return list(self.api.json("GET", f"{self.base}/log", params={"ref": ref, "limit": limit})["results"])

    def diff(self, left: str, right: str, prefix: str = "") -> list[dict[str, Any]]:
        """Every change from ``left`` to ``right``, the two pinned first: pages of a diff of
        a branch that moves meanwhile would mix two versions."""
        left, right = self.pinned(left), self.pinned(right)
        out: list[dict[str, Any]] = []
        after = ""
        while True:
            page = self.api.json(
                "GET",
                f"{self.base}/diff",
                params={"left": left, "right": right, "prefix": prefix, "after": after},
            )
            out += page["results"]
            if not page["next_after"]:
                return out
            after = page["next_after"]

    # -- transfers -----------------------------------------------------------------------
    def fetch(self, entry: RemoteEntry, ref: str, progress: Progress = _no_progress) -> Path:
        """Bring one blob into the cache, resuming a partial download, verifying its hash."""
        cache = self.client.cache
        if (cached := self._cached(entry, progress)) is not None:
            return cached
        with cache.partial(entry.blob) as (partial, handle):
            if (cached := self._cached(entry, progress)) is not None:  # fetched by another process
                partial.unlink()  # while we waited for its partial file
                return cached
            have = os.fstat(handle.fileno()).st_size
            headers = {"Range": f"bytes={have}-"} if 0 < have < entry.size else {}
            direct = None
            if entry.size > UPLOAD_CHUNK:  # large files come straight from object storage when it can
                direct = self.api.json(
                    "GET", f"{self.base}/refs/{ref}/objects/url", params={"path": entry.path}
                )["url"]
            source = (
                httpx.stream("GET", direct, headers=headers, timeout=STORAGE_TIMEOUT)
                if direct
                else self.api.http.stream(
                    "GET",
                    f"{self.base}/refs/{ref}/objects/content",
                    params={"path": entry.path},
                    headers=headers,
                )
            )
            with reaching(direct or self.api.url), source as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from(response)
                if response.status_code == 206:
                    handle.seek(0, os.SEEK_END)
                else:  # the whole object: whatever was there goes
                    handle.seek(0)
                    handle.truncate()
                for chunk in response.iter_bytes(CHUNK):
                    check_stop()
                    handle.write(chunk)
                    progress(len(chunk))
            handle.flush()
            handle.seek(0)
            if sha256_handle(handle) != entry.blob:
                partial.unlink()
                raise RemoteError(f"{entry.path}: downloaded bytes do not match {entry.blob}", 0, {})
            return cache.adopt(partial, entry.blob)

    def _cached(self, entry: RemoteEntry, progress: Progress) -> Path | None:
        """Where the cache holds the entry's blob whole, counted as transferred; else None."""
        if not self.client.cache.has(entry.blob, entry.size):
            return None
        progress(entry.size)
        return self.client.cache.path(entry.blob)

    def fetch_bundle(self, entries: list[RemoteEntry], ref: str, progress: Progress = _no_progress) -> None:
        """Many small files in one request, each record verified before it enters the cache."""
        cache = self.client.cache
        paths = {"paths": [e.path for e in entries]}
        bundle = self.api.http.stream("POST", f"{self.base}/refs/{ref}/bundle", json=paths)
        with reaching(self.api.url), bundle as response:
            if response.status_code >= 400:
                response.read()
                raise error_from(response)
            reader = _StreamReader(response.iter_bytes())
            for entry in entries:
                check_stop()
                header = reader.read(72)
                blob, size = header[:64].decode("ascii"), int.from_bytes(header[64:72], "big")
                content = reader.read(size)
                if blob != entry.blob or hashlib.sha256(content).hexdigest() != entry.blob:
                    raise RemoteError(f"{entry.path}: bundle record does not match {entry.blob}", 0, {})
                cache.add_bytes(content, entry.blob)
                progress(size)

    def fetch_all(
        self, entries: list[RemoteEntry], ref: str, *, workers: int = 8, progress: Progress = _no_progress
    ) -> None:
        """Bring every entry's blob into the cache: small ones in bundles, large ones resumably."""
        cache = self.client.cache
        needed = list({e.blob: e for e in entries if not cache.has(e.blob, e.size)}.values())
        small = [e for e in needed if e.size <= UPLOAD_CHUNK]
        bundles = bundled(small, lambda e: e.size, DOWNLOAD_BUNDLE_BYTES)
        large = [e for e in needed if e.size > UPLOAD_CHUNK]
        with transfer_pool(workers) as pool:
            jobs: list[Future[object]] = [pool.submit(self.fetch_bundle, b, ref, progress) for b in bundles]
            jobs += [pool.submit(self.fetch, e, ref, progress) for e in large]
            done, _ = wait(jobs, return_when=FIRST_EXCEPTION)  # one failure stops the others
            for job in done:
                job.result()

    def pull(
        self,
        ref: str,
        dest: str | Path,
        *,
        prefix: str = "",
        workers: int = 8,
        progress: Progress = _no_progress,
    ) -> str:
        """Materialise version ``ref`` under ``dest``; returns the commit id it resolved to.

        ``dest`` is a new or empty folder, or one an earlier pull of this dataset filled: then
        the files of that version this one lacks are removed, so the folder holds exactly
        this version (a glob over it finds no file of another). Files of someone else's in
        the way are never overwritten. A pull cut short is simply run again; pulls into one
        folder take turns (every rank of a distributed job may call this)."""
        commit, rows = self.entries(ref, prefix)
        root = Path(dest)
        entries = list(rows)
        with _pull_lock(root):
            earlier = self._earlier_pulls(root)
            stale = self._left_by(root, earlier, {e.path for e in entries})
            self.fetch_all(entries, commit, workers=workers, progress=progress)
            now = {"commit": commit, "prefix": prefix}
            self._mark(root, [*earlier, now])  # before placing: a run cut short knows what it placed
            for path in stale:
                (root / path).unlink(missing_ok=True)
            self.client.cache.materialise_all([(e.blob, root / e.path) for e in entries], workers)
            self._mark(root, [now])
        return commit

    def _mark(self, root: Path, pulls: list[dict[str, str]]) -> None:
        """Record which versions' files the folder may hold (the last one is the current)."""
        mark = {"dataset": self.full_name, **pulls[-1], "pulls": pulls}
        temporary = root / f"{PULL_MARK}.{os.getpid()}"
        temporary.write_text(json.dumps(mark))
        temporary.replace(root / PULL_MARK)

    def _earlier_pulls(self, root: Path) -> list[dict[str, str]]:
        """The versions an earlier pull (or one cut short) placed in ``root``; refused when
        ``root`` holds files no pull of this dataset placed."""
        mark = root / PULL_MARK
        if not mark.is_file():
            if any(p.name != PULL_LOCK for p in root.iterdir()):
                raise InvalidInput(
                    f"{root} is not empty: pull into a new or empty folder, or one a pull of"
                    f" {self.full_name} made"
                )
            return []
        earlier = json.loads(mark.read_text())
        if earlier.get("dataset") != self.full_name:
            raise InvalidInput(f"{root} holds a pull of {earlier.get('dataset')}, not of {self.full_name}")
        pulls: list[dict[str, str]] = earlier.get("pulls") or [
            {"commit": earlier["commit"], "prefix": earlier.get("prefix", "")}
        ]
        return pulls

    def _left_by(self, root: Path, earlier: list[dict[str, str]], wanted: set[str]) -> list[str]:
        """What the earlier pulls placed that this one does not; refused when a file this one
        places is in the way and no earlier pull placed it."""
        placed: set[str] = set()
        for pull in earlier:
            placed |= {e.path for e in self.entries(pull["commit"], pull.get("prefix", ""))[1]}
        if in_the_way := sorted(p for p in wanted - placed if (root / p).exists()):
            raise Conflict(
                f"{root / in_the_way[0]} is not from the earlier pull ({len(in_the_way)} file(s)):"
                " move it away first"
            )
        return sorted(placed - wanted)

    def missing(self, blobs: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(blobs), 50_000):
            batch = blobs[start : start + 50_000]
            found |= set(
                self.api.json("POST", f"{self.base}/blobs/missing", json={"blobs": batch})["missing"]
            )
        return found

    def upload_bundle(self, files: list[tuple[Path, str]], progress: Progress = _no_progress) -> None:
        """Send many small files in one request (each still verified against its id)."""
        parts: list[bytes] = []
        for path, blob in files:
            content = path.read_bytes()
            parts += [blob.encode("ascii"), len(content).to_bytes(8, "big"), content]
        self.api.json("POST", f"{self.base}/blobs/bundle", content=b"".join(parts))
        progress(sum(len(p) for p in parts[2::3]))

    def upload_small(
        self, files: list[tuple[Path, str]], *, workers: int = 4, progress: Progress = _no_progress
    ) -> None:
        """Send files of at most ``UPLOAD_CHUNK`` bytes in bundles of about that size, in parallel."""
        bundles = bundled(files, lambda file: file[0].stat().st_size, UPLOAD_CHUNK)
        with transfer_pool(workers) as pool:
            list(pool.map(lambda b: self.upload_bundle(b, progress), bundles))

    def start_upload(self, blob: str, size: int) -> tuple[str | None, str | None]:
        """Open an upload session: (session id, direct storage URL or None); (None, None)
        when the server already has the blob."""
        state = self.api.json("POST", f"{self.base}/uploads", json={"blob": blob, "size": size})
        if state.get("complete"):
            return None, None
        return str(state["id"]), state.get("direct_url")

    def put_direct(self, path: Path, url: str, upload_id: str, progress: Progress = _no_progress) -> None:
        """Send the whole file straight to object storage, then let the server verify it. The
        body goes chunk by chunk so that Ctrl-C stops it at the next one; a send that stopped
        or failed is never completed. A file the storage already holds whole (its completion
        failed last time) is only completed."""
        size = path.stat().st_size
        state = self.api.json("GET", f"{self.base}/uploads/{upload_id}")
        if state.get("direct_size") == size:
            progress(size)
        else:
            self._put(path, url, size, progress)
        self.api.json("POST", f"{self.base}/uploads/{upload_id}/complete")

    @staticmethod
    def _put(path: Path, url: str, size: int, progress: Progress) -> None:
        """One PUT of the file, its body read chunk by chunk with a check for Ctrl-C before each."""
        with path.open("rb") as handle, reaching(url):
            response = httpx.put(
                url,
                content=_stoppable(handle, progress),
                headers={"Content-Length": str(size)},
                timeout=STORAGE_TIMEOUT,
            )
        if response.status_code >= 300:
            raise RemoteError(
                f"object storage refused the upload (HTTP {response.status_code})",
                response.status_code,
                {"detail": response.text[:300]},
            )

    def finish_upload(self, path: Path, upload_id: str, progress: Progress = _no_progress) -> None:
        """Send what the session still lacks (from its acknowledged offset), then complete it."""
        state = self.api.json("GET", f"{self.base}/uploads/{upload_id}")
        self._send_from(path, upload_id, int(state["offset"]), int(state["size"]), progress)
        self.api.json("POST", f"{self.base}/uploads/{upload_id}/complete")

    def upload(self, path: Path, blob: str, progress: Progress = _no_progress) -> None:
        """Send one file: small ones in a single verified PUT, large ones through a resumable session."""
        size = path.stat().st_size
        if size <= UPLOAD_CHUNK:
            self.api.json("PUT", f"{self.base}/blobs/{blob}", content=path.read_bytes())
            progress(size)
            return
        upload_id, direct = self.start_upload(blob, size)
        if upload_id is None:
            return
        if direct:
            self.put_direct(path, direct, upload_id, progress)
        else:
            self.finish_upload(path, upload_id, progress)

    def _send_from(self, path: Path, upload_id: str, offset: int, size: int, progress: Progress) -> None:
        with path.open("rb") as handle:
            handle.seek(offset)
            while offset < size:
                check_stop()
                chunk = handle.read(UPLOAD_CHUNK)
                try:
                    state = self.api.json(
                        "PUT", f"{self.base}/uploads/{upload_id}", params={"offset": offset}, content=chunk
                    )
                except RemoteConflict as exc:  # the server holds another offset: continue from there
                    offset = int(exc.body["offset"])
                    handle.seek(offset)
                    continue
                offset = int(state["offset"])
                progress(len(chunk))

    def commit(
        self,
        branch: str,
        *,
        message: str,
        puts: list[RemoteEntry] | None = None,
        deletes: list[str] | None = None,
        expected_parent: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        body = {
            "message": message,
            "changes": {"put": [e.__dict__ for e in puts or []], "delete": deletes or []},
            "metadata": metadata or {},
            "expected_parent": expected_parent,
        }
        return dict(self.api.json("POST", f"{self.base}/branches/{branch}/commits", json=body))

    def delete(self) -> None:
        """Soft delete (an administrator can restore it)."""
        self.api.request("DELETE", self.base)

    def delete_branch(self, name: str) -> None:
        self.api.request("DELETE", f"{self.base}/branches/{name}")

    def create_branch(self, name: str, source: str) -> dict[str, Any]:
        return dict(self.api.json("POST", f"{self.base}/branches", json={"name": name, "source": source}))

    def branches(self) -> list[dict[str, Any]]:
        """Every branch, page after page."""
        return self._every(f"{self.base}/branches")

    def branch(self, name: str) -> dict[str, Any] | None:
        """The branch called ``name``, or None when there is none."""
        try:
            return dict(self.api.json("GET", f"{self.base}/branches/{name}"))
        except RemoteNotFound:
            return None

    def _every(self, url: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after = ""
        while True:
            page = self.api.json("GET", url, params={"after": after, "limit": 1000})
            found += page["results"]
            if not page["next_after"]:
                return found
            after = page["next_after"]

    def create_tag(self, name: str, ref: str, message: str = "") -> dict[str, Any]:
        return dict(
            self.api.json("POST", f"{self.base}/tags", json={"name": name, "ref": ref, "message": message})
        )

    def tags(self) -> list[dict[str, Any]]:
        """Every tag, page after page."""
        return self._every(f"{self.base}/tags")

    def merge(
        self, source: str, destination: str, strategy: str = "fail", message: str = ""
    ) -> dict[str, Any]:
        body = {"source": source, "destination": destination, "strategy": strategy, "message": message}
        return dict(self.api.json("POST", f"{self.base}/merges", json=body))


@contextmanager
def _pull_lock(root: Path) -> Iterator[None]:
    """Pulls into one folder take turns: the second waits, then finds the first's files."""
    if root.exists() and not root.is_dir():
        raise InvalidInput(f"{root} exists and is not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot make the folder {root}: {exc.strerror}") from None
    with (root / PULL_LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
