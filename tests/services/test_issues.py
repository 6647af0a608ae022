"""Issues over the real databases: numbering, labels, filters, assignees, threads, series links, audit."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session

from imagehub.core.errors import Conflict, InvalidInput, NotFound
from imagehub.core.vcs import Commit
from imagehub.models.dataset import Dataset
from imagehub.models.imaging import SeriesRow
from imagehub.models.issues import Issue, IssueComment, IssueSeriesLink
from imagehub.services import access, audit, datasets, issues
from imagehub.services.platform import Platform
from tests.support.accounts import make_user
from tests.support.datasets import commit_files

SERIES = "1.2.826.0.1.3680043.8.498.1"


@pytest.fixture
def brain(platform: Platform) -> Commit:
    """lab/brain (private) with one commit whose series the pipeline is said to have indexed."""
    for name in ("lab", "rita", "eve"):
        make_user(platform, name)
    with platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="lab", name="brain", author="lab", visibility="private")
        access.grant(session, dataset=dataset, role="read", actor="lab", username="rita")
    commit = commit_files(platform, "lab", "brain", "main", {"s/1.dcm": b"1", "s/2.dcm": b"2"})
    with platform.sessions.begin() as session:
        session.add(
            SeriesRow(
                dataset_id=dataset_of(session).id,
                commit_id=commit.id,
                series_key=SERIES,
                kind="dicom",
                modality="MR",
                instances=2,
                members=json.dumps(["s/1.dcm", "s/2.dcm"]),
            )
        )
    return commit


def dataset_of(session: Session) -> Dataset:
    return datasets.get(session, owner="lab", name="brain")


def open_issue(platform: Platform, title: str = "Motion in slice 4", **extra: object) -> int:
    with platform.sessions.begin() as session:
        created = issues.create(session, dataset_of(session), actor="lab", title=title, **extra)  # type: ignore[arg-type]
        return created.number


def test_numbers_and_fields(platform: Platform, brain: Commit) -> None:
    assert open_issue(platform, labels=[" QC ", "qc", "Needs   Review"], assignee="rita") == 1
    assert open_issue(platform, "Second") == 2
    with platform.sessions() as session:
        first = issues.get(session, dataset_of(session), 1)
        assert (first.title, first.state, first.author, first.assignee) == (
            "Motion in slice 4",
            "open",
            "lab",
            "rita",
        )
        assert issues.labels_of(first) == ["qc", "needs review"]
        with pytest.raises(NotFound):
            issues.get(session, dataset_of(session), 3)


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"title": "  "}, "needs a title"),
        ({"labels": ['no"quotes']}, "label"),
        ({"labels": ["-dash-first"]}, "label"),
        ({"labels": ["x" * 51]}, "label"),
        ({"labels": [f"l{i}" for i in range(issues.MAX_LABELS + 1)]}, "at most"),
        ({"assignee": "nobody"}, "is not a user"),
        ({"assignee": "eve"}, "cannot read"),
    ],
)
def test_create_refuses_bad_input(
    platform: Platform, brain: Commit, extra: dict[str, object], why: str
) -> None:
    with platform.sessions.begin() as session, pytest.raises(InvalidInput, match=why):
        issues.create(session, dataset_of(session), actor="lab", **{"title": "t", **extra})  # type: ignore[arg-type]


def test_filters_and_seek_pages(platform: Platform, brain: Commit) -> None:
    open_issue(platform, "Motion artefact", labels=["qc", "motion"], assignee="rita")
    open_issue(platform, "Segment the tumour", labels=["labelling"])
    open_issue(platform, "100%_done", labels=["qc"])
    with platform.sessions.begin() as session:
        issues.close(session, dataset_of(session), 3, actor="lab")
    with platform.sessions() as session:
        dataset = dataset_of(session)

        def numbers(**filters: object) -> list[int]:
            return [i.number for i in issues.list_issues(session, dataset, **filters)]  # type: ignore[arg-type]

        assert numbers() == [1, 2]
        assert numbers(state="closed") == [3]
        assert numbers(state="all", label="QC") == [1, 3]
        assert numbers(state="all", label="q") == []  # whole labels only
        assert numbers(assignee="rita") == [1]
        assert numbers(text="MOTION") == [1]
        assert numbers(state="all", text="%") == [3]  # LIKE wildcards are literal
        assert numbers(state="all", text="_d") == [3]
        assert numbers(state="all", limit=2) == [1, 2]
        assert numbers(state="all", after=2, limit=2) == [3]
        with pytest.raises(InvalidInput):
            numbers(state="draft")
        with pytest.raises(InvalidInput):
            numbers(limit=0)


def test_text_search_folds_case_beyond_ascii(platform: Platform, brain: Commit) -> None:
    open_issue(platform, "Ödem nach Bestrahlung")
    open_issue(platform, "Odem spelled without the umlaut")
    with platform.sessions.begin() as session:
        dataset = dataset_of(session)
        dataset.description = "ÆBLE cohort, ÉTUDE pilote"
        found = issues.list_issues(session, dataset, text="öDEM")
        assert [i.number for i in found] == [1]
        assert [d.name for d in datasets.list_datasets(session, text="étude")] == [dataset.name]


def test_update_close_reopen_and_audit(platform: Platform, brain: Commit) -> None:
    open_issue(platform, assignee="rita")
    with platform.sessions.begin() as session:
        dataset = dataset_of(session)
        edited = issues.update(
            session, dataset, 1, actor="lab", title="Motion, slices 4-6", labels=["QC"], assignee=""
        )
        assert (edited.title, issues.labels_of(edited), edited.assignee) == (
            "Motion, slices 4-6",
            ["qc"],
            None,
        )
        with pytest.raises(InvalidInput):
            issues.update(session, dataset, 1, actor="lab", assignee="eve")
        closed = issues.close(session, dataset, 1, actor="lab")
        assert (closed.state, closed.closed_by, closed.closed_at is not None) == ("closed", "lab", True)
        with pytest.raises(Conflict):
            issues.close(session, dataset, 1, actor="lab")
        reopened = issues.reopen(session, dataset, 1, actor="lab")
        assert (reopened.state, reopened.closed_by, reopened.closed_at) == ("open", None, None)
        with pytest.raises(Conflict):
            issues.reopen(session, dataset, 1, actor="lab")
    with platform.sessions() as session:
        events = audit.search(session, action="issue.", dataset="lab/brain")
    assert [(e.action, e.object) for e in events] == [
        ("issue.create", "issue:1"),
        ("issue.update", "issue:1"),
        ("issue.close", "issue:1"),
        ("issue.reopen", "issue:1"),
    ]
    assert events[1].details["changed"] == {"title": "Motion, slices 4-6", "labels": ["qc"], "assignee": None}


def test_comments_thread(platform: Platform, brain: Commit) -> None:
    open_issue(platform)
    with platform.sessions.begin() as session:
        dataset = dataset_of(session)
        with pytest.raises(InvalidInput):
            issues.comment(session, dataset, 1, actor="lab", body="  \n")
        with pytest.raises(NotFound):
            issues.comment(session, dataset, 9, actor="lab", body="hello")
        ids = [issues.comment(session, dataset, 1, actor="lab", body=f"c{i}").id for i in range(3)]
    with platform.sessions() as session:
        dataset = dataset_of(session)
        assert [c.body for c in issues.list_comments(session, dataset, 1)] == ["c0", "c1", "c2"]
        assert [c.body for c in issues.list_comments(session, dataset, 1, after=ids[0], limit=1)] == ["c1"]
        events = audit.search(session, action="issue.comment")
    assert [e.details["comment"] for e in events] == ids


def test_series_links_are_pinned_and_checked(platform: Platform, brain: Commit) -> None:
    open_issue(platform)
    with platform.sessions.begin() as session:
        dataset = dataset_of(session)
        repo = datasets.repository(session, dataset)
        link = issues.link_series(
            session,
            dataset,
            repo,
            1,
            actor="lab",
            ref="main",
            series_instance_uid=SERIES,
            path="s/2.dcm",
            note="!",
        )
        assert (link.commit_id, link.ref, link.path) == (brain.id, "main", "s/2.dcm")
        for ref, uid, path, why in [
            ("nope", SERIES, "", "no branch, tag or commit"),
            ("main", "9.9.9", "", "no series"),
            ("main", SERIES, "s/3.dcm", "not a file of series"),
            ("main", "", "", "name the series"),
        ]:
            with pytest.raises(InvalidInput, match=why):
                issues.link_series(
                    session, dataset, repo, 1, actor="lab", ref=ref, series_instance_uid=uid, path=path
                )
        with pytest.raises(Conflict):
            issues.link_series(
                session, dataset, repo, 1, actor="lab", ref=brain.id, series_instance_uid=SERIES
            )
    commit_files(platform, "lab", "brain", "main", {"other.txt": b"x"})  # main moves on; the link stays
    with platform.sessions.begin() as session:
        dataset = dataset_of(session)
        assert [x.commit_id for x in issues.list_links(session, dataset, 1)] == [brain.id]
        with pytest.raises(InvalidInput, match="no series"):  # not indexed at the new head
            issues.link_series(
                session,
                dataset,
                datasets.repository(session, dataset),
                1,
                actor="lab",
                ref="main",
                series_instance_uid=SERIES,
            )
        with pytest.raises(NotFound):
            issues.unlink_series(session, dataset, 1, link.id + 100, actor="lab")
        issues.unlink_series(session, dataset, 1, link.id, actor="lab")
        assert issues.list_links(session, dataset, 1) == []
    with platform.sessions() as session:
        events = audit.search(session, action="issue.")
    linked, unlinked = events[-2:]
    assert (linked.action, linked.ref, linked.commit, linked.details["series"]) == (
        "issue.link",
        "main",
        brain.id,
        SERIES,
    )
    assert (unlinked.action, unlinked.commit) == ("issue.unlink", brain.id)


def test_deleting_the_dataset_takes_its_issues(platform: Platform, brain: Commit) -> None:
    open_issue(platform)
    with platform.sessions.begin() as session:
        dataset = dataset_of(session)
        issues.comment(session, dataset, 1, actor="lab", body="x")
        issues.link_series(
            session,
            dataset,
            datasets.repository(session, dataset),
            1,
            actor="lab",
            ref="main",
            series_instance_uid=SERIES,
        )
        session.delete(dataset)
    with platform.sessions() as session:
        assert session.query(Issue).count() == 0
        assert session.query(IssueComment).count() == 0
        assert session.query(IssueSeriesLink).count() == 0
