"""STOW-RS against a racing writer: an instance stored meanwhile with other bytes is
refused, never overwritten (a correction is a new SOP Instance UID)."""

from __future__ import annotations

import io
from typing import Any

import pydicom
import pytest

from imagehub.core.imaging import stow
from imagehub.core.imaging.synthetic import ct_instance_bytes
from imagehub.core.vcs import BlobId, Repository, blob_key
from imagehub.services import blobs, datasets, dicomweb
from imagehub.services.platform import Platform


def changed_patient(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.PatientID = "SOMEONE-ELSE"
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def part(data: bytes) -> stow.Part:
    return stow.Part(stow.DICOM, io.BytesIO(data))


def store_racing(platform: Platform, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    with platform.sessions.begin() as session:
        dataset_id = datasets.create(session, owner="lab", name="scans", author="lab").id
    original = ct_instance_bytes(seed=5, rows=32, columns=32)
    raced: list[dicomweb.StowOutcome] = []
    racing: list[bool] = []

    def race() -> None:
        if not racing:  # another STOW of the same instance lands while this one works
            racing.append(True)
            raced.append(dicomweb.store(platform, dataset_id, "main", "other", [part(original)], None))

    if where == "before-planning":  # between reading the parts and looking at the branch
        upload_many = blobs.upload_many

        def racing_upload(*args: Any) -> Any:
            race()
            return upload_many(*args)

        monkeypatch.setattr(dicomweb.blobs, "upload_many", racing_upload)
    else:  # between looking at the branch and moving it: the commit lands on no other head
        commit = Repository.commit

        def racing_commit(self: Repository, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("author") == "me":
                race()
            return commit(self, *args, **kwargs)

        monkeypatch.setattr(Repository, "commit", racing_commit)
    outcome = dicomweb.store(platform, dataset_id, "main", "me", [part(changed_patient(original))], None)
    assert raced[0].commit is not None
    assert outcome.commit is None
    assert [(f.reason, f.sop) for f in outcome.failed] == [(stow.DUPLICATE, raced[0].stored[0].sop)]
    with platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        [entry] = repo.list_objects("main")
    assert b"".join(platform.store.get(blob_key(BlobId(entry.blob)))) == original


def test_an_instance_stored_before_the_branch_is_read_is_refused(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_racing(platform, monkeypatch, "before-planning")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite has one writer at a time
def test_an_instance_stored_while_committing_is_refused(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_racing(platform, monkeypatch, "after-planning")
