"""The PHI gate's scan of stored files: a file the store cannot give is no result to keep."""

from __future__ import annotations

import hashlib

from imagehub.core.imaging.synthetic import ct_instance_bytes
from imagehub.core.vcs import BlobId, blob_key
from imagehub.services import datasets, phi_gate
from imagehub.services.deid import policy_spec
from imagehub.services.platform import Platform
from tests.support.datasets import commit_files


def test_a_file_gone_from_the_store_is_unreadable_and_scanned_again_next_time(platform: Platform) -> None:
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="gate", author="t")
    data = ct_instance_bytes(rows=16, columns=16)
    commit_files(platform, "lab", "gate", "main", {"ct.dcm": data})
    blob = hashlib.sha256(data).hexdigest()
    with platform.sessions() as session:
        spec = policy_spec(platform, datasets.get(session, owner="lab", name="gate"))
    task = phi_gate.ScanTask(blob, len(data))
    (scanned,) = phi_gate.scan_blobs(platform.settings, spec, [task])
    assert (scanned.kind, scanned.kept) == ("dicom", True)
    assert list(platform.store.list(phi_gate.CACHE_PREFIX))  # its result is kept

    for kept in list(platform.store.list(phi_gate.CACHE_PREFIX)):
        platform.store.delete(kept.key)  # as if never scanned
    platform.store.delete(blob_key(BlobId(blob)))
    (gone,) = phi_gate.scan_blobs(platform.settings, spec, [task])
    assert (gone.kind, gone.kept, [f["where"] for f in gone.findings]) == ("unreadable", False, ["file"])
    assert list(platform.store.list(phi_gate.CACHE_PREFIX)) == []
