"""``inspect`` against what pydicom and nibabel read directly, and its reasons for bad files."""

from __future__ import annotations

import gzip
import io
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest
from nibabel.testing import data_path as nibabel_data
from pydicom.data import get_testdata_file

from imagehub.core.imaging import InstanceMetadata, Unreadable, inspect, inspect_bytes
from imagehub.core.imaging.synthetic import ct_instance_bytes

# Uncompressed, RLE, JPEG baseline/lossless, JPEG-LS, JPEG 2000, multi-frame, colour, big endian,
# and files without the 128-byte preamble.
PYDICOM_FILES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_bigendian.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "JPEG-LL.dcm",
    "emri_small.dcm",
    "emri_small_jpeg_2k_lossless.dcm",
    "SC_rgb_rle_2frame.dcm",
    "US1_J2KR.dcm",
    "OT-PAL-8-face.dcm",
    "ExplVR_BigEndNoMeta.dcm",
]


def pydicom_file(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, f"pydicom test file {name} is missing"
    return Path(path)


def optional(ds: pydicom.Dataset, keyword: str, cast: Any) -> Any:
    value = ds.get(keyword)
    return None if value is None or value == "" else cast(value)


def check_against_pydicom(meta: InstanceMetadata | Unreadable, path: Path) -> None:
    ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
    assert isinstance(meta, InstanceMetadata), meta
    assert meta.kind == "dicom"
    assert meta.sop_instance_uid == ds.SOPInstanceUID
    assert meta.sop_class_uid == ds.SOPClassUID
    assert meta.study_instance_uid == optional(ds, "StudyInstanceUID", str)
    assert meta.series_instance_uid == optional(ds, "SeriesInstanceUID", str)
    assert meta.patient_id == optional(ds, "PatientID", str)
    assert meta.modality == optional(ds, "Modality", str)
    assert meta.series_description == optional(ds, "SeriesDescription", str)
    assert meta.series_number == optional(ds, "SeriesNumber", int)
    assert meta.instance_number == optional(ds, "InstanceNumber", int)
    assert meta.rows == optional(ds, "Rows", int)
    assert meta.columns == optional(ds, "Columns", int)
    assert meta.bits_allocated == optional(ds, "BitsAllocated", int)
    frames = int(ds.get("NumberOfFrames") or 1)
    if "Rows" in ds:
        assert meta.shape == (frames, ds.Rows, ds.Columns)
    assert meta.frames == (frames if "Rows" in ds else None)  # no frames without pixel data
    assert meta.spacing == optional(ds, "PixelSpacing", lambda v: tuple(float(x) for x in v))
    assert meta.slice_thickness == optional(ds, "SliceThickness", float)
    assert meta.image_position == optional(ds, "ImagePositionPatient", lambda v: tuple(float(x) for x in v))
    assert meta.image_orientation == optional(
        ds, "ImageOrientationPatient", lambda v: tuple(float(x) for x in v)
    )
    assert meta.transfer_syntax == (ds.file_meta.get("TransferSyntaxUID") or meta.transfer_syntax)
    for keyword in ("KVP", "EchoTime", "RepetitionTime", "FlipAngle", "XRayTubeCurrent", "Manufacturer"):
        if ds.get(keyword) not in (None, ""):
            assert meta.acquisition[keyword] == pytest.approx(ds.get(keyword)), keyword


@pytest.mark.parametrize("name", PYDICOM_FILES)
def test_dicom_metadata_matches_pydicom(name: str) -> None:
    path = pydicom_file(name)
    check_against_pydicom(inspect(path, name), path)


@pytest.mark.parametrize("name", ["rtplan.dcm", "rtstruct.dcm"])
def test_objects_without_pixel_data_have_no_frames(name: str) -> None:
    meta = inspect(pydicom_file(name), name)
    assert isinstance(meta, InstanceMetadata)
    assert (meta.frames, meta.bits_allocated, meta.shape) == (None, None, ())


def test_stream_and_bytes_sources_give_the_same_metadata() -> None:
    path = pydicom_file("CT_small.dcm")
    data = path.read_bytes()
    stream = io.BytesIO(b"xx" + data)
    stream.seek(2)
    from_stream = inspect(stream, "ct.dcm")
    assert stream.tell() == 2, "the caller's stream must be left where it was"
    assert from_stream == inspect(str(path), "ct.dcm") == inspect_bytes(data, "ct.dcm")


def test_ct_details_and_orientation_codes() -> None:
    meta = inspect(pydicom_file("CT_small.dcm"), "ct.dcm")
    assert isinstance(meta, InstanceMetadata)
    assert meta.orientation == "LPS"
    assert meta.transfer_syntax == "1.2.840.10008.1.2.1"
    assert meta.acquisition["ConvolutionKernel"] == "STANDARD"
    assert meta.acquisition["ExposureTime"] == 1601
    assert isinstance(meta.acquisition["ExposureTime"], int)


def test_enhanced_multiframe_geometry_comes_from_functional_groups() -> None:
    path = pydicom_file("eCT_Supplemental.dcm")
    ds = pydicom.dcmread(path)
    shared = ds.SharedFunctionalGroupsSequence[0]
    first_frame = ds.PerFrameFunctionalGroupsSequence[0]
    meta = inspect(path, "enhanced.dcm")
    assert isinstance(meta, InstanceMetadata)
    assert meta.shape == (2, 512, 512)
    assert meta.spacing == tuple(float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing)
    position = first_frame.PlanePositionSequence[0].ImagePositionPatient
    assert meta.image_position == tuple(float(v) for v in position)
    assert meta.orientation is not None
    assert len(meta.orientation) == 3


def test_mr_series_metadata_matches_pydicom(mr_files: list[Path]) -> None:
    for path in mr_files:
        check_against_pydicom(inspect(path, path.name), path)
    meta = inspect(mr_files[0], mr_files[0].name)
    assert isinstance(meta, InstanceMetadata)
    assert (meta.modality, meta.rows, meta.columns, meta.orientation) == ("MR", 256, 256, "LPS")
    assert meta.acquisition["MagneticFieldStrength"] == 1.5
    assert meta.acquisition["EchoTrainLength"] == 8


def test_metadata_survives_a_json_round_trip(mr_files: list[Path]) -> None:
    meta = inspect(mr_files[3], "brain.dcm")
    assert isinstance(meta, InstanceMetadata)
    encoded = json.dumps(meta.to_dict())
    assert InstanceMetadata.from_dict(json.loads(encoded)) == meta


# --- NIfTI ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["anatomical.nii", "functional.nii", "example4d.nii.gz", "example_nifti2.nii.gz", "standard.nii.gz"],
)
def test_nifti_metadata_matches_nibabel(name: str) -> None:
    path = Path(nibabel_data) / name
    image = nib.load(path)
    meta = inspect(path, name)
    assert isinstance(meta, InstanceMetadata), meta
    assert meta.kind == "nifti"
    assert meta.series_instance_uid is None
    assert meta.sop_instance_uid is None
    assert meta.shape == image.shape
    assert meta.frames == (image.shape[3] if len(image.shape) > 3 else 1)
    assert meta.spacing == pytest.approx(image.header.get_zooms())
    assert meta.orientation == "".join(nib.aff2axcodes(image.affine))


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray, version: int = 1) -> bytes:
    image_class = nib.Nifti1Image if version == 1 else nib.Nifti2Image
    nib.save(image_class(data, affine), path)
    return path.read_bytes()


