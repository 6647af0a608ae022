"""The datasets a person may see, summarised for the explore page and each dataset's home."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from imagehub.core.errors import NotFound
from imagehub.core.vcs import Repository
from imagehub.core.vcs.types import Commit
from imagehub.models.dataset import Dataset
from imagehub.models.imaging import SeriesRow
from imagehub.services import datasets


@dataclass(frozen=True)
class Summary:
    dataset: Dataset
    head: Commit | None  # the default branch's commit; None if the branch is gone
    files: int
    modalities: list[str]  # as the pipeline found them at the head; empty until it has run
    series: int

    @property
    def full_name(self) -> str:
        return f"{self.dataset.owner}/{self.dataset.name}"


def summarise(session: Session, dataset: Dataset, repo: Repository | None = None) -> Summary:
    """Cheap facts only: counts come from manifest nodes and the series index, not from walking files."""
    repo = repo or datasets.repository(session, dataset)
    try:
        head = repo.resolve(dataset.default_branch)
    except NotFound:
        return Summary(dataset, None, 0, [], 0)
    where = (SeriesRow.dataset_id == dataset.id, SeriesRow.commit_id == head.id)
    modalities = session.scalars(select(SeriesRow.modality).where(*where).distinct()).all()
    series = session.scalar(select(func.count()).select_from(SeriesRow).where(*where)) or 0
    return Summary(dataset, head, repo.count(head.id), sorted(m for m in modalities if m), series)


def matches(summary: Summary, *, text: str = "", modality: str = "") -> bool:
    """The explore page's filters: free text over name and description, and a modality."""
    needle = text.strip().lower()
    haystack = f"{summary.full_name} {summary.dataset.description}".lower()
    if needle and needle not in haystack:
        return False
    return not modality or modality.upper() in summary.modalities
