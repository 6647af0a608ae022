"""A dataset whose second version adds a study, modifies another and removes a third, with the
pipeline run on both versions: what the study-level comparison is tested on."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pydicom

from imagehub.core.imaging.synthetic import ct_instance_bytes
from imagehub.core.vcs import Commit
from imagehub.services import datasets
from imagehub.services.platform import Platform
from tests.support.datasets import commit_files
from tests.support.portal import label_map_bytes, nifti_bytes, run_pipeline

SIZE = 32  # pixels a side: small images keep the pipeline quick


@dataclass(frozen=True)
class StudyUid:
    uid: str
    date: str  # as the page shows it, YYYY-MM-DD


@dataclass(frozen=True)
class SeededStudies:
    first: Commit  # studies "kept" (two series) and "gone" (one series)
    # "new" added (two series), a series of "kept" gained a slice, "gone" removed, two NIfTI added:
    second: Commit
    kept: StudyUid
    gone: StudyUid
    new: StudyUid
    kept_modified_series: str


def series_files(seed: int, series_index: int, slices: range) -> dict[str, bytes | None]:
    return {
        f"s{seed}/series{series_index}/{i:03d}.dcm": ct_instance_bytes(
            seed=seed, series_index=series_index, slice_index=i, rows=SIZE, columns=SIZE
        )
        for i in slices
    }


def _study(seed: int) -> StudyUid:
    header = pydicom.dcmread(io.BytesIO(ct_instance_bytes(seed=seed, rows=SIZE, columns=SIZE)))
    date = str(header.StudyDate)
    return StudyUid(str(header.StudyInstanceUID), f"{date[:4]}-{date[4:6]}-{date[6:]}")


def seed_studies(
    platform: Platform, owner: str = "lab", name: str = "studies", branch: str = "edits"
) -> SeededStudies:
    """``first`` on the default branch, ``second`` on ``branch`` (a proposal can take it from there)."""
    with platform.sessions.begin() as session:
        datasets.create(session, owner=owner, name=name, author=owner, description="Three CT studies")
    first = commit_files(
        platform,
        owner,
        name,
        "main",
        {**series_files(1, 0, range(3)), **series_files(1, 1, range(2)), **series_files(2, 0, range(2))},
    )
    with platform.sessions.begin() as session:
        datasets.repository(session, datasets.get(session, owner=owner, name=name)).create_branch(
            branch, first.id
        )
    second_files = {
        **series_files(3, 0, range(2)),
        **series_files(3, 1, range(2)),
        **series_files(1, 0, range(3, 4)),  # the first series of study 1 gains a slice
        **{path: None for path in series_files(2, 0, range(2))},
        "volumes/example.nii.gz": nifti_bytes(),
        "volumes/example_labels.nii.gz": label_map_bytes(),
    }
    second = commit_files(
        platform, owner, name, branch, second_files, "New study, one more slice, one study out"
    )
    for commit in (first, second):
        run_pipeline(platform, f"{owner}/{name}", commit)
    modified = pydicom.dcmread(
        io.BytesIO(ct_instance_bytes(seed=1, rows=SIZE, columns=SIZE))
    ).SeriesInstanceUID
    return SeededStudies(first, second, _study(1), _study(2), _study(3), str(modified))
