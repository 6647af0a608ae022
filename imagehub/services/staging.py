"""A branch's uncommitted changes, the way lakeFS clients work: stage, look, commit or reset.

Reads through a branch name see what is staged on it over its head commit; reads through
a tag, a commit or ``branch@`` (lakeFS's committed state of a branch) see the commit alone.
A commit turns everything staged into one change set, applied by compare-and-swap like any
other commit, and clears only the rows it read.

ImageHub's own commits, merges and reverts (the REST API, proposals, the pipeline) move
branches without looking at what is staged there. So a staged change records what the head
held at its path when it was staged (its base), and stands only while the head still holds
that: once any writer changes the path on the branch, the committed content wins and the
staged change lapses, so nothing staged can undo committed work. A write that would leave
a path as the head holds it stages nothing (and drops what was staged there), as lakeFS
stages nothing for the delete of a path it finds nowhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import BinaryIO, Protocol, TypeVar

from sqlalchemy.orm import Session

from imagehub.core.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from imagehub.core.media import MEDIA_TYPE_RULE, OCTET_STREAM, is_media_type, media_type_of
from imagehub.core.paths import validate_relative_path, validate_stored_path
from imagehub.core.vcs import Change, ChangeSet, Commit, Entry, RefKind, Repository
from imagehub.core.vcs.repository import ProtectedBranch
from imagehub.models import staging as staged_rows
from imagehub.models.dataset import Dataset
from imagehub.models.staging import Staged
from imagehub.services import blobs
from imagehub.services.platform import Platform

PAGE = 1000
FIRST_PAGE = 16
PAST_EVERY_CHAR = chr(0x10FFFF)  # appended to a folder, sorts after everything inside it


class DirtyBranch(Conflict):
    """A branch with uncommitted changes takes no merge or revert (lakeFS's ErrDirtyBranch)."""


class Workspace:
    """The branches of one dataset, with what is staged on them."""

    def __init__(self, session: Session, dataset: Dataset, repo: Repository) -> None:
        self.session = session
        self.dataset = dataset
        self.repo = repo

    def _branch_row(self, branch: str) -> int:
        found = staged_rows.ref_id(self.session, self.dataset.id, branch)
        if found is None:
            raise NotFound(f"no branch {branch!r} in {self.dataset.full_name}")
        return found

    def _writable(self, branch: str) -> int:
        if self.repo.get_ref(branch, RefKind.BRANCH).protected:
            raise ProtectedBranch(f"branch {branch!r} is protected: open a change proposal and merge instead")
        return self._branch_row(branch)

    def upload(
        self,
        platform: Platform,
        branch: str,
        path: str,
        body: bytes | BinaryIO,
        media_type: str = "",
        *,
        if_absent: bool = False,
        if_match: str | None = None,
    ) -> Entry:
        """Store the bytes and stage them at ``path``; the type is told by the name when the
        client sends none of its own. ``if_absent`` and ``if_match`` (an ETag) are lakeFS's
        conditional writes: the upload is refused (412) unless the condition holds."""
        validate_relative_path(path)
        if media_type and not is_media_type(media_type):
            raise InvalidInput(f"Content-Type {media_type[:100]!r}: {MEDIA_TYPE_RULE}")
        self._writable(branch)
        self._check_conditions(branch, path, if_absent, if_match)  # before the bytes are stored
        self._refuse_clash(branch, path)
        blob, size = blobs.upload(self.session, platform, body)
        if not media_type or media_type == OCTET_STREAM:
            media_type = media_type_of(path)
        entry = Entry(path, blob, size, media_type)
        ref = self._locked(branch)
        self._check_conditions(branch, path, if_absent, if_match)  # again, now nobody can write between
        self._stage(ref, branch, path, entry)
        return entry

    def copy(self, branch: str, path: str, source: str, source_path: str) -> Entry:
        """Stage at ``path`` the object ``source_path`` holds at ref ``source`` (what is staged
        there included): objects are stored by content, so only the entry is copied."""
        validate_relative_path(path)
        self._writable(branch)
        found = self.stat(source, source_path)
        self._refuse_clash(branch, path)
        entry = Entry(path, found.blob, found.size, found.media_type)
        self._stage(self._locked(branch), branch, path, entry)
        return entry

    def _locked(self, branch: str) -> int:
        """The branch's row, held until the transaction ends: writes to what is staged on one
        branch take turns, so a conditional upload's check and its write are one step."""
        ref = self._branch_row(branch)
        staged_rows.lock_branch(self.session, ref)
        return ref

    def _check_conditions(self, branch: str, path: str, if_absent: bool, if_match: str | None) -> None:
        if not if_absent and if_match is None:
            return
        current = self._current(branch, path)
        if if_absent and current is not None:
            raise PreconditionFailed(f"{path!r} exists on branch {branch!r}")
        if if_match is not None and (current is None or current.blob != if_match.strip('"')):
            raise PreconditionFailed(f"{path!r} on branch {branch!r} is not at ETag {if_match}")

    def _current(self, branch: str, path: str) -> Entry | None:
        try:
            return self.stat(branch, path)
        except NotFound:
            return None

    def _refuse_clash(self, branch: str, path: str) -> None:
        """No path may be a file and a folder at once: refused when staged, not at the commit
        (where it would hold back everything else staged on the branch)."""
        if next(self.entries(branch, prefix=path + "/"), None) is not None:
            raise Conflict(f"{path!r} is a folder on branch {branch!r}: it cannot also be a file")
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if self._current(branch, folder) is not None:
                raise Conflict(f"{folder!r} is a file on branch {branch!r}: {path!r} cannot lie inside it")

    def remove(self, branch: str, path: str) -> None:
        """Stage a delete; a path that exists nowhere is no error, as in lakeFS."""
        validate_stored_path(path)
        self._writable(branch)
        self._stage(self._locked(branch), branch, path, None)

    def _stage(self, ref: int, branch: str, path: str, entry: Entry | None) -> None:
        """Stage ``entry`` (None: a delete) over what the head holds at ``path``, with the
        branch held (``ref`` from ``_locked``) so that no commit comes between; a write that
        changes nothing there only drops what was staged before."""
        committed = self._committed_entry(self.repo.get_ref(branch, RefKind.BRANCH).commit, path)
        if _same(committed, entry):
            staged_rows.unstage(self.session, ref, path)
        else:
            staged_rows.stage(self.session, ref, path, entry, _content(committed))

    def reset(self, branch: str, prefix: str = "") -> int:
        """Drop what is staged on ``branch`` (under ``prefix``); how many paths were dropped."""
        ref = self._branch_row(branch)
        dropped = staged_rows.staged(self.session, ref, prefix)
        staged_rows.clear(self.session, ref, dropped)
        return len(dropped)

    def reset_path(self, branch: str, path: str) -> bool:
        """Drop what is staged at exactly ``path``; whether anything was."""
        ref = self._branch_row(branch)
        pending = staged_rows.staged_at(self.session, ref, path)
        if pending is not None:
            staged_rows.clear(self.session, ref, [pending])
        return pending is not None

    def _staging_of(self, ref: str) -> int | None:
        """The branch row when ``ref`` names a branch (whose reads see staged changes)."""
        return staged_rows.ref_id(self.session, self.dataset.id, ref)

    def stat(self, ref: str, path: str) -> Entry:
        committed = self._committed_entry(ref, path)
        branch = self._staging_of(ref)
        pending = staged_rows.staged_at(self.session, branch, path) if branch is not None else None
        if pending is None or not _stands(pending, committed):
            if committed is None:
                raise NotFound(f"no path {path!r} at {ref!r}")
            return committed
        if pending.entry is None:
            raise NotFound(f"{path!r} is deleted (uncommitted) on branch {ref!r}")
        return pending.entry

    def modified(self, ref: str, entries: Sequence[Entry]) -> dict[str, datetime]:
        """When each entry read through ``ref`` took that form: a staged one when it was
        staged, a committed one when the commit read was made (manifests keep no time per
        path, and finding the commit that last changed each path would walk history)."""
        made = self.repo.resolve(ref).created_at
        branch = self._staging_of(ref)
        paths = [entry.path for entry in entries]
        staged = staged_rows.staged_among(self.session, branch, paths) if branch is not None else {}
        return {e.path: s.staged_at if (s := staged.get(e.path)) and s.entry == e else made for e in entries}

    def entries(self, ref: str, *, prefix: str = "", after: str = "") -> Iterator[Entry]:
        """Every path under ``prefix`` after ``after``, staged changes included, in order."""
        commit = self.repo.resolve(ref).id
        return self._merged(commit, self._pending(ref, prefix), prefix, after)

    def _pending(self, ref: str, prefix: str) -> list[Staged]:
        branch = self._staging_of(ref)
        return staged_rows.staged(self.session, branch, prefix) if branch is not None else []

    def _merged(self, commit: str, pending: list[Staged], prefix: str, after: str) -> Iterator[Entry]:
        later = (s for s in pending if s.path > after)
        return _overlay(self._committed(commit, prefix, after), later)

    def listing(
        self, ref: str, *, prefix: str, after: str, amount: int, delimiter: str = ""
    ) -> tuple[list[Entry | str], bool]:
        """One page of entries, folded (see ``fold``); and whether more follow."""
        commit = self.repo.resolve(ref).id
        pending = self._pending(ref, prefix)  # read once, however many folders are skipped
        entries = partial(self._merged, commit, pending, prefix)
        return fold(entries, prefix=prefix, after=after, amount=amount, delimiter=delimiter)

    def _committed(self, commit: str, prefix: str, after: str) -> Iterator[Entry]:
        """The commit's entries, in pages that grow: a listing that skips from folder to
        folder reads a few entries of each, not a thousand."""
        page_size = FIRST_PAGE
        while True:
            page = self.repo.list_objects(commit, prefix=prefix, after=after, limit=page_size)
            yield from page
            if len(page) < page_size:
                return
            after = page[-1].path
            page_size = min(page_size * 4, PAGE)

    def uncommitted(self, branch: str, prefix: str = "") -> list[Change]:
        """What a commit of ``branch`` would change now, in path order."""
        head = self.repo.get_ref(branch, RefKind.BRANCH).commit
        return list(self._changes(head, staged_rows.staged(self.session, self._branch_row(branch), prefix)))

    def settle(self, branch: str) -> None:
        """Make way for a merge or revert onto ``branch``, as lakeFS does: refused while a
        staged change stands (DirtyBranch); else the rows left, which change nothing, are
        dropped. The branch stays held to the transaction's end: nothing is staged between."""
        self._locked(branch)
        if self.uncommitted(branch):
            raise DirtyBranch(f"branch {branch!r} has uncommitted changes: commit or reset them first")
        self.reset(branch)

    def _changes(self, head: str, pending: Iterable[Staged]) -> Iterator[Change]:
        """The staged changes that still stand over ``head`` and change what it holds."""
        tree = self.repo.resolve(head).tree
        for staged in pending:
            before = self.repo.tree.get(tree, staged.path)
            if _stands(staged, before) and not _same(before, staged.entry):
                yield Change.between(before, staged.entry)

    def _committed_entry(self, ref: str, path: str) -> Entry | None:
        return self.repo.tree.get(self.repo.resolve(ref).tree, path)

    def commit(
        self, branch: str, *, author: str, message: str, metadata: dict[str, str], allow_empty: bool
    ) -> Commit:
        """Everything staged on ``branch`` as one commit on its head. lakeFS clients send no
        expected head: the branch is held first, so commits of it take turns, each on the
        head the last one left (as lakeFS does), rather than racing and trying again within
        one transaction, which takes locks out of order and deadlocks with the next racer."""
        ref = self._locked(branch)
        head = self.repo.get_ref(branch, RefKind.BRANCH).commit
        pending = staged_rows.staged(self.session, ref)
        made = self.repo.commit(
            branch,
            self._change_set(head, pending),
            author=author,
            message=message,
            metadata=metadata,
            expected_parent=head,
            allow_empty=allow_empty,
        )
        staged_rows.clear(self.session, ref, pending)
        return made

    def _change_set(self, head: str, pending: Iterable[Staged]) -> ChangeSet:
        changes = ChangeSet()
        for change in self._changes(head, pending):
            if change.right is None:
                changes.delete(change.path)
            else:
                changes.put(change.right)
        return changes


class _Pathed(Protocol):
    @property
    def path(self) -> str: ...


P = TypeVar("P", bound=_Pathed)


def fold(
    items_after: Callable[[str], Iterable[P]], *, prefix: str, after: str, amount: int, delimiter: str
) -> tuple[list[P | str], bool]:
    """One page of path-ordered items (``items_after(cursor)`` yields those past ``cursor``)
    after ``after``, with items sharing a folder below ``prefix`` folded into that folder (a
    ``str``) when a ``delimiter`` is given, as lakeFS lists; and whether more follow."""
    folder_cursor = delimiter and after.endswith(delimiter) and len(after) > len(prefix)
    cursor = after + PAST_EVERY_CHAR if folder_cursor else after
    found: list[P | str] = []
    while len(found) <= amount:
        folded = None
        for item in items_after(cursor):
            cut = item.path.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                folded = item.path[: cut + len(delimiter)]
                break
            found.append(item)
            if len(found) > amount:
                break
        if folded is None:
            break
        found.append(folded)
        cursor = folded + PAST_EVERY_CHAR  # skip the rest of the folder (paths hold no U+10FFFF)
    return found[:amount], len(found) > amount


def _content(entry: Entry | None) -> str:
    """What a path holds, as a staged change's base records it: the blob, or "" for nothing."""
    return entry.blob if entry is not None else ""


def _stands(staged: Staged, committed: Entry | None) -> bool:
    """Whether a staged change still stands: the head holds at its path what it held when
    the change was staged (a row staged before bases were kept always stands)."""
    return staged.base is None or staged.base == _content(committed)


def _same(left: Entry | None, right: Entry | None) -> bool:
    """Whether two versions of a path hold the same object, the imaging summary aside (only
    ImageHub's own clients record one: the bytes uploaded again keep it)."""
    if left is None or right is None:
        return left is right
    return (left.blob, left.size, left.media_type) == (right.blob, right.size, right.media_type)


def _shown(staged: Staged, committed: Entry | None) -> tuple[Entry, ...]:
    """What a staged path shows: the staged entry while the change stands, else the committed one."""
    shown = staged.entry if _stands(staged, committed) else committed
    return () if shown is None else (shown,)


def _overlay(committed: Iterator[Entry], pending: Iterator[Staged]) -> Iterator[Entry]:
    """Merge two path-ordered streams: a staged change that stands replaces or hides the
    committed entry at its path."""
    staged = next(pending, None)
    for entry in committed:
        while staged is not None and staged.path < entry.path:
            yield from _shown(staged, None)
            staged = next(pending, None)
        if staged is not None and staged.path == entry.path:
            yield from _shown(staged, entry)
            staged = next(pending, None)
        else:
            yield entry
    while staged is not None:
        yield from _shown(staged, None)
        staged = next(pending, None)