def test_nifti_written_with_nibabel(tmp_path: Path) -> None:
    lps_affine = np.diag([-0.8, -0.8, 2.5, 1.0])
    volume = np.arange(20 * 30 * 8, dtype=np.int16).reshape(20, 30, 8)
    write_nifti(tmp_path / "three_d.nii.gz", volume, lps_affine)
    meta = inspect(tmp_path / "three_d.nii.gz", "three_d.nii.gz")
    assert isinstance(meta, InstanceMetadata)
    assert (meta.shape, meta.frames, meta.orientation) == ((20, 30, 8), 1, "LPS")
    assert meta.spacing == pytest.approx((0.8, 0.8, 2.5))

    series = np.zeros((6, 7, 5, 3), dtype=np.float32)
    raw = write_nifti(tmp_path / "four_d.nii", series, np.eye(4), version=2)
    meta = inspect_bytes(raw, "misnamed.dcm")  # the content decides, not the name
    assert isinstance(meta, InstanceMetadata)
    assert (meta.kind, meta.shape, meta.frames, meta.orientation) == ("nifti", (6, 7, 5, 3), 3, "RAS")


@pytest.mark.parametrize("odd", [float("nan"), float("inf")])
def test_nifti_pixdim_of_nan_or_inf_is_no_spacing(tmp_path: Path, odd: float) -> None:
    image = nib.Nifti1Image(np.ones((4, 4, 4), dtype=np.int16), np.eye(4))
    image.header["pixdim"][2] = odd
    nib.save(image, tmp_path / "odd.nii")
    meta = inspect(tmp_path / "odd.nii", "odd.nii")
    assert isinstance(meta, InstanceMetadata)
    assert meta.spacing is None
    json.dumps(meta.to_dict(), allow_nan=False)


