"""The synthetic CT generator: valid files, realistic headers with PHI, deterministic output."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from imagehub.core.imaging import InstanceMetadata, decode_pixels, group_series, inspect, inspect_bytes
from imagehub.core.imaging.synthetic import ct_instance, ct_instance_bytes, write_ct_study


def test_ct_instance_is_a_valid_512_slice_with_phi() -> None:
    data = ct_instance_bytes()
    assert data[128:132] == b"DICM"
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.SOPClassUID == CTImageStorage == ds.file_meta.MediaStorageSOPClassUID
    assert ds.pixel_array.shape == (512, 512)
    assert ds.pixel_array.dtype == np.int16
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientAddress", "InstitutionName"):
        assert str(ds.get(keyword) or "").strip(), f"{keyword} should carry identifying text"
    assert ds.RescaleIntercept == -1024
    assert ds.KVP == 120
    assert ct_instance() == pydicom.dcmread(io.BytesIO(data))


def test_round_trip_through_inspect_keeps_the_phi() -> None:
    data = ct_instance_bytes(seed=3, series_index=1, slice_index=4)
    ds = pydicom.dcmread(io.BytesIO(data))
    meta = inspect_bytes(data, "ct.dcm")
    assert isinstance(meta, InstanceMetadata)
    assert meta.patient_id == ds.PatientID
    assert meta.patient_id.startswith("MRN")
    assert (meta.modality, meta.body_part, meta.instance_number) == ("CT", "ABDOMEN", 5)
    assert meta.shape == (1, 512, 512)
    assert meta.slice_thickness == 2.5
    assert meta.acquisition["KVP"] == 120


def test_study_files_equal_single_instances_and_are_deterministic(tmp_path: Path) -> None:
    first = write_ct_study(tmp_path / "a", series=3, slices=4, rows=48, columns=48, seed=11)
    again = write_ct_study(tmp_path / "b", series=3, slices=4, rows=48, columns=48, seed=11)
    other = write_ct_study(tmp_path / "c", series=1, slices=1, rows=48, columns=48, seed=12)
    assert len(first) == 12
    assert [path.read_bytes() for path in first] == [path.read_bytes() for path in again]
    assert other[0].read_bytes() != first[0].read_bytes()
    # The fast series writer produces exactly what pydicom's own writer does.
    for series_index, slice_index in [(0, 0), (1, 3), (2, 2)]:
        expected = ct_instance_bytes(
            seed=11, series_index=series_index, slice_index=slice_index, rows=48, columns=48
        )
        assert first[series_index * 4 + slice_index].read_bytes() == expected


def test_study_has_distinct_series_and_a_body_in_hounsfield_units(ct_study: list[Path]) -> None:
    items = []
    for path in ct_study:
        meta = inspect(path, str(path))
        assert isinstance(meta, InstanceMetadata), meta
        items.append((str(path), meta))
    series = group_series(items)
    assert [(one.series_description, len(one.members)) for one in series] == [
        ("CHEST 1.25mm", 6),
        ("ABDOMEN PORTAL 2.5mm", 6),
        ("TOPOGRAM", 6),
    ]
    assert {meta.body_part for _, meta in items} == {"CHEST", "ABDOMEN"}
    assert len({meta.patient_id for _, meta in items}) == 1
    hu = decode_pixels(ct_study[0], "chest").values
    assert hu.min() < -950  # air
    assert ((hu > -900) & (hu < -700)).any()  # lung
    assert hu.max() > 600  # bone
