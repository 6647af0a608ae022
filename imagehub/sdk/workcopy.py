"""A working copy: files on disk tied to a dataset branch, like a Git checkout.

State lives in ``.imagehub/``: the server and branch, the manifest of the local head,
a stat cache keyed by (inode, size, mtime) so an unchanged tree is only stat'ed, the
staged changes, local commits not yet pushed, and open upload sessions so an
interrupted push resumes.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from imagehub.core.errors import Conflict, ImageHubError, InvalidInput
from imagehub.core.media import media_type_of
from imagehub.core.paths import STATE_FOLDER, path_problem, shown
from imagehub.sdk.client import UPLOAD_CHUNK, Client, Progress, RemoteDataset, RemoteEntry
from imagehub.sdk.credentials import token_for
from imagehub.sdk.http import RemoteInvalid, RemoteNotFound
from imagehub.sdk.objects import PLACING, ObjectCache, sha256_file
from imagehub.sdk.parallel import transfer_pool

UNREADABLE = ": make it readable, or move it out of the working copy"
_LINK = (
    "{} is a symbolic link: ImageHub versions files, not links; put the file itself there,"
    " or move the link out of the working copy"
)
CHECKOUT_JOURNAL = "checkout.json"  # names the checkout under way while it changes files
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
    links: list[str] = field(default_factory=list)  # symbolic links: never versioned, never deletions
    hashed: int = 0  # files whose content had to be read

    @property
    def clean(self) -> bool:
        return not (self.added or self.modified or self.deleted or self.staged or self.links)


def _noop(_: int) -> None:
    return None


F = TypeVar("F", bound=Callable[..., Any])


def _exclusive(method: F) -> F:
    """One command at a time reads and rewrites a working copy's state (two `status` runs,
    or `add` beside `commit`, once lost an index update or crashed on each other's temporary
    file). Another one is refused at once, as git does, rather than left waiting silently
    behind a long push."""

    @functools.wraps(method)
    def locked(self: WorkingCopy, *args: Any, **kwargs: Any) -> Any:
        if self._locked:
            return method(self, *args, **kwargs)
        with (self.state / "lock").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Conflict(
                    f"another imagehub command is working in {self.root}: run this one when it is done"
                ) from None
            self._locked = True
            try:
                return method(self, *args, **kwargs)
            finally:
                self._locked = False

    return locked  # type: ignore[return-value]


class WorkingCopy:
    def __init__(self, root: Path, cache: ObjectCache | None = None, *, purpose: str | None = None) -> None:
        self._locked = False
        self.root = root.resolve()
        self.state = self.root / STATE_FOLDER
        if not (self.state / "config.json").is_file():
            raise NotAWorkingCopy(
                f"{self.root} is not an ImageHub working copy (no {STATE_FOLDER}/); clone one first"
            )
        self.config: dict[str, Any] = self._load("config.json", {})
        self.cache = cache or ObjectCache()
        url = self.config["url"]
        self.client = Client(url, token_for(url), cache=self.cache, purpose=purpose)
        self.dataset: RemoteDataset = self.client.dataset(self.config["dataset"])

    # -- state files ---------------------------------------------------------------------
    def _load(self, name: str, default: Any) -> Any:
        path = self.state / name
        return json.loads(path.read_text()) if path.is_file() else default

    def _save(self, name: str, value: Any) -> None:
        path = self.state / name
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(value, separators=(",", ":")))
        os.replace(tmp, path)

    @classmethod
    def find(cls, start: Path, *, purpose: str | None = None) -> WorkingCopy:
        """The working copy holding ``start``: the nearest folder up with a state folder.

        One that a working copy further up tracks as files of its dataset is refused: it
        came with the data (an older server let a dataset hold ``x/.imagehub/``), and its
        config could name any server, which would then get the user's token."""
        folders = [start.resolve(), *start.resolve().parents]
        roots = [f for f in folders if (f / STATE_FOLDER / "config.json").is_file()]
        if not roots:
            raise NotAWorkingCopy(
                f"{start} is not inside an ImageHub working copy; run `imagehub clone` first"
            )
        for outer in roots[1:]:
            if planted := _tracked_state(outer, roots[0]):
                raise NotAWorkingCopy(
                    f"{roots[0] / STATE_FOLDER} is not a working copy but {planted!r}, files of the"
                    f" working copy at {outer}: run imagehub there (and delete them from the dataset)"
                )
        return cls(roots[0], purpose=purpose)

    @classmethod
    def clone(
        cls,
        url: str,
        dataset: str,
        dest: Path,
        *,
        ref: str | None = None,
        purpose: str | None = None,
        progress: Progress = _noop,
        on_total: Callable[[int], None] = _noop,
    ) -> WorkingCopy:
        """A new working copy of ``dataset`` at ``ref`` in ``dest`` (a new or empty folder).

        A clone that fails or is interrupted leaves nothing behind, so it can simply be run
        again; what it had downloaded stays in the shared object cache."""
        if dest.exists() and not dest.is_dir():
            raise InvalidInput(f"{dest} exists and is not a folder")
        if dest.exists() and any(dest.iterdir()):
            raise InvalidInput(f"{dest} exists and is not empty")
        made = not dest.exists()
        client = Client(url, token_for(url), purpose=purpose)
        try:
            info = client.dataset(dataset).info()
        finally:
            client.close()
        branch = ref or info["default_branch"]
        config = {"url": url.rstrip("/"), "dataset": dataset, "branch": branch, "head": None}
        try:
            (dest / STATE_FOLDER).mkdir(parents=True, exist_ok=True)
            (dest / STATE_FOLDER / "config.json").write_text(json.dumps(config))
            copy = cls(dest, purpose=purpose)
            copy.checkout(branch, progress=progress, on_total=on_total)
        except BaseException:
            _empty(dest, remove=made)
            raise
        return copy

    # -- reading the tree ----------------------------------------------------------------
    def _walk(self) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """(path relative to the root, entry) of every file and symbolic link, by scandir: one
        stat per file. Links are for callers to name: a link left out silently would let
        `add .` stage the file it replaced as a deletion."""
        pending = [("", str(self.root))]
        while pending:
            rel_dir, abs_dir = pending.pop()
            try:
                listing = os.scandir(abs_dir)
            except PermissionError:
                folder = rel_dir.rstrip("/") or "."
                raise InvalidInput(
                    f"{folder}: cannot read this folder (permission denied){UNREADABLE}"
                ) from None
            with listing as entries:
                for entry in entries:
                    rel = f"{rel_dir}{entry.name}"
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name.lower() != STATE_FOLDER:  # ours, or a working copy's inside ours
                            pending.append((rel + "/", entry.path))
                    elif entry.is_symlink() or (
                        entry.is_file(follow_symlinks=False) and not PLACING.fullmatch(entry.name)
                    ):
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
        several at once (blob None for the rest). A wanted symbolic link is refused."""
        tree: dict[str, list[Any]] = {}
        to_take: list[str] = []
        links: list[str] = []
        for rel, entry in self._walk():
            if entry.is_symlink():
                links += [rel] if wanted(rel) else []
                continue
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
        if links:  # refused before anything is read: a link is no file, nor a deletion
            raise InvalidInput(_LINK.format(min(links)))
        with transfer_pool(HASH_WORKERS) as pool:  # hashlib and file I/O release the GIL
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
        except PermissionError:
            raise InvalidInput(
                f"{rel}: cannot read it (permission denied): make it readable, or move it away"
            ) from None
        with handle:
            return self.cache.take(handle)

    @_exclusive
    def status(self) -> Status:
        """Changes against the head plus staged changes; files whose stat is unchanged are not read."""
        index, staged = self._index(), self._staged()
        effective = self._effective(index, staged)
        status = Status(staged=sorted([*staged["put"], *staged["delete"]]))
        seen: set[str] = set()
        refreshed = False
        for path, entry in self._walk():
            seen.add(path)
            if entry.is_symlink():
                status.links.append(path)
                continue
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
        status.links.sort()
        if refreshed:
            self._save("index.json", index)
        return status

    # -- recording changes ---------------------------------------------------------------
    @_exclusive
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
            unstaged = [p for p in staged["put"] if inside(p, prefix) and p not in tree and p not in index]
            if not matches and not gone and not unstaged:
                raise InvalidInput(f"{raw}: no such file or folder in the working copy")
            _refuse_unversionable(matches)
            for path in unstaged:  # new, staged, then deleted: nothing to commit any more
                del staged["put"][path]
                count += 1
            for path in matches:
                if path in staged["delete"]:  # back again: no longer a deletion
                    staged["delete"].remove(path)
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
        joined = self.root / raw
        # Folders on the way are resolved (the copy may be reached through a link); the last
        # name is not, so a link is seen as the link it is.
        full = joined.resolve() if joined.name in ("", ".", "..") else joined.parent.resolve() / joined.name
        try:
            rel = full.relative_to(self.root).as_posix()
        except ValueError:
            raise InvalidInput(f"{raw}: outside the working copy at {self.root}") from None
        if full.is_symlink():
            raise InvalidInput(_LINK.format(raw))
        return "" if rel == "." else rel

    @_exclusive
    def commit(self, message: str) -> dict[str, Any]:
        """Turn the staged changes into a local commit (sent by `push`)."""
        if not message.strip():
            raise InvalidInput("a commit needs a message: `imagehub commit -m 'what changed'`")
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
    @_exclusive
    def push(
        self,
        *,
        branch: str | None = None,
        workers: int = 4,
        progress: Progress = _noop,
        on_total: Callable[[int], None] = _noop,
    ) -> list[str]:
        """Upload what the server lacks, then post each local commit; returns the new commit ids.

        With ``branch`` the commits go to that branch instead, made at the local head when it
        does not exist, and the working copy follows it once a commit lands there: the way
        out when the server's branch moved on with changes to the same files (merge the two
        on the server then). A push refused there leaves the copy on its branch."""
        pending = self.pending()
        if not pending:
            return []
        target = branch or self.config["branch"]
        if branch is not None and branch != self.config["branch"] and self.dataset.branch(branch) is None:
            self.dataset.create_branch(branch, self.config["head"])
        if target is None:
            raise InvalidInput(
                "not on a branch: `imagehub push --branch NAME` sends the commits to a new one"
            )
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

        try:
            self.dataset.upload_small(small, workers=workers, progress=progress)  # whole bundles
            with transfer_pool(workers) as pool:
                list(pool.map(send, large))
        except RemoteInvalid:  # the server found bytes that do not hash to their id
            self._drop_damaged(pending, sorted(missing))
            raise
        made = []
        for record in pending:
            puts = [
                RemoteEntry(path, blob, size, media_type_of(path))
                for path, (blob, size) in record["put"].items()
            ]
            try:
                commit = self.dataset.commit(
                    target,
                    message=record["message"],
                    puts=puts,
                    deletes=record["delete"],
                    expected_parent=self.config["head"],
                )
            except RemoteInvalid as exc:
                if not str(exc).startswith("nothing to commit"):
                    raise
                # The branch already holds these changes (made on both sides, or a push whose
                # answer was lost): the local commit has nothing left to say.
                self._save("pending.json", self.pending()[1:])
                continue
            self.config["branch"], self.config["head"] = target, commit["id"]
            self._save("config.json", self.config)
            self._save("pending.json", self.pending()[1:])
            made.append(commit["id"])
        return made

    def _drop_damaged(self, pending: list[dict[str, Any]], blobs: list[str]) -> None:
        """Cached objects whose bytes no longer hash to their id (the cache does not fsync, so
        a crash can leave one) are dropped and named, so that `add` caches them afresh."""
        damaged = {b for b in blobs if self.cache.has(b) and sha256_file(self.cache.path(b)) != b}
        if not damaged:
            return
        for blob in damaged:
            self.cache.path(blob).unlink(missing_ok=True)
        paths = sorted(p for r in pending for p, (b, _) in r["put"].items() if b in damaged)
        raise InvalidInput(
            f"the object cache held a damaged copy of {paths[0]!r} ({len(paths)} file(s)), now dropped:"
            " `imagehub add` them again, then push"
        )

    @_exclusive
    def checkout(
        self,
        ref: str,
        *,
        progress: Progress = _noop,
        on_total: Callable[[int], None] = _noop,
        workers: int = 8,
    ) -> str:
        """Make the tree match ``ref``: only changed files are touched, and never a local change.

        Local commits not pushed yet are kept on top when ``ref`` is the working copy's own
        branch (a pull), as long as the server's new commits changed other paths. A file that
        already holds what ``ref`` wants is not in the way, which is what lets a checkout cut
        short by Ctrl-C or a dropped connection simply be run again."""
        unfinished = self.unfinished_checkout()
        if unfinished is not None and unfinished != ref:
            raise Conflict(
                f"a checkout of {unfinished} was cut short: `imagehub checkout {unfinished}` finishes it"
            )
        pending = self.pending()
        if pending and ref != self.config["branch"]:
            raise Conflict("local commits are not pushed yet: `imagehub push` first")
        commit, rows = self.dataset.entries(ref)
        target = {e.path: e for e in rows}
        if pending:
            target = self._with_local_commits(pending, target)
        current = self.head_manifest()
        fetch = [e for p, e in target.items() if current.get(p, [None])[0] != e.blob]
        gone = [p for p in current if p not in target]
        self._refuse_to_overwrite(self.status(), target, {e.path for e in fetch}, set(gone))
        on_total(sum(e.size for e in fetch if not self.cache.has(e.blob, e.size)))
        self.dataset.fetch_all(fetch, commit, workers=workers, progress=progress)
        # From here on files change: until the end, only this checkout may run (and finish it).
        self._save(CHECKOUT_JOURNAL, {"ref": ref})
        for path in gone:  # first, so that a file can become a folder and the other way round
            place = self.root / path
            if place.is_dir() and not place.is_symlink():
                continue  # the file is gone already, and a local folder took its place: kept
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):  # or a file took a folder's
                place.unlink()
        _remove_empty_folders(self.root, gone)
        for entry in fetch:  # an empty folder where a file goes (what holds files was refused)
            if (place := self.root / entry.path).is_dir() and not place.is_symlink():
                _remove_empty_tree(place)
        index = {p: r for p, r in self._index().items() if p in target}
        placements = [(entry.blob, self.root / entry.path) for entry in fetch]
        written = {e.path for e in fetch}
        kept = {record[0] for path, record in index.items() if path not in written}
        placed = self.cache.materialise_all(placements, workers, held=kept)
        for entry, st in zip(fetch, placed, strict=True):
            index[entry.path] = [entry.blob, entry.size, st.st_ino, st.st_mtime_ns]
        self._save("index.json", index)
        on_branch = self.dataset.branch(ref) is not None
        self.config["branch"] = ref if on_branch else None  # else detached: a tag or commit
        self.config["head"] = commit
        self._save("config.json", self.config)
        (self.state / CHECKOUT_JOURNAL).unlink()
        return commit

    def unfinished_checkout(self) -> str | None:
        """The ref of a checkout cut short while it changed files, if any."""
        journal = self._load(CHECKOUT_JOURNAL, None)
        return None if journal is None else str(journal["ref"])

    def _with_local_commits(
        self, pending: list[dict[str, Any]], target: dict[str, RemoteEntry]
    ) -> dict[str, RemoteEntry]:
        """``target`` (the branch's new head) with the local commits' changes on top; refused
        when the server's new commits changed a path the local ones changed differently."""
        local: dict[str, RemoteEntry | None] = {}
        for record in pending:
            local.update(
                (path, RemoteEntry(path, blob, size)) for path, (blob, size) in record["put"].items()
            )
            local.update(dict.fromkeys(record["delete"]))
        base: dict[str, RemoteEntry] = {}
        if self.config["head"]:
            _, rows = self.dataset.entries(self.config["head"])
            base = {e.path: e for e in rows if e.path in local}
        clashes = sorted(
            path
            for path, mine in local.items()
            if _blob(base.get(path)) != _blob(target.get(path)) and _blob(mine) != _blob(target.get(path))
        )
        if clashes:
            raise Conflict(
                f"the server's new commits and your local ones both changed {clashes[0]!r}"
                f" ({len(clashes)} path(s)): `imagehub push --branch NAME`, then merge NAME on the server"
            )
        merged = dict(target)
        for path, mine in local.items():
            if mine is None:
                merged.pop(path, None)
            else:
                merged[path] = mine
        # One side made a file where the other made a folder: no working copy could hold both.
        if shapes := sorted(p for p in merged if any(folder in merged for folder in _parents(p))):
            raise Conflict(
                f"{shapes[0]!r} lies in a folder that the other side made a file"
                f" ({len(shapes)} path(s)): `imagehub push --branch NAME`, then merge NAME on the server"
            )
        return merged

    def _refuse_to_overwrite(
        self, status: Status, target: dict[str, RemoteEntry], written: set[str], removed: set[str]
    ) -> None:
        """Refuse before touching anything when the checkout would lose local work: a change
        to a file it writes or removes, an untracked file or folder where it writes, or a
        link it would write through. A file that already holds what ``target`` wants there
        is no loss. Files it does not touch may carry local changes."""
        if status.staged:
            raise Conflict("changes are staged: commit and push them, or undo them, first")
        touched = written | removed
        in_the_way = [p for p in status.deleted if p in written]
        for path in [*status.modified, *status.added]:
            if path not in touched:
                continue
            wanted = target.get(path)
            if wanted is None or sha256_file(self.root / path) != wanted.blob:
                in_the_way.append(path)
        for path in written:
            place = self.root / path
            if place.is_symlink() or (place.is_dir() and _holds_more_than(place, path, removed)):
                in_the_way.append(path)
        for folder in sorted(_folders_of(touched)):
            if (self.root / folder).is_symlink():
                raise InvalidInput(
                    f"{folder} is a symbolic link; ImageHub writes and removes files only inside the"
                    " working copy: replace the link with a folder"
                )
        for folder in _folders_of(written):  # a file that stays where a written path needs a folder
            place = self.root / folder
            if place.exists() and not place.is_dir() and folder not in removed:
                in_the_way.append(folder)
        if in_the_way:
            first = sorted(in_the_way)[0]
            raise Conflict(
                f"local changes would be overwritten: {first!r} ({len(in_the_way)} path(s));"
                " commit and push them, or move them away, first"
            )

    def pull(self, **kwargs: Any) -> str:
        branch = self.config["branch"]
        if branch is None:
            raise InvalidInput(
                f"not on a branch (at {str(self.config['head'])[:12]}): `imagehub checkout BRANCH` first"
            )
        return self.checkout(branch, **kwargs)


def _empty(folder: Path, *, remove: bool) -> None:
    """Remove what a failed clone put in ``folder`` (and the folder, when the clone made it)."""
    if remove:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _refuse_unversionable(paths: list[str]) -> None:
    """Names a dataset cannot hold (a backslash, a control character, too long, bytes that
    are not UTF-8) are refused before they reach a local commit that the server would turn
    away, each with its reason."""
    for path in paths:
        if reason := path_problem(path):
            raise InvalidInput(f"'{shown(path)}' cannot be versioned: rename it ({reason})")


def _tracked_state(outer: Path, inner: Path) -> str | None:
    """A file of the working copy at ``outer`` inside ``inner``'s state folder, if any."""
    prefix = f"{inner.relative_to(outer).as_posix()}/"
    try:
        index = json.loads((outer / STATE_FOLDER / "index.json").read_text())
    except (OSError, ValueError):  # no checkout there yet: it tracks nothing
        return None
    return next(
        (
            p
            for p in index
            if p.startswith(prefix) and p[len(prefix) :].split("/")[0].casefold() == STATE_FOLDER
        ),
        None,
    )


def _holds_more_than(folder: Path, rel: str, removed: set[str]) -> bool:
    """Whether ``folder`` (at ``rel``) holds anything, a link included, that the checkout does
    not remove itself: then a file cannot take its place. Empty folders hold nothing."""
    for dirpath, _dirs, names in os.walk(folder):
        inside = Path(dirpath).relative_to(folder)
        for name in names:
            if (Path(rel) / inside / name).as_posix() not in removed:
                return True
    return False


def _folders_of(paths: set[str]) -> set[str]:
    return {folder for path in paths for folder in _parents(path)}


def _parents(path: str) -> list[str]:
    """``a/b/c`` -> ``a``, ``a/b``: the folders a path needs."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _blob(entry: RemoteEntry | None) -> str | None:
    return None if entry is None else entry.blob


def _remove_empty_tree(folder: Path) -> None:
    for dirpath, _dirs, _names in os.walk(folder, topdown=False):
        os.rmdir(dirpath)


def _remove_empty_folders(root: Path, removed: list[str]) -> None:
    """Folders left empty by removed files go too, deepest first (never ``root``)."""
    folders = {
        parent
        for path in removed
        for parent in (root / path).parents
        if parent != root and root in parent.parents
    }
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:  # not empty (untracked files), or already gone
            continue