# --- Unreadable files ----------------------------------------------------------------------------


def reason(result: InstanceMetadata | Unreadable) -> str:
    assert isinstance(result, Unreadable), result
    return result.reason


def test_files_that_are_not_imaging() -> None:
    assert reason(inspect_bytes(b"", "empty.dcm")) == "empty file"
    assert reason(inspect_bytes(b"patient notes\n" * 40, "notes.txt")) == "not a DICOM or NIfTI file"
    assert reason(inspect_bytes(b"hello", "scan.dcm")).startswith("not a DICOM file")
    assert reason(inspect_bytes(gzip.compress(b"just text"), "scan.nii.gz")).startswith("not a NIfTI file")
    assert reason(inspect(pydicom_file("rtplan.dcm").with_name("nope.dcm"), "nope.dcm")).startswith(
        "cannot read the file"
    )


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about the garbage it reads
def test_truncated_and_corrupt_dicom() -> None:
    whole = ct_instance_bytes(rows=64, columns=64)
    assert isinstance(inspect_bytes(whole, "ct.dcm"), InstanceMetadata)
    assert reason(inspect_bytes(whole[:-100], "ct.dcm")) == "truncated DICOM: pixel data is 100 bytes short"
    assert reason(inspect_bytes(whole[:700], "ct.dcm")).startswith("truncated DICOM")
    assert reason(inspect_bytes(whole[:300], "ct.dcm")).startswith(("truncated DICOM", "corrupt DICOM"))
    garbage = bytes(128) + b"DICM" + bytes(random.Random(1).randrange(256) for _ in range(2000))
    assert reason(inspect_bytes(garbage, "ct.dcm")).startswith(("corrupt DICOM", "truncated DICOM"))
    assert reason(inspect(pydicom_file("MR_truncated.dcm"), "mr.dcm")).startswith("truncated DICOM")
    assert reason(inspect(pydicom_file("rtplan_truncated.dcm"), "plan.dcm")).startswith("truncated DICOM")


def test_truncated_and_unsupported_nifti(tmp_path: Path) -> None:
    raw = write_nifti(tmp_path / "v.nii", np.ones((10, 10, 10), dtype=np.float32), np.eye(4))
    assert reason(inspect_bytes(raw[:-40], "v.nii")) == "truncated NIfTI: image data is 40 bytes short"
    assert reason(inspect_bytes(raw[:200], "v.nii")) == "truncated NIfTI: the header is incomplete"
    packed = gzip.compress(raw)
    assert reason(inspect_bytes(packed[: len(packed) // 2], "v.nii.gz")).startswith("truncated NIfTI")
    pair_header = raw[:344] + b"ni1\0" + raw[348:352]
    assert reason(inspect_bytes(pair_header, "v.hdr")).startswith("unsupported NIfTI")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_inspect_never_raises_on_damaged_files(mr_files: list[Path]) -> None:
    """Bit flips, cuts and random tails: every outcome is a value, never an exception."""
    rng = random.Random(0)
    originals = [ct_instance_bytes(rows=32, columns=32), mr_files[1].read_bytes()]
    for round_ in range(300):
        data = bytearray(rng.choice(originals))
        if round_ % 3 == 0:
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(132, 1800)] = rng.randrange(256)
        elif round_ % 3 == 1:
            data = data[: rng.randrange(len(data))]
        else:
            data = data[:132] + bytearray(rng.randrange(256) for _ in range(rng.randint(0, 600)))
        result = inspect_bytes(bytes(data), "damaged.dcm")
        assert isinstance(result, InstanceMetadata | Unreadable)
        if isinstance(result, Unreadable):
            assert result.reason
            assert "\n" not in result.reason


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "JPEG-LL.dcm", "MR_small_jp2klossless.dcm"])
def test_cut_off_compressed_pixel_data_is_reported(name: str) -> None:
    whole = pydicom_file(name).read_bytes()
    assert isinstance(inspect_bytes(whole, name), InstanceMetadata)
    cut = reason(inspect_bytes(whole[: len(whole) - 300], name))
    assert cut == "truncated DICOM: the compressed pixel data is cut off"
    # Through pydicom's path too: a file without preamble is not the fast path's.
    assert reason(inspect_bytes(whole[128 + 4 :][: len(whole) - 432], name)).startswith("truncated DICOM")


