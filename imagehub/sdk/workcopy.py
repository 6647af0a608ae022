"""A working copy: files on disk tied to a dataset branch, like a Git checkout.

State lives in ``.imagehub/``: the server and branch, the manifest of the local head,
a stat cache keyed by (inode, size, mtime) so an unchanged tree is only stat'ed, the
staged changes, local commits not yet pushed, and open upload sessions so an
interrupted push resumes.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagehub.core.errors import Conflict, ImageHubError, InvalidInput
from imagehub.sdk.client import UPLOAD_CHUNK, Client, Progress, RemoteDataset, RemoteEntry
from imagehub.sdk.credentials import token_for
from imagehub.sdk.http import RemoteNotFound
from imagehub.sdk.objects import ObjectCache, sha256_file

STATE_DIR = ".imagehub"
HASH_WORKERS = min(8, (os.cpu_count() or 2) * 2)
Manifest = dict[str, list[Any]]  # path -> [blob, size]


class NotAWorkingCopy(ImageHubError):
    pass


@dataclass
class Status:
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    staged: list[str] = field(default_factory=list)
    hashed: int = 0  # files whose content had to be read

    @property
    def clean(self) -> bool:
        return not (self.added or self.modified or self.deleted or self.staged)


def _noop(_: int) -> None:
    return None


class WorkingCopy:
    def __init__(self, root: Path, cache: ObjectCache | None = None) -> None:
        self.root = root.resolve()
        self.state = self.root / STATE_DIR
        if not (self.state / "config.json").is_file():
            raise NotAWorkingCopy(
                f"{self.root} is not an ImageHub working copy (no {STATE_DIR}/); clone one first"
            )
        self.config: dict[str, Any] = self._load("config.json", {})
        self.cache = cache or ObjectCache()
        self.client = Client(self.config["url"], token_for(self.config["url"]), cache=self.cache)
        self.dataset: RemoteDataset = self.client.dataset(self.config["dataset"])

    # -- state files ---------------------------------------------------------------------
    def _load(self, name: str, default: Any) -> Any:
        path = self.state / name
        return json.loads(path.read_text()) if path.is_file() else default

    def _save(self, name: str, value: Any) -> None:
        path = self.state / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(value, separators=(",", ":")))
        os.replace(tmp, path)

    @classmethod
    def find(cls, start: Path) -> WorkingCopy:
        for candidate in (start.resolve(), *start.resolve().parents):
            if (candidate / STATE_DIR / "config.json").is_file():
                return cls(candidate)
        raise NotAWorkingCopy(f"{start} is not inside an ImageHub working copy; run `imagehub clone` first")

    @classmethod
    def clone(
        cls,
        url: str,
        dataset: str,
        dest: Path,
        *,
        ref: str | None = None,
        progress: Progress = _noop,
        on_total: Callable[[int], None] = _noop,
    ) -> WorkingCopy:
        if dest.exists() and any(dest.iterdir()):
            raise InvalidInput(f"{dest} exists and is not empty")
        (dest / STATE_DIR).mkdir(parents=True, exist_ok=True)
        client = Client(url, token_for(url))
        try:
            info = client.dataset(dataset).info()
        finally:
            client.close()
        branch = ref or info["default_branch"]
        config = {"url": url.rstrip("/"), "dataset": dataset, "branch": branch, "head": None}
        (dest / STATE_DIR / "config.json").write_text(json.dumps(config))
        copy = cls(dest)
        copy.checkout(branch, progress=progress, on_total=on_total)
        return copy

    # -- reading the tree ----------------------------------------------------------------
    def _walk(self) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """(path relative to the root, entry) of every file, by scandir: one stat per file."""
        pending = [("", str(self.root))]
        while pending:
            rel_dir, abs_dir = pending.pop()
            with os.scandir(abs_dir) as entries:
                for entry in entries:
                    rel = f"{rel_dir}{entry.name}"
                    if entry.is_dir(follow_symlinks=False):
                        if rel != STATE_DIR:
                            pending.append((rel + "/", entry.path))
                    elif entry.is_file(follow_symlinks=False) and not entry.name.endswith(".imagehub-tmp"):
                        yield rel, entry

    def _index(self) -> dict[str, list[Any]]:
        """The local head: path -> [blob, size, inode, mtime_ns] (stat as of when the file
        was last known to hold that blob; 0 when unknown)."""
        return dict(self._load("index.json", {}))

    def head_manifest(self) -> Manifest:
        return {path: record[:2] for path, record in self._index().items()}

    def _staged(self) -> dict[str, Any]:
        return dict(self._load("staged.json", {"put": {}, "delete": []}))

    @staticmethod
    def _effective(index: dict[str, list[Any]], staged: dict[str, Any]) -> dict[str, list[Any]]:
        """What the next commit would hold: the head with the staged changes applied."""
        effective = {**index, **staged["put"]}
        for path in staged["delete"]:
            effective.pop(path, None)
        return effective

    def _scan(self, known: dict[str, list[Any]], wanted: Callable[[str], bool]) -> dict[str, list[Any]]:
        """Every file as [blob, size, inode, mtime_ns]. A file whose stat matches ``known``
        is not read; other files that are ``wanted`` are hashed and cached in the same read,
        several at once (blob None for the rest)."""
        tree: dict[str, list[Any]] = {}
        to_take: list[str] = []
        for rel, entry in self._walk():
            st = entry.stat(follow_symlinks=False)
            record = known.get(rel)
            blob = None
            if (
                record is not None
                and record[1] == st.st_size
                and record[2] == st.st_ino
                and record[3] == st.st_mtime_ns
                and (not wanted(rel) or self.cache.has(record[0], record[1]))
            ):
                blob = record[0]
            elif wanted(rel):  # new, changed, or its cached copy gone or cut short: read it
                to_take.append(rel)
            tree[rel] = [blob, st.st_size, st.st_ino, st.st_mtime_ns]
        with ThreadPoolExecutor(HASH_WORKERS) as pool:  # hashlib and file I/O release the GIL
            for rel, taken in zip(to_take, pool.map(self._take, to_take), strict=True):
                if taken is None:
                    del tree[rel]
                else:
                    tree[rel][:2] = taken
        return tree

    def _take(self, rel: str) -> tuple[str, int] | None:
        """Hash and cache one file; None when it was removed since the walk found it."""
        try:
            handle = (self.root / rel).open("rb")
        except FileNotFoundError:
            return None
        with handle:
            return self.cache.take(handle)

    def status(self) -> Status:
        """Changes against the head plus staged changes; files whose stat is unchanged are not read."""
        index, staged = self._index(), self._staged()
        effective = self._effective(index, staged)
        status = Status(staged=sorted([*staged["put"], *staged["delete"]]))
        seen: set[str] = set()
        refreshed = False
        for path, entry in self._walk():
            seen.add(path)
            expected = effective.get(path)
            if expected is None:
                status.added.append(path)
                continue
            st = entry.stat(follow_symlinks=False)
            if expected[1] == st.st_size and expected[2] == st.st_ino and expected[3] == st.st_mtime_ns:
                continue
            status.hashed += 1
            if sha256_file(Path(entry.path)) != expected[0]:
                status.modified.append(path)
            elif index.get(path) == expected:
                index[path] = [expected[0], st.st_size, st.st_ino, st.st_mtime_ns]  # same bytes, new stat
                refreshed = True
        status.deleted = sorted(p for p in effective if p not in seen)
        status.added.sort()
        status.modified.sort()
        if refreshed:
            self._save("index.json", index)
        return status

    # -- recording changes ---------------------------------------------------------------
    def add(self, paths: list[str]) -> int:
        """Stage the current content of these paths (files or folders; missing ones are deletions).

        Their new content goes into the object cache as it is hashed, so a later `push`
        sends exactly what was staged."""
        index, staged = self._index(), self._staged()
        prefixes = [self._relative(raw) for raw in paths]

        def inside(path: str, prefix: str) -> bool:
            return not prefix or path == prefix or path.startswith(prefix + "/")

        tree = self._scan(self._effective(index, staged), lambda path: any(inside(path, p) for p in prefixes))
        count = 0
        for raw, prefix in zip(paths, prefixes, strict=True):
            matches = [p for p in tree if inside(p, prefix)]
            gone = [p for p in index if inside(p, prefix) and p not in tree]
            if not matches and not gone:
                raise InvalidInput(f"{raw}: no such file or folder in the working copy")
            for path in matches:
                if index.get(path, [None])[0] == tree[path][0]:
                    staged["put"].pop(path, None)
                    continue
                staged["put"][path] = tree[path]
                count += 1
            for path in gone:
                staged["put"].pop(path, None)
                if path not in staged["delete"]:
                    staged["delete"].append(path)
                count += 1
        self._save("staged.json", staged)
        return count

    def _relative(self, raw: str) -> str:
        """A path given on the command line, relative to the root ("" for the whole tree)."""
        if raw in (".", ""):
            return ""
        try:
            rel = (self.root / raw).resolve().relative_to(self.root).as_posix()
        except ValueError:
            raise InvalidInput(f"{raw}: outside the working copy at {self.root}") from None
        return "" if rel == "." else rel

    def commit(self, message: str) -> dict[str, Any]:
        """Turn the staged changes into a local commit (sent by `push`)."""
        index, staged = self._index(), self._staged()
        if not staged["put"] and not staged["delete"]:
            raise InvalidInput("nothing staged: `imagehub add PATH` first")
        pending = self._load("pending.json", [])
        record = {
            "message": message,
            "put": {path: entry[:2] for path, entry in staged["put"].items()},
            "delete": sorted(staged["delete"]),
        }
        pending.append(record)
        self._save("pending.json", pending)
        self._save("index.json", self._effective(index, staged))
        self._save("staged.json", {"put": {}, "delete": []})
        return record

    def pending(self) -> list[dict[str, Any]]:
        return list(self._load("pending.json", []))

    # -- exchanging with the server --------------------------------------------------------
    def push(
        self, *, workers: int = 4, progress: Progress = _noop, on_total: Callable[[int], None] = _noop
    ) -> list[str]:
        """Upload what the server lacks, then post each local commit; returns the new commit ids."""
        pending = self.pending()
        if not pending:
            return []
        wanted = {blob: size for record in pending for blob, size in record["put"].values()}
        missing = self.dataset.missing(sorted(wanted))
        if lost := sorted(b for b in missing if not self.cache.has(b, wanted[b])):
            paths = sorted(p for r in pending for p, (b, _) in r["put"].items() if b in lost)
            raise InvalidInput(
                f"the object cache lost or cut short what was staged for {paths[0]!r}"
                f" ({len(paths)} file(s)): `imagehub add` them again, then push"
            )
        on_total(sum(wanted[b] for b in missing))
        sessions: dict[str, str] = self._load("uploads.json", {})
        lock = threading.Lock()

        def remember(blob: str, upload_id: str | None) -> None:
            with lock:
                if upload_id is None:
                    sessions.pop(blob, None)
                else:
                    sessions[blob] = upload_id
                self._save("uploads.json", sessions)

        small = [(self.cache.path(b), b) for b in sorted(missing) if wanted[b] <= UPLOAD_CHUNK]
        large = sorted(b for b in missing if wanted[b] > UPLOAD_CHUNK)
        self.dataset.upload_small(
            small, workers=workers, progress=progress
        )  # whole bundles: nothing to resume

        def send(blob: str) -> None:
            path = self.cache.path(blob)
            upload_id = sessions.get(blob)
            if upload_id is None:
                upload_id, direct = self.dataset.start_upload(blob, path.stat().st_size)
                if upload_id is None:
                    return
                if direct:  # straight to object storage: one PUT, verified by the server
                    self.dataset.put_direct(path, direct, upload_id, progress)
                    return
                remember(blob, upload_id)
            try:
                self.dataset.finish_upload(path, upload_id, progress)
            except RemoteNotFound:  # the session expired: start a new one
                self.dataset.upload(path, blob, progress)
            remember(blob, None)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(send, large))
        made = []
        for record in pending:
            puts = [RemoteEntry(path, blob, size) for path, (blob, size) in record["put"].items()]
            commit = self.dataset.commit(
                self.config["branch"],
                message=record["message"],
                puts=puts,
                deletes=record["delete"],
                expected_parent=self.config["head"],
            )
            self.config["head"] = commit["id"]
            self._save("config.json", self.config)
            self._save("pending.json", self.pending()[1:])
            made.append(commit["id"])
        return made

    def checkout(
        self,
        ref: str,
        *,
        progress: Progress = _noop,
        on_total: Callable[[int], None] = _noop,
        workers: int = 8,
    ) -> str:
        """Make the tree match ``ref``: only changed files are touched."""
        if self.pending():
            raise Conflict("local commits are not pushed yet: `imagehub push` first")
        status = self.status()
        if status.modified or status.deleted or status.staged:
            raise Conflict("the working copy has changes: commit and push them, or undo them, first")
        commit, rows = self.dataset.entries(ref)
        target = {e.path: e for e in rows}
        if clash := sorted(p for p in target if p.split("/", 1)[0].casefold() == STATE_DIR):
            raise InvalidInput(
                f"{ref} holds {clash[0]!r}, inside the folder where a working copy keeps its state;"
                " pull it with `RemoteDataset.pull` into a plain folder instead"
            )
        current = self.head_manifest()
        fetch = [e for p, e in target.items() if current.get(p, [None])[0] != e.blob]
        on_total(sum(e.size for e in fetch if not self.cache.has(e.blob, e.size)))
        self.dataset.fetch_all(fetch, commit, workers=workers, progress=progress)
        index = {p: r for p, r in self._index().items() if p in target}
        for entry in fetch:
            written = self.root / entry.path
            self.cache.materialise(entry.blob, written)
            st = written.stat()
            index[entry.path] = [entry.blob, entry.size, st.st_ino, st.st_mtime_ns]
        for path in current:
            if path not in target:
                (self.root / path).unlink(missing_ok=True)
        self._save("index.json", index)
        branch_names = {b["name"] for b in self.dataset.branches()}
        if ref in branch_names:
            self.config["branch"] = ref
        self.config["head"] = commit
        self._save("config.json", self.config)
        return commit

    def pull(self, **kwargs: Any) -> str:
        return self.checkout(self.config["branch"], **kwargs)
