"""The datasheet template: a README.md with the sections of "Datasheets for Datasets".

A datasheet lives in the dataset as ``README.md`` at the root, so it is versioned, diffed and
reviewed with the data it describes; the portal renders it on the dataset's home page. The
template is offered when a dataset is created and on the home page of a dataset without one.
"""

from __future__ import annotations

from importlib import resources

from sqlalchemy.orm import Session

from imagehub.core.errors import Conflict
from imagehub.core.vcs import ChangeSet, Commit, Entry
from imagehub.models.dataset import Dataset
from imagehub.services import audit, blobs, browse, datasets
from imagehub.services.platform import Platform

PATH = "README.md"
MEDIA_TYPE = "text/markdown"


def template(dataset: Dataset) -> str:
    """The template, titled with the dataset's name and opened with its description."""
    text = resources.files("imagehub.services").joinpath("templates/datasheet.md").read_text("utf-8")
    description = dataset.description.strip() or "One paragraph: what this dataset holds and what it is for."
    return text.replace("{title}", dataset.full_name).replace("{description}", description)


def add_template(
    session: Session, platform: Platform, dataset: Dataset, *, branch: str, author: str
) -> Commit:
    """Commit the template as the branch's ``README.md``; refused if a datasheet is there already."""
    repo = datasets.repository(session, dataset)
    blob, size = blobs.upload(session, platform, [template(dataset).encode("utf-8")])

    def plan(head: Commit) -> tuple[ChangeSet, str]:
        """On the head it will land on: one committed meanwhile is never overwritten."""
        present = [n for n in browse.README_NAMES if repo.tree.get(head.tree, n) is not None]
        if present:
            raise Conflict(f"branch {branch!r} already has a datasheet ({present[0]})")
        return ChangeSet().put(Entry(PATH, blob, size, MEDIA_TYPE)), "Add a datasheet from the template"

    made = repo.commit_planned(branch, plan, author=author)
    assert made is not None  # the plan always has a change
    audit.record(
        session,
        actor=author,
        action="datasheet.add",
        dataset=dataset.full_name,
        ref=branch,
        commit=made.id,
    )
    return made
