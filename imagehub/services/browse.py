"""Reading a version the way a person browses it: folders, sizes, the datasheet.

Manifests are flat, sorted path lists, so a folder view is built by seeking: each
sub-folder costs one descent of the tree and its contents are skipped, which keeps a
page of a 100k-file folder as cheap as a page of a ten-file one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from imagehub.core.errors import InvalidInput, NotFound
from imagehub.core.imaging.documents import Document, read_document
from imagehub.core.vcs import BlobId, BlobStore, Repository, blob_key
from imagehub.core.vcs.changes import prefix_range
from imagehub.core.vcs.types import Commit, Entry
from imagehub.models.imaging import CommitFile, ImagingFile, SeriesRow
from imagehub.models.stats import TreeStats
from imagehub.services.platform import Platform

README_NAMES = ("README.md", "README.markdown", "README.txt", "README")
README_MAX_BYTES = 512 * 1024


@dataclass
class Folder:
    """One page of a folder: sub-folders and files in path order, and where the next page starts."""

    path: str
    folders: list[str] = field(default_factory=list)
    files: list[Entry] = field(default_factory=list)
    next_after: str | None = None


def normalise_folder(path: str) -> str:
    """``a/b`` and ``/a/b/`` both name the folder ``a/b/``; the root is the empty string."""
    cleaned = path.strip("/")
    if any(part in ("", ".", "..") for part in cleaned.split("/")) and cleaned:
        raise InvalidInput(f"invalid folder path {path!r}")
    return f"{cleaned}/" if cleaned else ""


def _resume_key(after: str) -> str:
    """Where iteration restarts after the last row of a page (a folder's marker ends with '/')."""
    if after.endswith("/"):
        end = prefix_range(after)[1]
        assert end is not None
        return end
    return after + "\x00"


def list_folder(repo: Repository, ref: str, path: str = "", *, after: str = "", limit: int = 100) -> Folder:
    """Up to ``limit`` rows of the folder ``path`` at ``ref``; ``after`` is the previous page's cursor."""
    if not 0 < limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000")
    prefix = normalise_folder(path)
    tree = repo.resolve(ref).tree
    start, end = prefix_range(prefix)
    if after:
        if not after.startswith(prefix):
            raise InvalidInput(f"cursor {after!r} is not inside {prefix or '/'}")
        start = max(start, _resume_key(after))
    folder = Folder(prefix)
    rows = 0
    last = ""
    while rows < limit:
        entries = repo.tree.iterate(tree, start, end)
        for entry in entries:
            rest = entry.path[len(prefix) :]
            if "/" in rest:
                name = rest.split("/", 1)[0]
                folder.folders.append(name)
                last = f"{prefix}{name}/"
                start = _resume_key(last)  # skip the sub-folder's contents with one seek
                rows += 1
                break
            folder.files.append(entry)
            last = entry.path
            rows += 1
            if rows == limit:
                break
        else:
            return folder  # the folder is exhausted
    if next(repo.tree.iterate(tree, _resume_key(last), end), None) is not None:
        folder.next_after = last
    return folder


def breadcrumbs(path: str) -> list[tuple[str, str]]:
    """(name, folder path) for each level of ``path``, for the page header."""
    parts = [p for p in path.strip("/").split("/") if p]
    return [(part, "/".join(parts[: i + 1]) + "/") for i, part in enumerate(parts)]


@dataclass(frozen=True)
class Size:
    files: int
    bytes: int


def tree_size(session: Session, repo: Repository, commit: Commit) -> Size:
    """Files and bytes of a commit's manifest: from its parent's by diff when known, else by a walk.

    Stored by tree id, so each manifest is measured once, whichever dataset or commit names it.
    """
    known = session.get(TreeStats, commit.tree)
    if known is not None:
        return Size(known.files, known.bytes)
    parent_tree = repo.resolve(commit.parents[0]).tree if commit.parents else None
    parent = session.get(TreeStats, parent_tree) if parent_tree else None
    if parent is not None and parent_tree is not None:
        files, total = parent.files, parent.bytes
        for change in repo.differ.diff(parent_tree, commit.tree):
            if change.left is not None:
                files, total = files - 1, total - change.left.size
            if change.right is not None:
                files, total = files + 1, total + change.right.size
    else:
        files = total = 0
        for entry in repo.tree.iterate(commit.tree):
            files, total = files + 1, total + entry.size
    try:
        with session.begin_nested():  # two pages may measure the same tree at once: either row is right
            session.add(TreeStats(tree=commit.tree, files=files, bytes=total))
    except IntegrityError:
        pass
    return Size(files, total)


def readme(platform: Platform, repo: Repository, commit: Commit) -> tuple[str, str | None] | None:
    """(path, text) of the datasheet at the root of a commit, if there is one; the text is
    None when it is too large to show (the page says so rather than "no datasheet")."""
    for name in README_NAMES:
        entry = repo.tree.get(commit.tree, name)
        if entry is None:
            continue
        if entry.size > README_MAX_BYTES:
            return name, None
        data = b"".join(BlobStore(platform.store).open(BlobId(entry.blob), 0, entry.size))
        return name, data.decode("utf-8", errors="replace")
    return None


def series_page(
    session: Session, dataset_id: int, commit_id: str, *, after: str = "", limit: int = 48
) -> tuple[list[SeriesRow], str | None]:
    """One page of a commit's series in key order, without their (long) member lists."""
    rows = list(
        session.scalars(
            select(SeriesRow)
            .options(defer(SeriesRow.members))
            .where(SeriesRow.dataset_id == dataset_id, SeriesRow.commit_id == commit_id)
            .where(SeriesRow.series_key > after)
            .order_by(SeriesRow.series_key)
            .limit(limit + 1)
        )
    )
    more = len(rows) > limit
    return rows[:limit], rows[limit - 1].series_key if more else None


def series_row(session: Session, dataset_id: int, commit_id: str, key: str) -> SeriesRow:
    row = session.get(SeriesRow, (dataset_id, commit_id, key))
    if row is None:
        raise NotFound(f"no series {key!r} in commit {commit_id[:12]} (has the pipeline run for it?)")
    return row


def nifti_paths(session: Session, dataset_id: int, commit_id: str, limit: int = 100) -> list[str]:
    """Paths of a commit's NIfTI files (volumes and label maps), for choosing an overlay."""
    rows = session.scalars(
        select(SeriesRow.members)
        .where(
            SeriesRow.dataset_id == dataset_id, SeriesRow.commit_id == commit_id, SeriesRow.kind == "nifti"
        )
        .limit(limit)
    )
    return sorted(path for members in rows for path in json.loads(members))


@dataclass(frozen=True)
class FileFacts:
    """What the imaging index knows about one file of a commit."""

    kind: str | None  # dicom | nifti | unreadable; None before the pipeline ran
    reason: str
    attributes: dict[str, Any]
    series_key: str | None

    @property
    def pictured(self) -> bool:
        """Whether the file has an image to draw: a DICOM object without pixel data (a report,
        an RT structure set or plan) has none, and its thumbnail would be a 404."""
        if self.kind == "dicom":
            return self.attributes.get("frames", 1) is not None
        return self.kind == "nifti"


# DICOM objects whose content is read for their file page (an RT dose is an image too).
DOCUMENT_MODALITIES = frozenset({"SR", "RTSTRUCT", "RTPLAN", "RTDOSE"})


def file_document(platform: Platform, entry: Entry, facts: FileFacts) -> Document | None:
    """What a report or RT object says (its content tree, regions, beams or dose grid), for
    its file page; None for other files, which are not read for it."""
    modality = facts.attributes.get("modality")
    if facts.kind != "dicom" or (facts.pictured and modality not in DOCUMENT_MODALITIES):
        return None
    try:
        with platform.store.open(blob_key(BlobId(entry.blob)), entry.size) as stream:
            return read_document(stream, entry.path)
    except InvalidInput as error:  # the page still shows the rest of what is known
        return Document("DICOM object", (("Unreadable", str(error)),))


def file_facts(session: Session, dataset_id: int, commit_id: str, entry: Entry) -> FileFacts:
    indexed = session.get(ImagingFile, entry.blob)
    row = session.get(CommitFile, (dataset_id, commit_id, entry.path))
    if indexed is None:
        return FileFacts(None, "", {}, row.series_key if row else None)
    attributes = json.loads(indexed.attributes or "{}")
    return FileFacts(indexed.kind, indexed.reason, attributes, row.series_key if row else None)
