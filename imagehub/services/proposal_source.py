"""Where a change proposal's source branch lives: the proposal's own dataset, or a dataset
derived from it (a fork). Reviews, checks and merges all ask here, so they look at the same
commits whichever it is."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from imagehub.core.errors import InvalidInput, NotFound
from imagehub.core.vcs import CommitId, RefKind, Repository
from imagehub.models.dataset import Dataset
from imagehub.models.proposals import Proposal
from imagehub.services import datasets


@dataclass(frozen=True)
class Source:
    dataset: Dataset  # the dataset holding the branch
    repo: Repository
    branch: str
    forked: bool

    @property
    def fork(self) -> Dataset | None:
        """The derived dataset the branch is in; None within one dataset."""
        return self.dataset if self.forked else None

    @property
    def label(self) -> str:
        """How people name it: ``qc``, or ``owner/fork:qc`` for a fork's branch."""
        return f"{self.dataset.full_name}:{self.branch}" if self.forked else self.branch

    def head(self) -> CommitId:
        try:
            return self.repo.get_ref(self.branch, RefKind.BRANCH).commit
        except NotFound:
            raise InvalidInput(f"the source branch {self.label!r} no longer exists") from None


def of(session: Session, dataset: Dataset, repo: Repository, proposal: Proposal) -> Source:
    if proposal.source_dataset_id is None or proposal.source_dataset_id == dataset.id:
        return Source(dataset, repo, proposal.source_branch, forked=False)
    fork = session.get(Dataset, proposal.source_dataset_id)
    if fork is None or fork.deleted_at is not None:
        raise InvalidInput(f"the dataset that held the source branch {proposal.source_branch!r} was deleted")
    return Source(fork, datasets.repository(session, fork), proposal.source_branch, forked=True)
