"""Thumbnails are real PNGs of the right size that show something, the right way up."""

from __future__ import annotations

import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.testing import data_path as nibabel_data
from PIL import Image
from pydicom.data import get_testdata_file

from imagehub.core.errors import InvalidInput
from imagehub.core.imaging import instance_thumbnail, series_thumbnail
from imagehub.core.imaging.synthetic import ct_instance_bytes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def opened(png: bytes) -> Image.Image:
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    return image


def pixels(png: bytes) -> np.ndarray:
    values = np.asarray(opened(png).convert("L"), dtype=np.float64)
    assert values.var() > 0, "blank thumbnail"
    return values


def test_ct_slice_at_full_size() -> None:
    png = instance_thumbnail(io.BytesIO(ct_instance_bytes()), "ct.dcm")
    assert opened(png).size == (256, 256)
    assert opened(png).mode == "L"
    pixels(png)


def test_series_thumbnail_is_its_middle_slice(mr_files: list[Path]) -> None:
    png = series_thumbnail(mr_files)
    assert opened(png).size == (256, 256)
    assert png == instance_thumbnail(mr_files[10], "brain_011.dcm")
    assert png != instance_thumbnail(mr_files[0], "brain_001.dcm")
    pixels(png)


def test_aspect_follows_physical_size(ct_study: list[Path]) -> None:
    # 64 rows x 80 columns of square pixels: 256 wide, 205 high.
    assert opened(instance_thumbnail(ct_study[0], "ct.dcm")).size == (256, 205)
    assert opened(instance_thumbnail(ct_study[0], "ct.dcm", size=100)).size == (100, 80)
    wide = get_testdata_file("JPEG-LL.dcm")  # 1024 x 256 whole-body bone scan
    assert wide is not None
    assert opened(instance_thumbnail(wide, "nm.dcm")).size == (64, 256)


@pytest.mark.parametrize("name", ["US1_J2KR.dcm", "SC_rgb_rle_2frame.dcm", "OT-PAL-8-face.dcm"])
def test_colour_thumbnails(name: str) -> None:
    path = get_testdata_file(name)
    assert path is not None
    image = opened(instance_thumbnail(path, name))
    assert image.mode == "RGB"
    assert max(image.size) == 256
    pixels(instance_thumbnail(path, name))


@pytest.mark.parametrize("name", ["example4d.nii.gz", "anatomical.nii", "example_nifti2.nii.gz"])
def test_nifti_thumbnails(name: str) -> None:
    image = nib.load(Path(nibabel_data) / name)
    png = instance_thumbnail(Path(nibabel_data) / name, name)
    assert max(opened(png).size) == 256
    zooms = image.header.get_zooms()
    # Axial slice: width over height is the physical x extent over the y extent.
    expected = (image.shape[0] * zooms[0]) / (image.shape[1] * zooms[1])
    width, height = opened(png).size
    assert width / height == pytest.approx(expected, rel=0.02)
    pixels(png)


def marker_volume() -> np.ndarray:
    """Zeros with a bright block toward patient right and anterior, in RAS voxel order."""
    volume = np.zeros((40, 40, 9), dtype=np.float32)
    volume[30:38, 30:38, :] = 1000.0  # high x = right, high y = anterior
    volume[10:20, 5:10, :] = 300.0
    return volume


def test_nifti_thumbnail_is_radiological_whatever_the_voxel_order(tmp_path: Path) -> None:
    volume = marker_volume()
    ras = tmp_path / "ras.nii.gz"
    nib.save(nib.Nifti1Image(volume, np.eye(4)), ras)
    # The same anatomy stored LPS-ordered and as (z, y, x): only the voxel layout changes.
    lps_zyx = np.flip(volume, (0, 1)).transpose(2, 1, 0)
    affine = np.array([[0, 0, -1, 39], [0, -1, 0, 39], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    nib.save(nib.Nifti1Image(np.ascontiguousarray(lps_zyx), affine), tmp_path / "lps.nii")
    assert nib.aff2axcodes(affine) == ("S", "P", "L")

    first = pixels(instance_thumbnail(ras, "ras.nii.gz"))
    second = pixels(instance_thumbnail(tmp_path / "lps.nii", "lps.nii"))
    np.testing.assert_array_equal(first, second)
    row, column = np.unravel_index(np.argmax(first), first.shape)
    assert row < 64, "anterior belongs at the top"
    assert column < 64, "patient right belongs at the viewer's left (radiological view)"


def test_failures_are_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a DICOM or NIfTI image"):
        instance_thumbnail(io.BytesIO(b"text" * 100), "notes.txt")
    cut = ct_instance_bytes(rows=64, columns=64)[:-500]
    with pytest.raises(InvalidInput, match=r"cannot decode pixels of cut\.dcm"):
        instance_thumbnail(io.BytesIO(cut), "cut.dcm")
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), dtype=np.float32), np.eye(4)), tmp_path / "v.nii")
    truncated = (tmp_path / "v.nii").read_bytes()[:-1500]  # the middle slice is gone
    with pytest.raises(InvalidInput, match=r"cannot decode pixels of v\.nii"):
        instance_thumbnail(io.BytesIO(truncated), "v.nii")
    with pytest.raises(InvalidInput, match="at least one instance"):
        series_thumbnail([])
    with pytest.raises(InvalidInput, match="must be positive"):
        instance_thumbnail(io.BytesIO(cut), "cut.dcm", size=0)


def test_a_colour_table_of_8_bit_values_in_16_bit_entries_is_not_black() -> None:
    picture = np.asarray(
        Image.open(io.BytesIO(instance_thumbnail(get_testdata_file("OBXXXX1A_expb.dcm"), "x.dcm")))
    )
    assert picture.max() > 200


def test_an_rgb_nifti_has_a_colour_thumbnail() -> None:
    voxels = np.zeros((8, 8, 4), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    voxels["R"][2:6, 2:6, :] = 200
    voxels["B"][:, :, :] = 40
    picture = np.asarray(
        Image.open(
            io.BytesIO(
                instance_thumbnail(io.BytesIO(nib.Nifti1Image(voxels, np.eye(4)).to_bytes()), "rgb.nii")
            )
        )
    )
    assert picture.ndim == 3
    assert picture[..., 0].max() > 150  # the red square
    assert 20 < np.median(picture[..., 2]) < 60  # the blue background
