"""Grouping into series and ordering slices in space, whatever order files arrive in."""

from __future__ import annotations

import dataclasses
import itertools
import random
from pathlib import Path

import numpy as np

from imagehub.core.imaging import InstanceMetadata, group_series, inspect


def metadata(path: Path) -> InstanceMetadata:
    meta = inspect(path, path.name)
    assert isinstance(meta, InstanceMetadata), meta
    return meta


def position_along_normal(meta: InstanceMetadata) -> float:
    assert meta.image_position is not None
    assert meta.image_orientation is not None
    cosines = np.array(meta.image_orientation)
    return float(np.dot(meta.image_position, np.cross(cosines[:3], cosines[3:])))


def test_shuffled_mr_series_comes_back_in_geometric_order(mr_files: list[Path]) -> None:
    items = [(path.name, metadata(path)) for path in mr_files]
    by_key = dict(items)
    random.Random(3).shuffle(items)
    [series] = group_series(items)
    assert series.series_instance_uid == by_key["brain_001.dcm"].series_instance_uid
    assert (series.modality, series.series_description) == ("MR", "FSE PD AXIAL OBL")
    assert sorted(series.members) == sorted(by_key)
    positions = [position_along_normal(by_key[key]) for key in series.members]
    assert all(later > earlier for earlier, later in itertools.pairwise(positions))
    # The series is oblique: ordering by z alone would not be the same thing as ordering along the normal.
    assert by_key["brain_001.dcm"].image_orientation != (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def test_study_splits_into_series_by_number(ct_study: list[Path]) -> None:
    items = [(str(path), metadata(path)) for path in ct_study]
    random.Random(5).shuffle(items)
    series = group_series(items)
    assert [one.series_description for one in series] == ["CHEST 1.25mm", "ABDOMEN PORTAL 2.5mm", "TOPOGRAM"]
    assert len({one.study_instance_uid for one in series}) == 1
    for one in series:
        assert len(one.members) == 6
        assert all(Path(key).parent.name == Path(one.members[0]).parent.name for key in one.members)
    # Axial slices run head to feet, so geometric order (inferior first) reverses the numbering.
    assert [Path(key).name for key in series[0].members] == [f"slice_{n:04d}.dcm" for n in range(6, 0, -1)]
    # The coronal scout steps front to back, along its normal (row x column = +y, posterior).
    assert [Path(key).name for key in series[2].members] == [f"slice_{n:04d}.dcm" for n in range(1, 7)]


def test_nifti_files_and_instances_without_series_are_left_out(mr_files: list[Path]) -> None:
    dicom = metadata(mr_files[0])
    items = [
        ("a.dcm", dicom),
        ("volume.nii.gz", InstanceMetadata(kind="nifti", shape=(4, 4, 4))),
        ("orphan.dcm", dataclasses.replace(dicom, series_instance_uid=None)),
    ]
    [series] = group_series(items)
    assert series.members == ("a.dcm",)


def test_without_positions_instance_number_then_key_decide(mr_files: list[Path]) -> None:
    base = dataclasses.replace(metadata(mr_files[0]), image_position=None)
    items = [
        ("c.dcm", dataclasses.replace(base, sop_instance_uid="1.3", instance_number=2)),
        ("b.dcm", dataclasses.replace(base, sop_instance_uid="1.2", instance_number=1)),
        ("a.dcm", dataclasses.replace(base, sop_instance_uid="1.1", instance_number=2)),
    ]
    [series] = group_series(items)
    assert series.members == ("b.dcm", "a.dcm", "c.dcm")


def test_a_stray_localizer_does_not_decide_the_slice_normal(mr_files: list[Path]) -> None:
    items = [(path.name, metadata(path)) for path in mr_files[:5]]
    scout = dataclasses.replace(
        items[0][1], sop_instance_uid="9.9", image_orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    )
    [series] = group_series([*reversed(items), ("scout.dcm", scout)])
    axial = [key for key in series.members if key != "scout.dcm"]
    assert axial == [path.name for path in mr_files[:5]]


def test_an_instance_stored_at_two_paths_is_one_member(mr_files: list[Path]) -> None:
    items = [(path.name, metadata(path)) for path in mr_files[:4]]
    copy = ("copies/brain_002.dcm", dict(items)["brain_002.dcm"])
    [series] = group_series([copy, *items])
    assert sorted(series.members) == [path.name for path in mr_files[:4]]  # the copy's key sorts later


def test_slices_sharing_a_sop_instance_uid_at_different_places_all_stay(mr_files: list[Path]) -> None:
    """A careless anonymiser gave every slice one UID: none of them may vanish from the volume."""
    items = [(path.name, metadata(path)) for path in mr_files[:6]]
    same_uid = [(key, dataclasses.replace(meta, sop_instance_uid="1.2.3")) for key, meta in items]
    copy = ("copies/brain_002.dcm", dict(same_uid)["brain_002.dcm"])  # a true copy is still one member
    [series] = group_series([copy, *same_uid])
    assert series.members == tuple(path.name for path in mr_files[:6])