def test_compressed_pixel_data_without_its_last_fragments_is_reported() -> None:
    whole = pydicom_file("emri_small_jpeg_2k_lossless.dcm").read_bytes()
    assert isinstance(inspect_bytes(whole, "mr.dcm"), InstanceMetadata)
    short = pydicom_file("emri_small_jpeg_2k_lossless_too_short.dcm")
    assert reason(inspect(short, "mr.dcm")) == "truncated DICOM: the compressed pixel data is cut off"


def test_a_damaged_nii_gz_says_its_gzip_data_is_damaged() -> None:
    image = nib.Nifti1Image(np.random.default_rng(5).random((20, 30, 10)).astype(np.float32), np.eye(4))
    packed = gzip.compress(image.to_bytes())
    for at in (12, 100, 2000):
        damaged = packed[:at] + bytes(50) + packed[at + 50 :]
        assert reason(inspect_bytes(damaged, "scan.nii.gz")).startswith("corrupt NIfTI: damaged gzip data")


def test_numbers_that_are_not_finite_are_no_values() -> None:
    """'nan' or 'inf' in a decimal string is no spacing, and would not be valid JSON either."""
    ds = pydicom.dcmread(io.BytesIO(ct_instance_bytes(rows=16, columns=16)))
    ds["PixelSpacing"].value = ["0.5", "nan"]
    ds["SliceThickness"].value = "inf"
    for preamble in (True, False):
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=preamble)
        meta = inspect_bytes(out.getvalue(), "ct.dcm")
        assert isinstance(meta, InstanceMetadata)
        assert meta.spacing is None
        json.dumps(meta.to_dict(), allow_nan=False)


def _encapsulated(syntax: str, frames: int, fragments: list[bytes]) -> bytes:
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(io.BytesIO(ct_instance_bytes(rows=16, columns=16)))
    ds.file_meta.TransferSyntaxUID = syntax
    ds.NumberOfFrames = frames
    ds.PixelData = encapsulate(fragments, has_bot=True)
    ds["PixelData"].VR = "OB"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_a_video_stream_in_one_fragment_is_whole() -> None:
    """Video syntaxes fragment the stream without regard to frames: 300 frames, one fragment."""
    video = _encapsulated("1.2.840.10008.1.2.4.102", 300, [b"\x00\x00\x01" * 100])
    assert isinstance(inspect_bytes(video, "clip.dcm"), InstanceMetadata)
    assert (
        reason(inspect_bytes(video[:-20], "clip.dcm"))
        == "truncated DICOM: the compressed pixel data is cut off"
    )


def test_whole_compressed_pixel_data_costs_one_read() -> None:
    from imagehub.core.imaging.fragments import encapsulated_damage

    data = _encapsulated("1.2.840.10008.1.2.4.90", 40, [b"\xff\x4f" * 50] * 40)
    at = data.rindex(b"\xe0\x7f\x10\x00")
    reads: list[int] = []

    def reader(content: bytes) -> Callable[[int, int], bytes]:
        def read_at(offset: int, count: int) -> bytes:
            reads.append(offset)
            return content[offset : offset + count]

        return read_at

    assert encapsulated_damage(reader(data), at, len(data)) is None
    assert len(reads) == 1  # the delimiter at the end: no walk through 40 fragments
    cut = data[:-8]  # the delimiter lost: walked, and found to end early
    assert (
        encapsulated_damage(reader(cut), at, len(cut))
        == "truncated DICOM: the compressed pixel data is cut off"
    )
    assert len(reads) > 40
