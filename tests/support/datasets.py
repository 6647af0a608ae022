"""Helpers to put real bytes into a dataset through the services."""

from __future__ import annotations

from sqlalchemy.orm import Session

from imagehub.core.vcs import ChangeSet, Commit, Entry
from imagehub.services import blobs, datasets
from imagehub.services.platform import Platform


def commit_files(
    platform: Platform,
    owner: str,
    name: str,
    branch: str,
    files: dict[str, bytes | None],
    message: str = "update",
) -> Commit:
    """Upload the given files (None deletes a path) and commit them in one transaction."""
    with platform.sessions.begin() as session:
        return commit_in(session, platform, owner, name, branch, files, message)


def commit_in(
    session: Session,
    platform: Platform,
    owner: str,
    name: str,
    branch: str,
    files: dict[str, bytes | None],
    message: str,
    expected_parent: str | None = None,
) -> Commit:
    changes = ChangeSet()
    for path, content in files.items():
        if content is None:
            changes.delete(path)
        else:
            blob, size = blobs.upload(session, platform, content)
            changes.put(Entry(path, blob, size, "application/dicom"))
    repo = datasets.repository(session, datasets.get(session, owner=owner, name=name))
    return repo.commit(branch, changes, author="tester", message=message, expected_parent=expected_parent)
