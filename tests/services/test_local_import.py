"""A server-side folder import stores every file once and commits them, or refuses clearly."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from imagehub.core.errors import InvalidInput
from imagehub.core.vcs import BlobId, blob_key
from imagehub.services import audit, datasets
from imagehub.services.local_import import import_folder
from imagehub.services.platform import Platform

VOLUME = Path(__file__).parents[1] / "data" / "volume"


def _export(folder: Path) -> dict[str, bytes]:
    """A scanner-export-like folder: DICOM slices in nested folders, a duplicate slice,
    a compressed NIfTI-named file, notes, and a hidden file that must be skipped."""
    slices = sorted(VOLUME.glob("*.dcm"))[:4]
    files = {f"study/series1/{p.name}": p.read_bytes() for p in slices}
    files["study/series1-copy/first.dcm"] = slices[0].read_bytes()
    files["volumes/brain.nii.gz"] = b"\x1f\x8b not really a volume"
    files["NOTES.txt"] = b"scanner export notes\n"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / "study" / ".DS_Store").write_bytes(b"finder litter")
    return files


def test_import_commits_every_file_once_with_its_media_type(platform: Platform, tmp_path: Path) -> None:
    files = _export(tmp_path / "export")
    seen: list[int] = []
    commit = import_folder(
        platform,
        tmp_path / "export",
        dataset="lab/scans",
        branch="raw",
        author="a",
        message="import",
        progress=seen.append,
    )
    assert sum(seen) == sum(len(data) for data in files.values())
    with platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        assert repo.resolve("raw").id == commit.id
        entries = {e.path: e for e in repo.tree.iterate(commit.tree)}
    assert sorted(entries) == sorted(files)
    for path, data in files.items():
        entry = entries[path]
        assert (entry.blob, entry.size) == (hashlib.sha256(data).hexdigest(), len(data))
        assert b"".join(platform.store.get(blob_key(BlobId(entry.blob)))) == data
    media = {path: entries[path].media_type for path in ("NOTES.txt", "volumes/brain.nii.gz")}
    assert media == {"NOTES.txt": "application/octet-stream", "volumes/brain.nii.gz": "application/gzip"}
    assert {e.media_type for p, e in entries.items() if p.endswith(".dcm")} == {"application/dicom"}
    with platform.sessions() as session:  # the new dataset is on the audit trail
        [created] = audit.search(session, action="dataset.create", limit=5)
    assert (created.actor, created.dataset) == ("a", "lab/scans")


def test_an_import_cannot_make_a_dataset_under_a_reserved_name(platform: Platform, tmp_path: Path) -> None:
    _export(tmp_path / "export")
    with pytest.raises(InvalidInput, match="'api' is reserved"):  # api/x would sit behind the API
        import_folder(platform, tmp_path / "export", dataset="api/x", branch="main", author="a", message="m")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_import_of_an_empty_or_missing_folder_is_refused(platform: Platform, tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / ".hidden").write_bytes(b"x")
    for folder, reason in ((tmp_path / "empty", "holds no files"), (tmp_path / "missing", "is not a folder")):
        with pytest.raises(InvalidInput, match=reason):
            import_folder(platform, folder, dataset="lab/scans", branch="main", author="a", message="m")
