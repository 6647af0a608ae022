"""Series changes grouped by study, on real DICOM and NIfTI run through the pipeline."""

from __future__ import annotations

from imagehub.services import compare, datasets
from imagehub.services.compare import SeriesChangeKind, StudyChange
from imagehub.services.platform import Platform
from tests.support.datasets import commit_files
from tests.support.portal import run_pipeline
from tests.support.studies import seed_studies, series_files


def _summary(study: StudyChange) -> tuple[str, int, int, int]:
    """The study's own kind, and how many of its series were added, removed, modified."""
    return study.kind, study.count("added"), study.count("removed"), study.count("modified")


def test_series_changes_are_grouped_by_study(platform: Platform) -> None:
    seeded = seed_studies(platform)
    with platform.sessions() as session:
        dataset = datasets.get(session, owner="lab", name="studies")
        repo = datasets.repository(session, dataset)
        found = compare.compare_series(session, repo, dataset.id, seeded.first, seeded.second)
    assert found.indexed
    assert not found.partial
    by_uid = {study.uid: study for study in found.studies}
    assert set(by_uid) == {seeded.new.uid, seeded.kept.uid, seeded.gone.uid, None}
    assert [study.uid for study in found.studies][-1] is None  # the volumes with no study come last

    new, kept, gone, volumes = (
        by_uid[uid] for uid in (seeded.new.uid, seeded.kept.uid, seeded.gone.uid, None)
    )
    assert _summary(new) == ("added", 2, 0, 0)
    assert _summary(kept) == ("modified", 0, 0, 1)
    assert _summary(gone) == ("removed", 0, 1, 0)
    assert _summary(volumes) == ("added", 2, 0, 0)
    assert len(volumes.series) == 2  # both NIfTI files, in the one group with no study

    [modified] = kept.series
    assert modified.key == seeded.kept_modified_series
    assert modified.changed_files == 1
    assert modified.left is not None
    assert (modified.left.instances, modified.row.instances) == (3, 4)
    for study, uid in ((new, seeded.new), (kept, seeded.kept), (gone, seeded.gone)):
        assert study.description == "CT CHEST ABDOMEN WITH CONTRAST"
        assert study.date == uid.date
        assert study.modalities == ("CT",)
    assert (volumes.description, volumes.date, volumes.modalities) == (None, None, ())
    assert sorted(c.key for s in found.studies for c in s.series) == [c.key for c in found.changes]
    assert found.unchanged == 1  # the second series of the kept study


def test_a_series_added_to_an_existing_study_modifies_the_study(platform: Platform) -> None:
    seeded = seed_studies(platform)
    third = commit_files(platform, "lab", "studies", "edits", series_files(1, 2, range(2)), "A scout")
    run_pipeline(platform, "lab/studies", third)
    with platform.sessions() as session:
        dataset = datasets.get(session, owner="lab", name="studies")
        found = compare.compare_series(
            session, datasets.repository(session, dataset), dataset.id, seeded.second, third
        )
    [study] = found.studies
    assert (study.uid, study.kind, study.count("added")) == (seeded.kept.uid, SeriesChangeKind.MODIFIED, 1)
    assert study.series[0].row.description == "TOPOGRAM"
