"""Materialise the pipeline in-process on real sample data and check what it derived."""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import nibabel as nib
import nibabel.testing
import pydicom
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    ExecuteInProcessResult,
    SensorResult,
    build_sensor_context,
    materialize,
)
from PIL import Image
from pydicom.data import get_testdata_file
from sqlalchemy import make_url, select

from imagehub.core.storage import ObjectStore, StorageError
from imagehub.core.vcs import Commit
from imagehub.models import dataset as dataset_queries
from imagehub.models.imaging import CommitFile, ImagingFile, SeriesRow
from imagehub.services import datasets, imaging, imaging_work
from imagehub.services.imaging_work import Extracted
from imagehub.services.pipeline import partition_key
from imagehub.services.platform import Platform
from imagehub_assets.assets import ASSETS, instance_metadata
from imagehub_assets.automation import new_commits
from imagehub_assets.partitions import dataset_commits
from tests.assets.conftest import resources_for
from tests.support.datasets import commit_files
from tests.support.phi_corpus import write_phi_corpus
from tests.support.postgres import fresh_database

VOLUME = Path(__file__).parents[1] / "data" / "volume"
DEPLOY_INSTANCE = Path(__file__).parents[2] / "deploy" / "dagster" / "dagster.yaml"
NIFTI_4D = Path(nibabel.testing.data_path) / "example4d.nii.gz"
PYDICOM_FILES = (
    "CT_small.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "JPEG-LL.dcm",
    "eCT_Supplemental.dcm",  # enhanced CT: one instance, two frames
    "rtstruct.dcm",  # RT structures and a structured report: series without pixels
    "test-SR.dcm",
)


def _sample_files() -> dict[str, bytes]:
    files = {f"mr/{p.name}": p.read_bytes() for p in sorted(VOLUME.glob("*.dcm"))}
    for name in PYDICOM_FILES:
        files[f"zoo/{name}"] = Path(get_testdata_file(name)).read_bytes()
    files["nifti/example4d.nii.gz"] = NIFTI_4D.read_bytes()
    files["broken/truncated.dcm"] = files["zoo/CT_small.dcm"][:700]
    files["broken/rle_cut.dcm"] = files["zoo/MR_small_RLE.dcm"][:-500]  # compressed, cut short
    files["copies/brain_001.dcm"] = files["mr/brain_001.dcm"]  # one instance at two paths
    files["notes/README.txt"] = b"scanner export notes, not imaging\n"
    return files


def _commit(platform: Platform, files: dict[str, bytes | None], message: str = "samples") -> Commit:
    with platform.sessions.begin() as session:
        if dataset_queries.get_live(session, owner="lab", name="scans") is None:
            datasets.create(session, owner="lab", name="scans", author="tester")
    return commit_files(platform, "lab", "scans", "main", files, message)


