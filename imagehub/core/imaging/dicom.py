"""DICOM header reading and its translation into ``InstanceMetadata``."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filereader import read_partial
from pydicom.tag import BaseTag
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
)

from imagehub.core.imaging import header
from imagehub.core.imaging.geometry import axis_codes
from imagehub.core.imaging.metadata import AcquisitionValue, InstanceMetadata, Unreadable
from imagehub.core.imaging.sources import remaining_bytes

# Acquisition parameters worth indexing and filtering on; whichever are present are kept.
_ACQUISITION = (
    "KVP",
    "ExposureTime",
    "XRayTubeCurrent",
    "Exposure",
    "CTDIvol",
    "SpiralPitchFactor",
    "ReconstructionDiameter",
    "GantryDetectorTilt",
    "ConvolutionKernel",
    "FilterType",
    "ScanOptions",
    "RepetitionTime",
    "EchoTime",
    "InversionTime",
    "FlipAngle",
    "MagneticFieldStrength",
    "ImagingFrequency",
    "EchoTrainLength",
    "NumberOfAverages",
    "ScanningSequence",
    "SequenceVariant",
    "SequenceName",
    "SpacingBetweenSlices",
    "ContrastBolusAgent",
    "PatientPosition",
    "ProtocolName",
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "PhotometricInterpretation",
)
# Transfer syntaxes whose pixel data length is known from the header alone.
_NATIVE = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian})
_UNDEFINED_LENGTH = 0xFFFFFFFF
# Float, double float and integer pixel data.
_PIXEL_DATA_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})


def read_dataset(stream: BinaryIO, *, force: bool = False, pixels: bool = False) -> Dataset:
    """Without ``pixels`` reading stops before the pixel data, which is what makes inspection
    cheap; with them, right after it, as some files trail megabytes of padding that pydicom
    would parse element by element. A file without meta information gets the transfer syntax
    pydicom detected, as decoders need it."""
    ds = read_partial(stream, _after_pixel_data() if pixels else _at_pixel_data, force=force)
    if "TransferSyntaxUID" not in ds.file_meta:
        detected = _detected_syntax(ds)
        if detected is not None:
            ds.file_meta.TransferSyntaxUID = detected
    return ds


def _at_pixel_data(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag in _PIXEL_DATA_TAGS


def _after_pixel_data() -> Callable[[BaseTag, str | None, int], bool]:
    passed = False

    def stop(tag: BaseTag, vr: str | None, length: int) -> bool:
        nonlocal passed
        if passed:
            return True
        passed = tag in _PIXEL_DATA_TAGS
        return False

    return stop


def is_instance(ds: Dataset) -> bool:
    """Whether a force-read data set is plausibly an instance rather than bytes that parsed by luck."""
    return "SOPInstanceUID" in ds or "Rows" in ds


def _detected_syntax(ds: Dataset) -> UID | None:
    implicit, little = ds.original_encoding
    if implicit is None:
        return None
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def dicom_metadata(ds: Dataset, stream: BinaryIO) -> InstanceMetadata | Unreadable:
    """``stream`` must sit where ``read_dataset`` stopped, so that truncation can be measured."""
    declared = ds.file_meta.get("TransferSyntaxUID")
    syntax = UID(declared) if declared else None
    damage = _damage(ds, stream, syntax)
    if damage:
        return Unreadable(damage)
    sop_instance_uid = header.text(ds, "SOPInstanceUID")
    if sop_instance_uid is None:
        if header.text(ds.file_meta, "MediaStorageSOPClassUID") == MediaStorageDirectoryStorage:
            return Unreadable("a DICOMDIR (index of a DICOM file set), not an instance")
        return Unreadable("corrupt DICOM: no SOP Instance UID in the data set")
    rows = header.integer(ds, "Rows")
    columns = header.integer(ds, "Columns")
    frames = header.integer(ds, "NumberOfFrames") or 1
    orientation = header.numbers(ds, "ImageOrientationPatient", 6)
    position = header.numbers(ds, "ImagePositionPatient", 3)
    return InstanceMetadata(
        kind="dicom",
        sop_instance_uid=sop_instance_uid,
        sop_class_uid=header.text(ds, "SOPClassUID"),
        study_instance_uid=header.text(ds, "StudyInstanceUID"),
        series_instance_uid=header.text(ds, "SeriesInstanceUID"),
        patient_id=header.text(ds, "PatientID"),
        patient_name=header.text(ds, "PatientName"),
        patient_birth_date=header.text(ds, "PatientBirthDate"),
        patient_sex=header.text(ds, "PatientSex"),
        study_date=header.text(ds, "StudyDate"),
        study_time=header.text(ds, "StudyTime"),
        study_id=header.text(ds, "StudyID"),
        study_description=header.text(ds, "StudyDescription"),
        accession_number=header.text(ds, "AccessionNumber"),
        referring_physician_name=header.text(ds, "ReferringPhysicianName"),
        modality=header.text(ds, "Modality"),
        body_part=header.text(ds, "BodyPartExamined"),
        series_description=header.text(ds, "SeriesDescription"),
        series_number=header.integer(ds, "SeriesNumber"),
        instance_number=header.integer(ds, "InstanceNumber"),
        rows=rows,
        columns=columns,
        frames=frames,
        shape=(frames, rows, columns) if rows and columns else (),
        spacing=header.numbers(ds, "PixelSpacing", 2),
        slice_thickness=header.number(ds, "SliceThickness"),
        image_position=(position[0], position[1], position[2]) if position else None,
        image_orientation=orientation,
        orientation=axis_codes(orientation) if orientation else None,
        transfer_syntax=str(syntax) if syntax else None,
        acquisition=_acquisition(ds),
    )


def _acquisition(ds: Dataset) -> dict[str, AcquisitionValue]:
    values = {keyword: header.scalar(ds, keyword) for keyword in _ACQUISITION}
    return {keyword: value for keyword, value in values.items() if value is not None}


def _damage(ds: Dataset, stream: BinaryIO, syntax: UID | None) -> str | None:
    """pydicom stops quietly at the end of the file, so a cut-off file reads as a short data set;
    cuts show as a last element that does not end where reading stopped, as an image without
    pixel data, or as missing pixel bytes. Runs before other values are read, while the
    elements are still raw."""
    if not len(ds):
        return "corrupt DICOM: no data set after the file meta information"
    if syntax == DeflatedExplicitVRLittleEndian:
        return None  # pydicom parses an inflated copy, so positions in ``stream`` say nothing
    last = ds.get_item(list(ds.keys())[-1])  # the last element read
    if (
        isinstance(last, RawDataElement)
        and last.length != _UNDEFINED_LENGTH
        and last.value_tell + last.length != stream.tell()
    ):
        return "truncated DICOM: the header ends inside an element"
    sop_class = header.text(ds, "SOPClassUID")
    if sop_class and "Image Storage" in UID(sop_class).name and not remaining_bytes(stream):
        return "truncated DICOM: the file ends before the pixel data"
    missing = _missing_pixel_bytes(ds, stream, syntax)
    return f"truncated DICOM: pixel data is {missing} bytes short" if missing else None


def _missing_pixel_bytes(ds: Dataset, stream: BinaryIO, syntax: UID | None) -> int:
    """How many bytes of native pixel data are cut off; 0 when complete or not measurable."""
    bits = frame_bits(ds)
    if syntax not in _NATIVE or not bits:
        return 0
    expected = (bits * (header.integer(ds, "NumberOfFrames") or 1) + 7) // 8
    # Tag and length, plus VR and two reserved bytes in explicit VR.
    element_header = 8 if syntax == ImplicitVRLittleEndian else 12
    available = remaining_bytes(stream) - element_header
    return max(0, expected - max(0, available))


def frame_bits(ds: Dataset) -> int | None:
    """Bits one frame takes in native (uncompressed) encoding; ``None`` when the header does not say."""
    rows, columns = header.integer(ds, "Rows"), header.integer(ds, "Columns")
    bits = header.integer(ds, "BitsAllocated")
    if not rows or not columns or not bits:
        return None
    # YBR_FULL_422 stores two chroma samples per pair of pixels: two values per pixel, not three.
    samples = 2 if header.text(ds, "PhotometricInterpretation") == "YBR_FULL_422" else None
    return rows * columns * (samples or header.integer(ds, "SamplesPerPixel") or 1) * bits
