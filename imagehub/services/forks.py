"""Derived datasets as forks: what a derived dataset's branch changed since it was derived,
and bringing that change back into the dataset it came from.

``datasets.derive`` starts a dataset whose first real commit records ``derived_from`` (the
source's ``owner/name``) and ``derived_commit``; its manifests share nodes and blobs with
the source, but its commits are its own. The change a fork's branch proposes is therefore
the manifest diff from that first commit (the *fork base*; once a proposal from the fork
has merged, the fork head it merged) to the branch's head, and it is
merged three-way onto the target branch (see ``Repository.merge_foreign``). Derived subsets
work the same way: paths the subset left out are untouched by the merge.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagehub.core.errors import InvalidInput, NotFound
from imagehub.core.vcs import Commit, CommitId, MergeStrategy, PathConflict, RefKind, Repository
from imagehub.core.vcs.commits import get_commit, walk_history
from imagehub.models.dataset import Dataset
from imagehub.models.proposals import Proposal
from imagehub.services import datasets


@dataclass(frozen=True)
class ForkBranch:
    """A branch of a derived dataset, seen from the dataset it was derived from."""

    fork: Dataset
    repo: Repository
    branch: str
    head: Commit  # the branch's head now
    base: Commit  # the fork's first version, as derived

    @property
    def label(self) -> str:
        return f"{self.fork.full_name}:{self.branch}"


def fork_base(
    session: Session, repo: Repository, head: Commit, fork: Dataset, upstream: Dataset
) -> Commit | None:
    """Where the fork's pending change starts: the newest of its commits already merged into
    ``upstream`` (by an earlier proposal) that ``head`` descends from, else the commit that
    derived it; None if this history was not derived from ``upstream``."""
    history = list(walk_history(repo.stores.commits, head.id))
    derived = [c for c in history if c.metadata.get("derived_from") == upstream.full_name]
    if not derived:
        return None
    in_history: dict[str, Commit] = {c.id: c for c in history}
    merged = [in_history[m] for m in _merged_heads(session, fork, upstream) if m in in_history]
    return max(merged, key=lambda c: c.generation) if merged else derived[-1]  # the oldest derive


def _merged_heads(session: Session, fork: Dataset, upstream: Dataset) -> list[str]:
    """The fork heads that proposals from ``fork`` brought into ``upstream``."""
    merges = session.scalars(
        select(Proposal.merged_commit).where(
            Proposal.dataset_id == upstream.id,
            Proposal.source_dataset_id == fork.id,
            Proposal.state == "merged",
            Proposal.merged_commit.is_not(None),
        )
    )
    commits = datasets.repository(session, upstream).stores.commits.get_many(
        [CommitId(m) for m in merges if m]
    )
    return [c.metadata["merged_commit"] for c in commits.values() if "merged_commit" in c.metadata]


def fork_branch(
    session: Session, upstream: Dataset, fork: Dataset, branch: str, *, at: str | None = None
) -> ForkBranch:
    """``fork``'s ``branch`` (at its head, or at the commit ``at`` of it), once it is known to
    descend from ``upstream``."""
    if fork.id == upstream.id:
        raise InvalidInput("a dataset is not a fork of itself: propose a branch of the same dataset")
    repo = datasets.repository(session, fork)
    try:
        head = get_commit(
            repo.stores.commits, CommitId(at) if at else repo.get_ref(branch, RefKind.BRANCH).commit
        )
    except NotFound:
        raise InvalidInput(f"no branch {branch!r} in {fork.full_name}") from None
    base = fork_base(session, repo, head, fork, upstream)
    if base is None:
        raise InvalidInput(f"{fork.full_name}:{branch} is not derived from {upstream.full_name}")
    return ForkBranch(fork, repo, branch, head, base)


def merge(
    upstream_repo: Repository,
    source: ForkBranch,
    target: str,
    *,
    author: str,
    message: str,
    strategy: MergeStrategy,
    metadata: dict[str, str],
) -> Commit:
    """The fork's change onto ``target`` as one commit naming the fork's head."""
    return upstream_repo.merge_foreign(
        target,
        base_tree=source.base.tree,
        theirs_tree=source.head.tree,
        author=author,
        message=message,
        strategy=strategy,
        metadata={**metadata, "merged_from": source.label, "merged_commit": source.head.id},
        through_proposal=True,
    )


def conflicts(upstream_repo: Repository, source: ForkBranch, target: str) -> list[PathConflict]:
    """The paths merging the fork's change onto ``target`` would stop on now (a dry run)."""
    return upstream_repo.foreign_merge_conflicts(
        target, base_tree=source.base.tree, theirs_tree=source.head.tree
    )
