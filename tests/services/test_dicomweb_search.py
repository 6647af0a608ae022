"""QIDO-RS searches of one version: read from the database once, then searched in memory."""

from __future__ import annotations

import io
from typing import Any

import pydicom
from sqlalchemy import event

from imagehub.core.imaging import dicomjson, qido
from imagehub.core.imaging.synthetic import ct_instance_bytes
from imagehub.services import datasets, dicomweb
from imagehub.services.platform import Platform
from tests.support.datasets import commit_files

URLS = dicomjson.Urls("http://hub.test/dicomweb")


def test_a_version_is_loaded_once_for_many_searches(platform: Platform) -> None:
    with platform.sessions.begin() as session:
        dataset_id = datasets.create(session, owner="lab", name="scans", author="lab").id
    slices = {f"ct{n}.dcm": ct_instance_bytes(seed=n, rows=16, columns=16) for n in (1, 2)}
    first = pydicom.dcmread(io.BytesIO(slices["ct1.dcm"]))
    commit = commit_files(platform, "lab", "scans", "main", slices)
    loads: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "imaging_files.attributes" in statement:
            loads.append(statement)

    ref = dicomweb.version(platform, dataset_id, "lab/scans", commit.id)  # indexed before counting
    event.listen(platform.engine, "before_cursor_execute", count)

    def search(pairs: list[tuple[str, str]], **scope: Any) -> list[dict[str, Any]]:
        return dicomweb.search(platform, ref, qido.Level.STUDY, qido.parse_query(pairs), URLS, **scope)

    assert len(search([])) == 2
    assert len(loads) == 1
    (found,) = search([("PatientID", first.PatientID)])
    assert found["00100020"]["Value"] == [first.PatientID]
    assert len(search([("StudyInstanceUID", first.StudyInstanceUID)])) == 1
    assert len(search([], study=first.StudyInstanceUID)) == 1
    assert len(loads) == 1  # every later search of the version was answered from memory
    again = commit_files(platform, "lab", "scans", "main", {"ct1.dcm": None})
    later = dicomweb.version(platform, dataset_id, "lab/scans", again.id)
    loads.clear()
    assert len(dicomweb.search(platform, later, qido.Level.STUDY, qido.Query(), URLS)) == 1
    assert len(loads) == 1  # another version is loaded in turn


def test_what_is_kept_is_bounded_by_weight() -> None:
    kept: dicomweb._Lru[str, list[int]] = dicomweb._Lru(5, weigh=len)
    kept.put("a", [1, 2, 3])
    kept.put("b", [1, 2])
    assert kept.get("a") is not None  # now the most recently used
    kept.put("c", [1])
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == ([1, 2, 3], None, [1])
    kept.put("d", [1] * 6)  # heavier than the bound: not kept, and nothing pushed out
    assert (kept.get("d"), kept.get("a")) == (None, [1, 2, 3])
