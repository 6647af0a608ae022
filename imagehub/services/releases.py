"""Dataset releases: an immutable, citable version of a dataset.

A release is a tag (created in the same transaction, and as immutable as every tag)
plus a title, notes, authors, an optional DOI and a summary of the manifest frozen at
creation. A PHI-bearing branch is never released: a release is for citing and sharing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagehub.core.errors import Conflict, InvalidInput, NotFound
from imagehub.core.vcs import Repository
from imagehub.models import releases as queries
from imagehub.models.dataset import Dataset
from imagehub.models.imaging import SeriesRow, commit_indexed
from imagehub.models.releases import Release
from imagehub.services import access, audit, checks, webhooks
from imagehub.services.browse import tree_size

MAX_PAGE = 1000
DOI = re.compile(r"^10\.\d{4,9}/\S+\Z")


@dataclass(frozen=True)
class ReleaseSummary:
    """The manifest at release time; ``indexed`` is False when the pipeline had not indexed it."""

    files: int
    bytes: int
    series: int
    modalities: dict[str, int]
    indexed: bool = True

    def as_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "bytes": self.bytes,
            "series": self.series,
            "modalities": dict(self.modalities),
            "indexed": self.indexed,
        }


def _summarise(session: Session, dataset: Dataset, repo: Repository, commit_id: str) -> ReleaseSummary:
    size = tree_size(session, repo, repo.resolve(commit_id))
    series, modalities = _series_index(session, dataset.id, commit_id) or (0, {})
    indexed = size.files == 0 or commit_indexed(session, dataset.id, commit_id)
    return ReleaseSummary(size.files, size.bytes, series, modalities, indexed)


def _series_index(session: Session, dataset_id: int, commit_id: str) -> tuple[int, dict[str, int]] | None:
    """The commit's series count and modalities from the imaging index; None while it has
    not been indexed (a commit's index, once made, is as immutable as the commit)."""
    modalities = list(
        session.scalars(
            select(SeriesRow.modality).where(
                SeriesRow.dataset_id == dataset_id, SeriesRow.commit_id == commit_id
            )
        )
    )
    if not modalities and not commit_indexed(session, dataset_id, commit_id):
        return None
    counts = Counter(m or "unknown" for m in modalities)
    return len(modalities), dict(sorted(counts.items()))


def create(
    session: Session,
    dataset: Dataset,
    repo: Repository,
    *,
    tag: str,
    ref: str,
    title: str,
    actor: str,
    notes: str = "",
    doi: str = "",
    authors: Sequence[str] = (),
) -> Release:
    """Tag ``ref`` as ``tag`` and record the release; refused for raw (PHI) data, and
    for a shared (internal or public) dataset until the PHI gate has passed on the commit."""
    if not title.strip():
        raise InvalidInput("a release needs a title")
    doi = doi.strip()
    if doi and not DOI.match(doi):
        raise InvalidInput(f"{doi!r} is not a DOI (expected 10.<registrant>/<suffix>)")
    if access.opens_phi(session, dataset, ref):  # by commit: raw~1 or a raw commit's id too
        raise access.Forbidden(f"{ref!r} holds raw (PHI) data: it cannot be released")
    if queries.by_tag(session, dataset.id, tag) is not None:
        raise Conflict(f"release {tag!r} already exists in {dataset.full_name}: releases are immutable")
    taken = select(Release.tag).where(Release.dataset_id == dataset.id, Release.doi == doi)
    if doi and (named := session.scalar(taken.limit(1))) is not None:
        raise Conflict(f"DOI {doi} already names release {named!r}: a DOI names one version")
    names = [a.strip() for a in authors if a.strip()]
    commit_id = repo.resolve(ref).id
    checks.require_passed(session, dataset, commit_id, checks.required_for_release(dataset))
    try:
        created = repo.create_tag(tag, commit_id, message=title.strip())
    except Conflict as taken_name:  # a tag, or a branch: they share one name space
        raise Conflict(f"{taken_name}: a release needs a name no tag or branch has") from None
    summary = _summarise(session, dataset, repo, created.commit)
    release = Release(
        dataset_id=dataset.id,
        tag=tag,
        commit_id=created.commit,
        title=title.strip(),
        notes=notes,
        doi=doi,
        authors=json.dumps(names),
        summary=json.dumps(summary.as_dict(), sort_keys=True),
        created_by=actor,
    )
    session.add(release)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="release.create",
        dataset=dataset.full_name,
        object=f"release:{tag}",
        ref=ref,
        commit=created.commit,
        details={"tag": tag, "title": release.title, "doi": doi},
    )
    webhooks.emit(
        session,
        dataset,
        "release.published",
        {
            "tag": tag,
            "commit": created.commit,
            "title": release.title,
            "doi": doi,
            "authors": names,
            "created_by": actor,
        },
    )
    return release


