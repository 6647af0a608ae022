"""Releases over the real databases: frozen summaries, immutable tags, PHI, citations, audit."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydicom.data import get_testdata_file
from sqlalchemy.orm import Session

from imagehub.core.compute.local import LocalExecutor
from imagehub.core.errors import Conflict, InvalidInput, NotFound
from imagehub.core.vcs import RefKind, Repository
from imagehub.models.dataset import Dataset
from imagehub.models.releases import Release
from imagehub.services import access, audit, datasets, imaging, releases
from imagehub.services.platform import Platform
from tests.support.datasets import commit_files


@pytest.fixture
def brain(platform: Platform) -> Platform:
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="brain", author="lab")
    commit_files(platform, "lab", "brain", "main", {"a.dcm": b"AAAA", "b.dcm": b"BB"})
    return platform


def dataset_of(session: Session) -> Dataset:
    return datasets.get(session, owner="lab", name="brain")


def repo_of(session: Session) -> Repository:
    return datasets.repository(session, dataset_of(session))


def release(platform: Platform, tag: str = "v1.0", ref: str = "main", **extra: object) -> int:
    with platform.sessions.begin() as session:
        created = releases.create(
            session,
            dataset_of(session),
            repo_of(session),
            tag=tag,
            ref=ref,
            title=str(extra.pop("title", "First release")),
            actor="lab",
            **extra,  # type: ignore[arg-type]
        )
        return created.id


def test_summary_is_frozen_at_creation(brain: Platform) -> None:
    release(brain, authors=["Ada Lovelace", "Alan Turing"], doi="10.1234/brain.v1", notes="n")
    commit_files(brain, "lab", "brain", "main", {"c.dcm": b"CCC"})
    with brain.sessions() as session:
        found = releases.get(session, dataset_of(session), "v1.0")
        summary = releases.summary_of(session, found)
        assert (summary.files, summary.bytes, summary.series, summary.modalities) == (2, 6, 0, {})
        assert summary.indexed is False
        assert releases.authors_of(found) == ["Ada Lovelace", "Alan Turing"]
        assert repo_of(session).resolve("v1.0").id == found.commit_id


def test_a_release_made_before_indexing_takes_its_series_when_the_index_arrives(brain: Platform) -> None:
    ct = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    commit = commit_files(brain, "lab", "brain", "main", {"ct.dcm": ct}).id
    release(brain)
    with brain.sessions() as session:
        before = releases.summary_of(session, releases.get(session, dataset_of(session), "v1.0"))
    assert (before.series, before.indexed) == (0, False)
    imaging.index_metadata(brain, LocalExecutor(), imaging.resolve_commit(brain, "lab/brain", commit))
    with brain.sessions() as session:
        after = releases.summary_of(session, releases.get(session, dataset_of(session), "v1.0"))
    assert (after.files, after.bytes) == (before.files, before.bytes)  # frozen as they were
    assert (after.series, after.modalities, after.indexed) == (1, {"CT": 1}, True)


def test_an_indexed_version_without_images_has_no_series_rather_than_none_yet(brain: Platform) -> None:
    commit = commit_files(brain, "lab", "brain", "main", {"notes.txt": b"no images"}).id
    imaging.index_metadata(brain, LocalExecutor(), imaging.resolve_commit(brain, "lab/brain", commit))
    release(brain)
    with brain.sessions() as session:
        summary = releases.summary_of(session, releases.get(session, dataset_of(session), "v1.0"))
    assert (summary.series, summary.indexed) == (0, True)


def test_same_tag_twice_is_a_conflict(brain: Platform) -> None:
    release(brain)
    with pytest.raises(Conflict, match=r"v1\.0"):
        release(brain)
    with brain.sessions() as session:
        assert session.query(Release).count() == 1


def test_bad_input_is_refused(brain: Platform) -> None:
    with pytest.raises(InvalidInput):
        release(brain, title="  ")
    with pytest.raises(InvalidInput):
        release(brain, doi="doi:nope")
    with pytest.raises(InvalidInput):
        release(brain, tag="bad tag..")


def test_a_phi_branch_is_not_released(brain: Platform) -> None:
    with brain.sessions.begin() as session:
        repo_of(session).create_branch("raw", "main")
        access.update_settings(session, dataset=dataset_of(session), actor="lab", phi_branches=["raw*"])
    with pytest.raises(access.Forbidden):
        release(brain, ref="raw")
    with brain.sessions() as session:
        assert releases.list_releases(session, dataset_of(session)) == []


def test_list_newest_first_and_get(brain: Platform) -> None:
    first, second = release(brain, "v1"), release(brain, "v2")
    with brain.sessions() as session:
        dataset = dataset_of(session)
        assert [r.id for r in releases.list_releases(session, dataset)] == [second, first]
        assert [r.id for r in releases.list_releases(session, dataset, before=second)] == [first]
        with pytest.raises(NotFound, match="no release 'v3'"):
            releases.get(session, dataset, "v3")


def test_citations_and_audit(brain: Platform) -> None:
    release(brain, authors=["Ada Lovelace", "Alan Turing"], doi="10.1234/brain.v1")
    url = "http://hub/lab/brain/releases/v1.0"
    with brain.sessions() as session:
        dataset = dataset_of(session)
        found = releases.get(session, dataset, "v1.0")
        cff = yaml.safe_load(releases.citation_cff(found, dataset, url))
        assert cff["cff-version"] == "1.2.0"
        assert cff["type"] == "dataset"
        assert cff["version"] == "v1.0"
        assert cff["doi"] == "10.1234/brain.v1"
        assert cff["url"] == url
        assert cff["authors"] == [{"name": "Ada Lovelace"}, {"name": "Alan Turing"}]
        assert cff["commit"] == found.commit_id
        bib = releases.citation_bibtex(found, dataset, url)
        assert bib.startswith("@misc{lab_brain_v1_0,")
        for line in (
            "author = {Ada Lovelace and Alan Turing}",
            "version = {v1.0}",
            f"commit {found.commit_id}",
        ):
            assert line in bib
        events = audit.search(session, action="release.", dataset="lab/brain")
        assert [(e.action, e.object) for e in events] == [("release.create", "release:v1.0")]


def test_a_release_keeps_its_tag_and_its_files_through_gc(brain: Platform) -> None:
    from datetime import timedelta

    from imagehub.services import tags
    from imagehub.services.maintenance import check_integrity, collect_garbage

    with brain.sessions.begin() as session:
        repo_of(session).create_branch("rc-1", "main")
    commit_files(brain, "lab", "brain", "rc-1", {"rc.dcm": b"only in the release"})
    release(brain, ref="rc-1")
    with brain.sessions.begin() as session:
        repo_of(session).delete_ref("rc-1", RefKind.BRANCH)
        with pytest.raises(Conflict, match="belongs to a release"):
            tags.delete(session, dataset_of(session), repo_of(session), name="v1.0", actor="lab")
    with brain.sessions.begin() as session:  # a tag lost before tags of releases were kept
        repo_of(session).delete_ref("v1.0", RefKind.TAG)
    collect_garbage(brain, grace=timedelta(0))
    assert check_integrity(brain, deep=True).ok
    with brain.sessions() as session:
        released = releases.get(session, dataset_of(session), "v1.0")
        assert repo_of(session).resolve(released.commit_id).id == released.commit_id
        assert "rc.dcm" in [e.path for e in repo_of(session).list_objects(released.commit_id)]