def _materialize(
    platform: Platform, instance: DagsterInstance, commit: Commit, compute: str = "local"
) -> tuple[str, ExecuteInProcessResult]:
    key = partition_key("lab/scans", commit.id)
    instance.add_dynamic_partitions(dataset_commits.name, [key])
    result = materialize(
        ASSETS, partition_key=key, instance=instance, resources=resources_for(platform, compute)
    )
    assert result.success
    return key, result


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pipeline_derives_metadata_series_thumbnails_and_volumes(
    platform: Platform, instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches and transactions, so that results are saved part way and at the end.
    monkeypatch.setenv("IMAGEHUB_PIPELINE_BATCH_SIZE", "3")
    monkeypatch.setattr(imaging, "STORED_PER_TRANSACTION", 4)
    files = _sample_files()
    commit = _commit(platform, dict(files))
    key, result = _materialize(platform, instance, commit, compute="ray")
    ref = imaging.resolve_commit(platform, "lab/scans", commit.id)

    with platform.sessions() as session:
        joined = list(
            session.execute(
                select(CommitFile, ImagingFile).join(ImagingFile, ImagingFile.blob == CommitFile.blob)
            )
        )
        rows = {c.path: f for c, f in joined}
        series_of = {c.path: c.series_key for c, _ in joined}
    assert set(rows) == set(files)  # every file has a row, imaging or not
    for path, content in files.items():
        if not (path.startswith(("mr/", "zoo/"))):
            continue
        direct = pydicom.dcmread(io.BytesIO(content), stop_before_pixels=True, force=True)
        row = rows[path]
        attributes = json.loads(row.attributes)
        assert row.kind == "dicom", path
        assert row.sop_uid == direct.SOPInstanceUID
        assert row.series_uid == direct.SeriesInstanceUID
        assert row.study_uid == direct.StudyInstanceUID
        assert row.modality == direct.Modality
        assert (attributes["rows"], attributes["columns"]) == (direct.get("Rows"), direct.get("Columns"))
    assert rows["nifti/example4d.nii.gz"].kind == "nifti"
    assert json.loads(rows["nifti/example4d.nii.gz"].attributes)["shape"] == list(nib.load(NIFTI_4D).shape)
    for bad in ("broken/truncated.dcm", "broken/rle_cut.dcm", "notes/README.txt"):
        assert rows[bad].kind == "unreadable"
        assert rows[bad].reason
    assert rows["broken/rle_cut.dcm"].reason == "truncated DICOM: the compressed pixel data is cut off"

    series = {s.series_key: s for s in imaging.series(platform, ref)}
    mr_uid = rows["mr/brain_001.dcm"].series_uid
    mr = series[mr_uid]
    members = json.loads(mr.members)
    # One member per instance: the copy's path sorts first, so it stands for brain_001.
    expected = [p for p in files if p.startswith("mr/") and p != "mr/brain_001.dcm"]
    assert sorted(members) == sorted([*expected, "copies/brain_001.dcm"])
    assert series_of["copies/brain_001.dcm"] == series_of["mr/brain_001.dcm"] == mr_uid
    positions = [float(pydicom.dcmread(io.BytesIO(files[p])).ImagePositionPatient[2]) for p in members]
    steps = [b - a for a, b in itertools.pairwise(positions)]
    assert all(s > 0 for s in steps) or all(s < 0 for s in steps)  # geometric order

    documents = {rows[f"zoo/{name}"].series_uid for name in ("rtstruct.dcm", "test-SR.dcm")}
    assert {key for key, row in series.items() if row.kind == "document"} == documents
    for uid in documents:  # nothing to render, and nothing missing
        assert (series[uid].thumbnail_key, series[uid].thumbnail_error, series[uid].nifti_key) == (
            None,
            "",
            None,
        )
    for row in series.values():  # lineage: every artefact names this commit
        assert row.commit_id == commit.id
        if row.kind == "document":
            continue
        assert row.thumbnail_key, (row.series_key, row.thumbnail_error)
        thumbnail = Image.open(io.BytesIO(b"".join(platform.store.get(row.thumbnail_key))))
        assert max(thumbnail.size) == 256
    assert mr.nifti_key, mr.nifti_error
    image = nib.Nifti1Image.from_bytes(gzip.decompress(b"".join(platform.store.get(mr.nifti_key))))
    first = pydicom.dcmread(io.BytesIO(files[members[0]]), stop_before_pixels=True)
    assert sorted(image.shape) == sorted((first.Rows, first.Columns, len(members)))
    enhanced = series[rows["zoo/eCT_Supplemental.dcm"].series_uid]
    assert enhanced.nifti_key, enhanced.nifti_error
    volume = nib.Nifti1Image.from_bytes(gzip.decompress(b"".join(platform.store.get(enhanced.nifti_key))))
    assert volume.shape == (512, 512, 2)  # a volume of its frames

    events = instance.fetch_materializations(AssetKey("series_thumbnails"), limit=10).records
    assert len(events) == 1
    materialization = events[0].asset_materialization
    assert materialization is not None
    assert materialization.partition == key
    assert materialization.metadata["commit"].value == commit.id
    assert materialization.metadata["series"].value == len(series) - len(documents)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["every_file_has_metadata"]
    assert checks["every_series_has_a_thumbnail"]


def _latest_metadata(instance: DagsterInstance, asset: str) -> dict[str, object]:
    records = instance.fetch_materializations(AssetKey(asset), limit=1).records
    materialization = records[0].asset_materialization
    assert materialization is not None
    return {name: value.value for name, value in materialization.metadata.items()}


def test_a_new_commit_extracts_only_changed_files(platform: Platform, instance: DagsterInstance) -> None:
    ct = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    mr = Path(get_testdata_file("MR_small.dcm")).read_bytes()
    first = _commit(platform, {"ct.dcm": ct, "mr.dcm": mr, "broken.dcm": ct[:500]})
    _materialize(platform, instance, first)
    assert _latest_metadata(instance, "instance_metadata")["extracted"] == 3

    second = _commit(
        platform, {"broken.dcm": None, "jpeg.dcm": Path(get_testdata_file("JPEG-LL.dcm")).read_bytes()}
    )
    _materialize(platform, instance, second)
    figures = _latest_metadata(instance, "instance_metadata")
    assert (figures["files"], figures["extracted"], figures["reused"], figures["unreadable"]) == (3, 1, 2, 0)
    assert figures["commit"] == second.id
    # The first commit's index is untouched: each commit keeps its own lineage.
    with platform.sessions() as session:
        paths = set(session.scalars(select(CommitFile.path).where(CommitFile.commit_id == first.id)))
    assert paths == {"ct.dcm", "mr.dcm", "broken.dcm"}


def test_the_metadata_step_run_again_alone_keeps_thumbnails_and_volumes(
    platform: Platform, instance: DagsterInstance
) -> None:
    commit = _commit(platform, {f"mr/{p.name}": p.read_bytes() for p in sorted(VOLUME.glob("*.dcm"))})
    key, _ = _materialize(platform, instance, commit)

    def derived() -> list[tuple[str | None, str | None]]:
        with platform.sessions() as session:
            rows = session.scalars(select(SeriesRow).where(SeriesRow.commit_id == commit.id))
            return [(row.thumbnail_key, row.nifti_key) for row in rows]

    before = derived()
    assert before
    assert all(thumbnail and volume for thumbnail, volume in before)
    again = materialize(
        ASSETS,
        selection=[instance_metadata.key],
        partition_key=key,
        instance=instance,
        resources=resources_for(platform),
    )
    assert again.success
    assert derived() == before


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_run_for_a_deleted_dataset_says_so_in_one_line(
    platform: Platform, instance: DagsterInstance
) -> None:
    commit = _commit(platform, {"notes/README.txt": b"notes"})
    key = partition_key("lab/scans", commit.id)
    instance.add_dynamic_partitions(dataset_commits.name, [key])
    with platform.sessions.begin() as session:  # deleted after the sensor asked for the run
        datasets.delete(session, owner="lab", name="scans")
    result = materialize(
        ASSETS, partition_key=key, instance=instance, resources=resources_for(platform), raise_on_error=False
    )
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    error = failure.step_failure_data.error
    assert error is not None
    assert error.cls_name == "Failure"
    assert error.message.strip().endswith("it went after the run was requested")
    assert "dataset 'lab/scans' not found" in error.message
    assert failure.step_failure_data.user_failure_data is not None  # Dagster's own Failure, not retried


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_pipeline_runs_on_the_postgres_dagster_instance(
    platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production instance config (deploy/dagster) stores runs and events in PostgreSQL."""
    with fresh_database() as dagster_url:
        parsed = make_url(dagster_url)
        for name, value in {
            "DAGSTER_PG_HOST": parsed.host,
            "DAGSTER_PG_PORT": str(parsed.port or 5432),
            "DAGSTER_PG_USER": parsed.username,
            "DAGSTER_PG_PASSWORD": parsed.password or "",
            "DAGSTER_PG_DB": parsed.database,
        }.items():
            monkeypatch.setenv(name, str(value))
        home = tmp_path / "dagster"
        home.mkdir()
        shutil.copy(DEPLOY_INSTANCE, home / "dagster.yaml")
        with DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            commit = _commit(platform, {"ct.dcm": Path(get_testdata_file("CT_small.dcm")).read_bytes()})
            key, _ = _materialize(platform, instance, commit)
            assert [run.tags.get("dagster/partition") for run in instance.get_runs()] == [key]
            assert _latest_metadata(instance, "series_thumbnails")["made"] == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_raw_commit_flows_into_the_deidentified_branch(
    platform: Platform, instance: DagsterInstance, tmp_path: Path
) -> None:
    corpus = write_phi_corpus(tmp_path / "corpus", instances=4, seed=2)
    with platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="lab", name="scans", author="tester")
        dataset.deid_ocr = "none"
        dataset.deid_profile = "basic"
        datasets.repository(session, dataset).create_branch("raw", "main")
    files: dict[str, bytes | None] = {p.name: p.read_bytes() for p in corpus.paths}
    raw = commit_files(platform, "lab", "scans", "raw", files)
    _key, _result = _materialize(platform, instance, raw)

    figures = _latest_metadata(instance, "deidentified_commit")
    assert figures["commit"] == raw.id
    assert figures["instances"] == len(corpus.paths)
    output = figures["deidentified_commit"]
    with platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        assert repo.resolve("deidentified").id == output
        assert repo.resolve(str(output)).metadata["deidentified_from"] == raw.id

    # The de-identified commit is a new head: the sensor gives it its own partition and run.
    with build_sensor_context(instance=instance, resources=resources_for(platform)) as context:
        requested = new_commits(context)
    assert isinstance(requested, SensorResult)
    assert [r.partition_key for r in requested.run_requests] == [partition_key("lab/scans", str(output))]


class _Unreachable:
    """The site's store with its reads failing, as during an outage of the bucket."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def open(self, key: str, size: int) -> BinaryIO:
        raise StorageError("S3 unreachable: connection refused")

    def get(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        raise StorageError("S3 unreachable: connection refused")


def test_a_storage_outage_fails_the_run_and_records_nothing_about_the_files(
    platform: Platform, instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = _commit(platform, {f"mr/{p.name}": p.read_bytes() for p in sorted(VOLUME.glob("*.dcm"))})
    key = partition_key("lab/scans", commit.id)
    instance.add_dynamic_partitions(dataset_commits.name, [key])
    store = imaging_work.worker_store(platform.settings)
    monkeypatch.setattr(imaging_work, "worker_store", lambda settings: _Unreachable(store))
    failed = materialize(
        ASSETS,
        partition_key=key,
        instance=instance,
        resources=resources_for(platform),
        raise_on_error=False,
    )
    assert not failed.success
    with platform.sessions() as session:
        assert session.scalars(select(ImagingFile)).all() == []
    blob = hashlib.sha256(next(VOLUME.glob("*.dcm")).read_bytes()).hexdigest()
    for step in (imaging_work.render_thumbnails, imaging_work.convert_to_nifti):
        with pytest.raises(StorageError, match="S3 unreachable"):
            step(platform.settings, [imaging_work.SeriesTask("s", "dicom", (blob,), "a.dcm")])

    monkeypatch.undo()
    _materialize(platform, instance, commit)
    ref = imaging.resolve_commit(platform, "lab/scans", commit.id)
    assert [s.kind for s in imaging.series(platform, ref)] == ["dicom"]


def test_rows_an_outage_left_are_extracted_again(platform: Platform, instance: DagsterInstance) -> None:
    files = {f"mr/{p.name}": p.read_bytes() for p in sorted(VOLUME.glob("*.dcm"))}
    commit = _commit(platform, files)
    reason = "cannot read stored blob: S3 unreachable"  # as earlier versions recorded an outage
    poisoned = [Extracted(hashlib.sha256(d).hexdigest(), "unreadable", reason, None) for d in files.values()]
    with platform.sessions.begin() as session:
        imaging.store_metadata_rows(session, poisoned)
    _materialize(platform, instance, commit)
    with platform.sessions() as session:
        assert set(session.scalars(select(ImagingFile.kind))) == {"dicom"}
    ref = imaging.resolve_commit(platform, "lab/scans", commit.id)
    assert [s.kind for s in imaging.series(platform, ref)] == ["dicom"]
