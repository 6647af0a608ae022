"""Series to NIfTI: geometry and values must agree with SimpleITK's reading of the same files."""

from __future__ import annotations

import gzip
import io
import random
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK

from imagehub.core.errors import InvalidInput
from imagehub.core.imaging import series_to_nifti

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def load(data: bytes) -> nib.Nifti1Image:
    assert data[:2] == b"\x1f\x8b", "expected gzip-compressed NIfTI"
    image = nib.Nifti1Image.from_bytes(gzip.decompress(data))
    assert isinstance(image, nib.Nifti1Image)
    return image


def simpleitk_series(folder: Path) -> SimpleITK.Image:
    reader = SimpleITK.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def assert_same_geometry_and_values(data: bytes, reference: SimpleITK.Image) -> None:
    image = load(data)
    linear = RAS_TO_LPS @ image.affine[:3, :3]
    origin = RAS_TO_LPS @ image.affine[:3, 3]
    spacing = np.linalg.norm(linear, axis=0)
    direction = linear / spacing
    np.testing.assert_allclose(origin, reference.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(spacing, reference.GetSpacing(), rtol=1e-5)
    # SimpleITK takes the third axis from the slice normal, the export from the measured slice
    # step; scanners round positions, so they differ by a few ten-thousandths.
    np.testing.assert_allclose(direction, np.reshape(reference.GetDirection(), (3, 3)), atol=1e-3)
    expected = SimpleITK.GetArrayFromImage(reference).transpose(2, 1, 0)  # (z, y, x) -> (x, y, z)
    np.testing.assert_array_equal(np.asarray(image.dataobj), expected)


def test_mr_series_matches_simpleitk(mr_files: list[Path], tmp_path: Path) -> None:
    # brain_001.dcm trails 2.5 MB of zeros that GDCM parses for seconds; 19 slices show as much.
    for path in mr_files[1:]:
        shutil.copy(path, tmp_path / path.name)
    shuffled = [tmp_path / path.name for path in mr_files[1:]]
    random.Random(2).shuffle(shuffled)
    data = series_to_nifti(shuffled)
    assert load(data).get_data_dtype() == np.int16
    # Voxels keep DICOM's layout (column, row, slice), which for this series points L, P, S.
    assert nib.aff2axcodes(load(data).affine) == ("L", "P", "S")
    assert_same_geometry_and_values(data, simpleitk_series(tmp_path))


@pytest.mark.parametrize("series", [0, 2], ids=["axial-chest", "coronal-scout"])
def test_synthetic_ct_matches_simpleitk(ct_study: list[Path], series: int) -> None:
    members = ct_study[series * 6 : series * 6 + 6]
    data = series_to_nifti(members)
    image = load(data)
    assert image.shape == (80, 64, 6)
    assert image.get_data_dtype() == np.int16  # slope 1, intercept -1024: HU stay integers
    assert np.asarray(image.dataobj).min() < -900  # air in HU, not stored values
    assert image.header.get_xyzt_units()[0] == "mm"
    assert_same_geometry_and_values(data, simpleitk_series(members[0].parent))


def test_equal_series_give_equal_bytes(mr_files: list[Path]) -> None:
    assert series_to_nifti(mr_files) == series_to_nifti(list(reversed(mr_files)))


def test_fractional_rescale_gives_float32(mr_files: list[Path]) -> None:
    sources = []
    for path in mr_files[1:5]:
        ds = pydicom.dcmread(path)
        ds.RescaleSlope, ds.RescaleIntercept = 0.5, 0.25
        buffer = io.BytesIO()
        ds.save_as(buffer)
        buffer.seek(0)
        sources.append(buffer)
    image = load(series_to_nifti(sources))
    assert image.get_data_dtype() == np.float32
    stored = pydicom.dcmread(mr_files[1]).pixel_array.T
    np.testing.assert_allclose(np.asarray(image.dataobj)[..., 0], stored * 0.5 + 0.25)


def test_single_slice_uses_the_slice_thickness(mr_files: list[Path]) -> None:
    image = load(series_to_nifti(mr_files[1:2]))
    assert image.shape == (256, 256, 1)
    spacing = pydicom.dcmread(mr_files[1]).SpacingBetweenSlices
    assert np.linalg.norm(image.affine[:3, 2]) == pytest.approx(float(spacing))


def test_inconsistent_series_are_rejected(mr_files: list[Path], ct_study: list[Path]) -> None:
    with pytest.raises(InvalidInput, match="differ in rows/columns"):
        series_to_nifti([mr_files[0], ct_study[0]])
    with pytest.raises(InvalidInput, match="differ in orientation"):
        series_to_nifti([ct_study[0], ct_study[12]])  # axial chest and coronal scout
    with pytest.raises(InvalidInput, match="same position"):
        series_to_nifti([mr_files[0], mr_files[0], mr_files[1]])
    with pytest.raises(InvalidInput, match="slice spacing varies"):
        series_to_nifti([mr_files[0], mr_files[1], mr_files[3]])  # a missing slice
    with pytest.raises(InvalidInput, match="at least one instance"):
        series_to_nifti([])
    with pytest.raises(InvalidInput, match="not a DICOM instance"):
        series_to_nifti([io.BytesIO(b"text" * 100)])
