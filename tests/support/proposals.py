"""A change proposal over the seeded CT series, for the proposal page's tests (web and browser)."""

from __future__ import annotations

from dataclasses import dataclass

from imagehub.services import datasets, proposals, reviews
from imagehub.services.reviews import Location
from tests.support.portal import Portal

DS = "/lab/ct"


@dataclass(frozen=True)
class CtProposal:
    number: int
    head: str  # the source head: the CT series with its two middle slices edited
    series: str
    slices: int

    @property
    def url(self) -> str:
        return f"{DS}/proposals/{self.number}"


def open_ct_proposal(portal: Portal, source: str = "edits", target: str = "release") -> CtProposal:
    """``source`` at the edited CT, proposed into ``target`` at the original: one modified series."""
    ct = portal.ct
    with portal.platform.sessions.begin() as session:
        dataset = datasets.get(session, owner="lab", name="ct")
        repo = datasets.repository(session, dataset)
        repo.create_branch(target, ct.first.id)
        repo.create_branch(source, ct.second.id)
        opened = proposals.create(
            session, dataset, repo, actor="lab", source=source, target=target, title="Mark the middle slices"
        )
        return CtProposal(opened.number, ct.second.id, ct.series, ct.slices)


def pin(portal: Portal, proposal: CtProposal, *, actor: str, body: str, at: tuple[int, float, float]) -> int:
    """A comment pinned to (slice, x, y) of the proposal's series, made through the service."""
    with portal.platform.sessions.begin() as session:
        dataset = datasets.get(session, owner="lab", name="ct")
        note = reviews.comment(
            session,
            dataset,
            datasets.repository(session, dataset),
            proposals.get(session, dataset, proposal.number),
            actor=actor,
            body=body,
            location=Location(proposal.series, *at),
        )
        return note.id
