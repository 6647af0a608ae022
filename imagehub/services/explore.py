"""The datasets a person may see, summarised for the explore page and each dataset's home."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from imagehub.core.auth.policy import is_phi_branch
from imagehub.core.errors import NotFound
from imagehub.core.vcs import Repository
from imagehub.core.vcs.types import Commit
from imagehub.models.dataset import Dataset
from imagehub.models.imaging import SeriesRow
from imagehub.services import access, datasets


@dataclass(frozen=True)
class Summary:
    dataset: Dataset
    head: Commit | None  # the summarised commit; None if there is none to show
    files: int
    modalities: list[str]  # as the pipeline found them at the head; empty until it has run
    series: int

    @property
    def full_name(self) -> str:
        return self.dataset.full_name


def summarise(
    session: Session, dataset: Dataset, repo: Repository | None = None, at: Commit | None = None
) -> Summary:
    """Cheap facts only: counts come from manifest nodes and the series index, not from walking
    files. Without ``at``, the default branch's head; a default branch holding raw (PHI) data
    is not summarised at all, since listing pages open no ref through the PHI gate."""
    repo = repo or datasets.repository(session, dataset)
    if at is None:
        if is_phi_branch(access.facts(dataset), dataset.default_branch):
            return Summary(dataset, None, 0, [], 0)
        try:
            at = repo.resolve(dataset.default_branch)
        except NotFound:
            return Summary(dataset, None, 0, [], 0)
    where = (SeriesRow.dataset_id == dataset.id, SeriesRow.commit_id == at.id)
    modalities = session.scalars(select(SeriesRow.modality).where(*where).distinct()).all()
    series = session.scalar(select(func.count()).select_from(SeriesRow).where(*where)) or 0
    return Summary(dataset, at, repo.count(at.id), sorted(m for m in modalities if m), series)


def has_modality(summary: Summary, modality: str) -> bool:
    """The explore page's modality filter (free text is matched in the database query)."""
    return not modality or modality.upper() in summary.modalities
