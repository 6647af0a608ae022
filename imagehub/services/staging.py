"""A branch's uncommitted changes, the way lakeFS clients work: stage, look, commit or reset.

Reads through a branch name see what is staged on it over its head commit; reads through
a tag or commit see the commit alone. A commit turns everything staged into one change
set, applied by compare-and-swap like any other commit, and clears only the rows it read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO

from sqlalchemy.orm import Session

from imagehub.core.errors import NotFound
from imagehub.core.media import OCTET_STREAM, media_type_of
from imagehub.core.paths import validate_relative_path
from imagehub.core.vcs import Change, ChangeSet, Commit, Entry, RefKind, Repository
from imagehub.core.vcs.repository import ProtectedBranch
from imagehub.models import staging as staged_rows
from imagehub.models.dataset import Dataset
from imagehub.models.staging import Staged
from imagehub.services import blobs
from imagehub.services.platform import Platform

PAGE = 1000
PAST_EVERY_CHAR = chr(0x10FFFF)  # appended to a folder, sorts after everything inside it


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
        self, platform: Platform, branch: str, path: str, body: bytes | BinaryIO, media_type: str = ""
    ) -> Entry:
        """Store the bytes and stage them at ``path``; the type is told by the name when the
        client sends none of its own."""
        validate_relative_path(path)
        ref = self._writable(branch)
        blob, size = blobs.upload(self.session, platform, body)
        if not media_type or media_type == OCTET_STREAM:
            media_type = media_type_of(path)
        entry = Entry(path, blob, size, media_type)
        staged_rows.stage(self.session, ref, path, entry)
        return entry

    def remove(self, branch: str, path: str) -> None:
        """Stage a delete; a path that exists nowhere is no error, as in lakeFS."""
        validate_relative_path(path)
        staged_rows.stage(self.session, self._writable(branch), path, None)

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
        branch = self._staging_of(ref)
        pending = staged_rows.staged_at(self.session, branch, path) if branch is not None else None
        if pending is None:
            return self.repo.stat(ref, path)
        if pending.entry is None:
            raise NotFound(f"{path!r} is deleted (uncommitted) on branch {ref!r}")
        return pending.entry

    def entries(self, ref: str, *, prefix: str = "", after: str = "") -> Iterator[Entry]:
        """Every path under ``prefix`` after ``after``, staged changes included, in order."""
        commit = self.repo.resolve(ref).id
        branch = self._staging_of(ref)
        pending = staged_rows.staged(self.session, branch, prefix) if branch is not None else []
        return _overlay(self._committed(commit, prefix, after), (s for s in pending if s.path > after))

    def listing(
        self, ref: str, *, prefix: str, after: str, amount: int, delimiter: str = ""
    ) -> tuple[list[Entry | str], bool]:
        """One page of entries, with paths sharing a folder below ``prefix`` folded into that
        folder (a ``str``) when a ``delimiter`` is given; and whether more follow."""
        cursor = after + PAST_EVERY_CHAR if delimiter and after.endswith(delimiter) else after
        found: list[Entry | str] = []
        while len(found) <= amount:
            folded = None
            for entry in self.entries(ref, prefix=prefix, after=cursor):
                cut = entry.path.find(delimiter, len(prefix)) if delimiter else -1
                if cut >= 0:
                    folded = entry.path[: cut + len(delimiter)]
                    break
                found.append(entry)
                if len(found) > amount:
                    break
            if folded is None:
                break
            found.append(folded)
            cursor = folded + PAST_EVERY_CHAR  # skip the rest of the folder
        return found[:amount], len(found) > amount

    def _committed(self, commit: str, prefix: str, after: str) -> Iterator[Entry]:
        while True:
            page = self.repo.list_objects(commit, prefix=prefix, after=after, limit=PAGE)
            yield from page
            if len(page) < PAGE:
                return
            after = page[-1].path

    def uncommitted(self, branch: str, prefix: str = "") -> list[Change]:
        """What a commit of ``branch`` would change now, in path order."""
        head = self.repo.get_ref(branch, RefKind.BRANCH).commit
        changes = []
        for pending in staged_rows.staged(self.session, self._branch_row(branch), prefix):
            before = self._committed_entry(head, pending.path)
            if before != pending.entry and (before or pending.entry):
                changes.append(Change.between(before, pending.entry))
        return changes

    def _committed_entry(self, commit: str, path: str) -> Entry | None:
        try:
            return self.repo.stat(commit, path)
        except NotFound:
            return None

    def commit(
        self, branch: str, *, author: str, message: str, metadata: dict[str, str], allow_empty: bool
    ) -> Commit:
        """Everything staged on ``branch`` as one commit on its head."""
        ref = self._branch_row(branch)
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
        for staged in pending:
            if staged.entry is not None:
                changes.put(staged.entry)
            elif self._committed_entry(head, staged.path) is not None:
                changes.delete(staged.path)
        return changes


def _overlay(committed: Iterator[Entry], pending: Iterator[Staged]) -> Iterator[Entry]:
    """Merge two path-ordered streams: a staged path replaces or hides the committed one."""
    staged = next(pending, None)
    for entry in committed:
        while staged is not None and staged.path < entry.path:
            if staged.entry is not None:
                yield staged.entry
            staged = next(pending, None)
        if staged is not None and staged.path == entry.path:
            if staged.entry is not None:
                yield staged.entry
            staged = next(pending, None)
            continue
        yield entry
    while staged is not None:
        if staged.entry is not None:
            yield staged.entry
        staged = next(pending, None)
