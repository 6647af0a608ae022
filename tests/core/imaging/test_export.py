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
from pydicom.data import get_testdata_file

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


def test_a_gantry_tilted_series_is_resampled_onto_an_upright_grid(tmp_path: Path) -> None:
    """A tilted series steps partly within the slice plane: a grid no qform can hold and ITK
    cannot read. The export shifts each slice back onto the grid along the normal, so every
    reader agrees, and each voxel stays where its DICOM position puts it."""
    tilt = np.deg2rad(15)
    rows, columns, spacing = 12, 10, (0.7, 0.9)
    row_cosine = np.array([1.0, 0.0, 0.0])
    column_cosine = np.array([0.0, np.cos(tilt), -np.sin(tilt)])
    paths = []
    series_uid = pydicom.uid.generate_uid()
    for k in range(6):
        ds = pydicom.Dataset()
        ds.SOPClassUID = pydicom.uid.CTImageStorage
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.SeriesInstanceUID = series_uid
        ds.Modality = "CT"
        ds.Rows, ds.Columns = rows, columns
        ds.PixelSpacing = list(spacing)
        ds.ImageOrientationPatient = [*row_cosine, *column_cosine]
        ds.ImagePositionPatient = [10, -20, 30 + 2.5 * k]  # the table moves along z, not the normal
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit, ds.PixelRepresentation, ds.SamplesPerPixel = 15, 1, 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        pixels = np.zeros((rows, columns), np.int16)
        pixels[5, 4] = 1000  # one bright voxel per slice, at the same row and column
        ds.PixelData = pixels.tobytes()
        ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        path = tmp_path / f"{k}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    data = series_to_nifti(list(paths))
    image = load(data)
    assert (int(image.header["qform_code"]), int(image.header["sform_code"])) == (1, 1)
    np.testing.assert_allclose(image.get_qform(), image.get_sform(), atol=1e-4)
    voxels = np.asarray(image.dataobj)
    for k in range(6):  # the bright voxel's true place (LPS to RAS), through the new grid
        lps = np.array([10, -20, 30 + 2.5 * k]) + 4 * spacing[1] * row_cosine + 5 * spacing[0] * column_cosine
        place = np.linalg.inv(image.affine) @ [-lps[0], -lps[1], lps[2], 1]
        assert round(place[2]) == k
        column, row = (round(v) for v in place[:2])
        brightest = np.unravel_index(np.argmax(voxels[:, :, k]), voxels.shape[:2])
        assert abs(brightest[0] - column) <= 1
        assert abs(brightest[1] - row) <= 1
    written = tmp_path / "tilted.nii.gz"
    written.write_bytes(data)
    SimpleITK.ReadImage(str(written))  # ITK reads it (a sheared file it refuses)


def test_an_upright_series_has_equal_qform_and_sform(mr_files: list[Path]) -> None:
    image = load(series_to_nifti(list(mr_files)))
    assert (int(image.header["qform_code"]), int(image.header["sform_code"])) == (1, 1)
    # Equal up to the nearest rotation to a scanner's rounded positions: hundredths of a mm.
    np.testing.assert_allclose(image.get_qform(), image.get_sform(), atol=1e-2)


def frame_positions(ds: pydicom.Dataset) -> list[np.ndarray]:
    """Each frame's ImagePositionPatient, read straight from its functional group."""
    return [
        np.array(item.PlanePositionSequence[0].ImagePositionPatient, float)
        for item in ds.PerFrameFunctionalGroupsSequence
    ]


def assert_frames_placed(image: nib.Nifti1Image, values: np.ndarray, positions: list[np.ndarray]) -> None:
    """Each frame's values fill the slice whose voxel (0, 0) the affine maps to that frame's
    position (NIfTI is RAS, DICOM LPS), whatever order the frames came in."""
    volume = np.asarray(image.dataobj)
    assert volume.shape[2] == len(positions)
    ras_to_voxel = np.linalg.inv(image.affine)
    for frame, position in zip(values, positions, strict=True):
        voxel = ras_to_voxel @ np.append(RAS_TO_LPS @ position, 1.0)
        np.testing.assert_allclose(voxel[:2], (0, 0), atol=1e-4)
        k = round(voxel[2])
        assert abs(voxel[2] - k) < 1e-4
        np.testing.assert_allclose(volume[:, :, k], frame.T, rtol=1e-6)


