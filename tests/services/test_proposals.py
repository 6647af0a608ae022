"""Change proposals over the real databases: numbering, summaries, merges, PHI and audit."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session

from imagehub.core.errors import Conflict, InvalidInput, NotFound
from imagehub.core.vcs import MergeConflict, MergeStrategy, ProtectedBranch, Repository
from imagehub.models.dataset import Dataset
from imagehub.models.proposals import Proposal
from imagehub.services import access, audit, datasets, proposals
from imagehub.services.platform import Platform
from tests.support.accounts import make_user
from tests.support.datasets import commit_files


@pytest.fixture
def brain(platform: Platform) -> Platform:
    """lab/brain with ``main`` (a.dcm) and ``qc`` two commits ahead of it."""
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="brain", author="lab")
    commit_files(platform, "lab", "brain", "main", {"a.dcm": b"A"})
    branch(platform, "qc")
    commit_files(platform, "lab", "brain", "qc", {"b.dcm": b"B"})
    commit_files(platform, "lab", "brain", "qc", {"c.dcm": b"C"})
    return platform


def branch(platform: Platform, name: str, source: str = "main") -> None:
    with platform.sessions.begin() as session:
        repo_of(session).create_branch(name, source)


def dataset_of(session: Session) -> Dataset:
    return datasets.get(session, owner="lab", name="brain")


def repo_of(session: Session) -> Repository:
    return datasets.repository(session, dataset_of(session))


def propose(platform: Platform, source: str = "qc", target: str = "main", **extra: object) -> int:
    with platform.sessions.begin() as session:
        created = proposals.create(
            session,
            dataset_of(session),
            repo_of(session),
            actor="lab",
            source=source,
            target=target,
            title=f"{source} into {target}",
            **extra,  # type: ignore[arg-type]
        )
        return created.number


def merge(platform: Platform, number: int, strategy: MergeStrategy = MergeStrategy.FAIL) -> Proposal:
    with platform.sessions.begin() as session:
        return proposals.merge(
            session, dataset_of(session), repo_of(session), number, actor="lab", strategy=strategy
        )


def test_numbers_listing_and_summary(brain: Platform) -> None:
    branch(brain, "fix")
    commit_files(brain, "lab", "brain", "fix", {"a.dcm": b"A2"})
    assert propose(brain) == 1
    assert propose(brain, "fix") == 2
    with brain.sessions() as session:
        dataset = dataset_of(session)
        first = proposals.get(session, dataset, 1)
        assert (first.source_branch, first.target_branch, first.state, first.author) == (
            "qc",
            "main",
            "open",
            "lab",
        )
        summary = proposals.summary(session, dataset_of(session), repo_of(session), first)
        assert summary == proposals.Summary(ahead=2, changed_files=2)
        assert [p.number for p in proposals.list_proposals(session, dataset)] == [1, 2]
        assert [p.number for p in proposals.list_proposals(session, dataset, after=1, limit=1)] == [2]
        assert proposals.list_proposals(session, dataset, state="merged") == []
        with pytest.raises(NotFound):
            proposals.get(session, dataset, 99)
        with pytest.raises(InvalidInput):
            proposals.list_proposals(session, dataset, state="draft")


def test_summary_counts_only_what_the_source_brings(brain: Platform) -> None:
    """After the target is merged into the source, its commits are no longer 'ahead'."""
    commit_files(brain, "lab", "brain", "main", {"m.dcm": b"M"})
    with brain.sessions.begin() as session:
        repo_of(session).merge("main", "qc", author="lab")
    number = propose(brain)
    summary = summary_of(brain, number)
    assert summary == proposals.Summary(ahead=3, changed_files=2)  # 2 commits + the merge


def test_summary_is_bounded(brain: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proposals, "SUMMARY_LIMIT", 1)
    number = propose(brain)
    summary = summary_of(brain, number)
    assert summary == proposals.Summary(ahead=1, changed_files=1, ahead_capped=True, files_capped=True)


def test_a_capped_file_count_leaves_the_commit_count_true(
    brain: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    branch(brain, "wide")
    commit_files(brain, "lab", "brain", "wide", {"w1.dcm": b"1", "w2.dcm": b"2"})
    monkeypatch.setattr(proposals, "SUMMARY_LIMIT", 1)
    number = propose(brain, "wide")
    summary = summary_of(brain, number)
    assert summary == proposals.Summary(ahead=1, changed_files=1, files_capped=True)
    assert summary is not None
    assert summary.truncated


@pytest.mark.parametrize(
    ("source", "target", "why"),
    [
        ("qc", "qc", "different"),
        ("nope", "main", "no branch 'nope'"),
        ("qc", "nope", "no branch 'nope'"),
        ("main", "qc", "already contains"),
    ],
)
def test_create_refuses_what_cannot_be_merged(brain: Platform, source: str, target: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        propose(brain, source, target)


def test_create_refuses_duplicates_empty_titles_and_unknown_reviewers(brain: Platform) -> None:
    with pytest.raises(InvalidInput, match="reviewer 'ghost'"):
        propose(brain, reviewers=["ghost"])
    propose(brain)
    with pytest.raises(Conflict, match="#1 already proposes"):
        propose(brain)
    with brain.sessions.begin() as session, pytest.raises(InvalidInput, match="title"):
        proposals.create(
            session, dataset_of(session), repo_of(session), actor="lab", source="qc", target="main", title=" "
        )


def test_merge_records_the_commit_and_every_action_is_audited(brain: Platform) -> None:
    make_user(brain, "rita")
    number = propose(brain)
    with brain.sessions.begin() as session:
        edited = proposals.update(
            session, dataset_of(session), number, actor="lab", title="Add QC files", reviewers=["rita"]
        )
        assert (edited.title, json.loads(edited.reviewers)) == ("Add QC files", ["rita"])
    merged = merge(brain, number)
    with brain.sessions() as session:
        head = repo_of(session).resolve("main")
        assert (merged.state, merged.merged_by, merged.merged_commit) == ("merged", "lab", head.id)
        assert head.metadata == {"proposal": "1"}
        assert head.message == "Merge proposal #1: Add QC files"
        assert [e.path for e in repo_of(session).list_objects("main")] == ["a.dcm", "b.dcm", "c.dcm"]
        assert proposals.summary(session, dataset_of(session), repo_of(session), merged) is None
        events = audit.search(session, action="proposal.", dataset="lab/brain")
    assert [e.action for e in events] == ["proposal.create", "proposal.update", "proposal.merge"]
    assert events[-1].commit == head.id
    assert events[-1].object == "proposal:1"
    assert events[-1].details["source"] == "qc"
    with pytest.raises(Conflict, match="is merged"):
        merge(brain, number)


def test_close_and_reopen(brain: Platform) -> None:
    number = propose(brain)
    with brain.sessions.begin() as session:
        closed = proposals.close(session, dataset_of(session), number, actor="wes")
        assert (closed.state, closed.closed_by) == ("closed", "wes")
    with pytest.raises(Conflict, match="is closed"):
        merge(brain, number)
    with brain.sessions.begin() as session, pytest.raises(Conflict, match="is closed"):
        proposals.update(session, dataset_of(session), number, actor="lab", title="x")
    propose(brain)  # a closed proposal does not block a new one
    with brain.sessions.begin() as session, pytest.raises(Conflict, match="#2 already proposes"):
        proposals.reopen(session, dataset_of(session), repo_of(session), number, actor="lab")
    with brain.sessions.begin() as session:
        proposals.close(session, dataset_of(session), 2, actor="lab")
        reopened = proposals.reopen(session, dataset_of(session), repo_of(session), number, actor="lab")
        assert (reopened.state, reopened.closed_by) == ("open", None)
    with brain.sessions() as session:
        actions = [e.action for e in audit.search(session, action="proposal.")]
    assert actions.count("proposal.close") == 2
    assert actions.count("proposal.reopen") == 1


def test_conflict_surfaces_the_paths_and_leaves_the_proposal_open(brain: Platform) -> None:
    commit_files(brain, "lab", "brain", "qc", {"a.dcm": b"from qc"})
    commit_files(brain, "lab", "brain", "main", {"a.dcm": b"from main"})
    number = propose(brain)
    with pytest.raises(MergeConflict) as caught:
        merge(brain, number)
    assert [c["path"] for c in caught.value.details()["conflicts"]] == ["a.dcm"]  # type: ignore[index]
    with brain.sessions() as session:
        assert proposals.get(session, dataset_of(session), number).state == "open"
    assert merge(brain, number, MergeStrategy.THEIRS).state == "merged"
    with brain.sessions() as session:
        assert repo_of(session).stat("main", "a.dcm").blob == repo_of(session).stat("qc", "a.dcm").blob


def test_a_proposal_is_the_way_into_a_protected_branch(brain: Platform) -> None:
    with brain.sessions.begin() as session:
        repo_of(session).set_protected("main", True)
    with pytest.raises(ProtectedBranch):
        commit_files(brain, "lab", "brain", "main", {"x.dcm": b"X"})
    merged = merge(brain, propose(brain))
    with brain.sessions() as session:
        assert repo_of(session).resolve("main").id == merged.merged_commit


def test_raw_data_never_flows_into_a_deidentified_branch(brain: Platform) -> None:
    branch(brain, "raw")
    commit_files(brain, "lab", "brain", "raw", {"p1/ct.dcm": b"PHI"})
    with pytest.raises(access.Forbidden, match="raw"):
        propose(brain, "raw", "main")
    branch(brain, "raw-2")
    assert propose(brain, "raw", "raw-2") == 1  # PHI to PHI is fine
    assert propose(brain, "qc", "raw") == 2  # and so is de-identified into raw
    branch(brain, "staging")
    commit_files(brain, "lab", "brain", "staging", {"s.dcm": b"S"})
    number = propose(brain, "staging", "main")
    with brain.sessions.begin() as session:
        access.update_settings(
            session, dataset=dataset_of(session), actor="lab", phi_branches=["raw*", "staging"]
        )
    with pytest.raises(access.Forbidden):
        merge(brain, number)  # the rule holds at merge time, not only when opened


def test_proposals_go_with_their_dataset(brain: Platform) -> None:
    propose(brain)
    with brain.sessions.begin() as session:
        session.delete(dataset_of(session))
    with brain.sessions() as session:
        assert session.query(Proposal).count() == 0


def summary_of(platform: Platform, number: int) -> proposals.Summary:
    with platform.sessions() as session:
        dataset = dataset_of(session)
        return proposals.summary(session, dataset, repo_of(session), proposals.get(session, dataset, number))