def list_releases(
    session: Session, dataset: Dataset, *, before: int | None = None, limit: int = 50
) -> list[Release]:
    """Newest first; ``before`` is the id of the last release of the previous page."""
    if not 0 < limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    return queries.page(session, dataset.id, before=before, limit=limit)


def get(session: Session, dataset: Dataset, tag: str) -> Release:
    found = queries.by_tag(session, dataset.id, tag)
    if found is None:
        raise NotFound(f"no release {tag!r} in {dataset.full_name}")
    return found


def summary_of(session: Session, release: Release) -> ReleaseSummary:
    """The summary frozen at creation; a release made before its commit was indexed takes
    its series and modalities from the index once the index is there."""
    data = json.loads(release.summary)
    frozen = ReleaseSummary(
        files=int(data["files"]),
        bytes=int(data["bytes"]),
        series=int(data["series"]),
        modalities={str(k): int(v) for k, v in data["modalities"].items()},
        indexed=bool(data.get("indexed", True)),
    )
    if frozen.indexed or (index := _series_index(session, release.dataset_id, release.commit_id)) is None:
        return frozen
    return replace(frozen, series=index[0], modalities=index[1], indexed=True)


def authors_of(release: Release) -> list[str]:
    return [str(a) for a in json.loads(release.authors)]


def _yaml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid double-quoted YAML scalar


def citation_cff(release: Release, dataset: Dataset, url: str) -> str:
    lines = [
        "cff-version: 1.2.0",
        'message: "If you use this dataset, please cite it as below."',
        "type: dataset",
        f"title: {_yaml_str(release.title)}",
        f"version: {_yaml_str(release.tag)}",
        f"date-released: {release.created_at:%Y-%m-%d}",
    ]
    names = authors_of(release) or [dataset.owner]
    lines.append("authors:")
    lines.extend(f"  - name: {_yaml_str(name)}" for name in names)
    if release.doi:
        lines.append(f"doi: {_yaml_str(release.doi)}")
    lines.append(f"url: {_yaml_str(url)}")
    lines.append(f"commit: {_yaml_str(release.commit_id)}")
    return "\n".join(lines) + "\n"


def _bib(value: str) -> str:
    """Text safe inside a BibTeX field: braces escaped, then backslashes spelled out (after,
    so that the command's own braces stay as they are)."""
    return "\\textbackslash{}".join(
        part.replace("{", "\\{").replace("}", "\\}") for part in value.split("\\")
    )


def citation_bibtex(release: Release, dataset: Dataset, url: str) -> str:
    key = re.sub(r"[^A-Za-z0-9_]+", "_", f"{dataset.owner}_{dataset.name}_{release.tag}")
    fields = [
        ("title", _bib(release.title)),
        ("author", " and ".join(_bib(a) for a in authors_of(release) or [dataset.owner])),
        ("year", f"{release.created_at:%Y}"),
        ("version", _bib(release.tag)),
    ]
    if release.doi:
        fields.append(("doi", _bib(release.doi)))
    fields += [("url", url), ("note", f"commit {release.commit_id}")]
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@misc{{{key},\n{body}\n}}\n"