def enhanced_ct(members: list[pydicom.Dataset]) -> bytes:
    """One Legacy Converted Enhanced CT of classic slices, as highdicom writes it."""
    from highdicom.legacy import LegacyConvertedEnhancedCTImage

    enhanced = LegacyConvertedEnhancedCTImage(
        members,
        series_instance_uid=pydicom.uid.generate_uid(),
        series_number=99,
        sop_instance_uid=pydicom.uid.generate_uid(),
        instance_number=1,
    )
    buffer = io.BytesIO()
    enhanced.save_as(buffer)
    return buffer.getvalue()


def test_an_enhanced_ct_becomes_the_same_volume_as_the_classic_series_it_came_from(
    ct_study: list[Path],
) -> None:
    classic = ct_study[:6]
    enhanced = enhanced_ct([pydicom.dcmread(path) for path in reversed(classic)])
    from_frames, from_slices = load(series_to_nifti([io.BytesIO(enhanced)])), load(series_to_nifti(classic))
    assert from_frames.get_data_dtype() == np.int16  # HU, as integers
    np.testing.assert_array_equal(np.asarray(from_frames.dataobj), np.asarray(from_slices.dataobj))
    np.testing.assert_allclose(from_frames.affine, from_slices.affine, atol=1e-6)


def test_a_real_enhanced_ct_places_each_frame_by_its_own_position() -> None:
    path = get_testdata_file("eCT_Supplemental.dcm")
    ds = pydicom.dcmread(path)
    image = load(series_to_nifti([path]))
    shared = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    hounsfield = ds.pixel_array * float(shared.RescaleSlope) + float(shared.RescaleIntercept)
    assert_frames_placed(image, hounsfield, frame_positions(ds))


def test_frames_rescaled_differently_each_keep_their_own_scale(ct_study: list[Path]) -> None:
    members = [pydicom.dcmread(path) for path in ct_study[:3]]
    for number, member in enumerate(members, 1):
        member.RescaleSlope = float(number)  # 1, 2, 3: per-frame groups after conversion
    enhanced = enhanced_ct(members)
    ds = pydicom.dcmread(io.BytesIO(enhanced))
    image = load(series_to_nifti([io.BytesIO(enhanced)]))
    scales = [item.PixelValueTransformationSequence[0] for item in ds.PerFrameFunctionalGroupsSequence]
    assert [float(s.RescaleSlope) for s in scales] == [1.0, 2.0, 3.0]
    expected = np.stack(
        [
            frame * float(s.RescaleSlope) + float(s.RescaleIntercept)
            for frame, s in zip(ds.pixel_array, scales, strict=True)
        ]
    )
    assert_frames_placed(image, expected, frame_positions(ds))


def test_an_rt_dose_grid_becomes_a_volume_in_gray_placed_by_its_offsets() -> None:
    path = get_testdata_file("rtdose.dcm")
    ds = pydicom.dcmread(path)
    image = load(series_to_nifti([path]))
    assert image.get_data_dtype() == np.float32
    normal = np.cross(
        np.array(ds.ImageOrientationPatient[:3], float), np.array(ds.ImageOrientationPatient[3:], float)
    )
    origin = np.array(ds.ImagePositionPatient, float)
    positions = [origin + float(offset) * normal for offset in ds.GridFrameOffsetVector]
    assert_frames_placed(image, ds.pixel_array * float(ds.DoseGridScaling), positions)


def test_frames_without_positions_of_their_own_are_refused_with_the_reason() -> None:
    with pytest.raises(InvalidInput, match="lacks one of ImagePositionPatient"):
        series_to_nifti([get_testdata_file("emri_small.dcm")])
    ds = pydicom.dcmread(get_testdata_file("rtdose.dcm"))
    del ds.GridFrameOffsetVector  # every frame would sit at the one ImagePositionPatient
    buffer = io.BytesIO()
    ds.save_as(buffer)
    buffer.seek(0)
    with pytest.raises(InvalidInput, match="15 frames carry no position each"):
        series_to_nifti([buffer])
    with pytest.raises(InvalidInput, match="colour instances cannot be stacked"):
        series_to_nifti([get_testdata_file("SC_rgb_2frame.dcm")])
