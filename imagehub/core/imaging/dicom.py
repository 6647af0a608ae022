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
from imagehub.core.imaging.fragments import ReadAt, encapsulated_damage, stream_reader
from imagehub.core.imaging.geometry import axis_codes
from imagehub.core.imaging.metadata import AcquisitionValue, InstanceMetadata, Unreadable
from imagehub.core.imaging.sources import remaining_bytes
from imagehub.core.imaging.spans import CHARSET, PIXEL_DATA_TAGS, SpanFile, SpanLevel

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
_LONGEST_ELEMENT_HEADER = 12  # explicit VR with a 4-byte length


def read_dataset(
    stream: BinaryIO, *, force: bool = False, pixels: bool = False, defer: int | None = None
) -> Dataset:
    """Without ``pixels`` reading stops before the pixel data, which is what makes inspection
    cheap; with them, right after it, as some files trail megabytes of padding that pydicom
    would parse element by element. A file without meta information gets the transfer syntax
    pydicom detected, as decoders need it. Top-level values longer than ``defer`` bytes are
    skipped, left raw with no value, for a reader that must not hold them in memory."""
    stop = _after_pixel_data() if pixels else _at_pixel_data
    ds = read_partial(stream, stop, defer_size=defer, force=force)
    if "TransferSyntaxUID" not in ds.file_meta:
        detected = _detected_syntax(ds)
        if detected is not None:
            ds.file_meta.TransferSyntaxUID = detected
    return ds


def _at_pixel_data(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag in PIXEL_DATA_TAGS


def _after_pixel_data() -> Callable[[BaseTag, str | None, int], bool]:
    passed = False

    def stop(tag: BaseTag, vr: str | None, length: int) -> bool:
        nonlocal passed
        if passed:
            return True
        passed = tag in PIXEL_DATA_TAGS
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
    return _describe(ds, sop_instance_uid, syntax)


def metadata_from_head(
    head: bytes, size: int, read_at: ReadAt | None = None
) -> InstanceMetadata | Unreadable | None:
    """The metadata of a Part 10 file of ``size`` bytes from its first bytes, cut into spans
    rather than read by pydicom (several times faster); None whenever the header does not end
    at pixel data within ``head`` or is anything but plainly well formed, and then
    ``read_dataset`` and ``dicom_metadata`` decide. ``read_at`` reads the file beyond the
    head, to check compressed pixel data; without it such data must lie within the head."""
    try:
        spans = SpanFile(head, SpanLevel, stop_at_pixels=True)
        ds, at = spans.dataset, spans.dataset.pixels_at
        if ds.span(CHARSET) is not None and ds.stored_vr(CHARSET) not in (None, "CS"):
            return None
        ds.charsets  # noqa: B018 - a character set pydicom cannot use fails the file there too
        sop_instance_uid = header.text(ds, "SOPInstanceUID")
        if at is None or size - at < _LONGEST_ELEMENT_HEADER or sop_instance_uid is None:
            return None  # no pixel data in the head, or its element header is cut off
        if any(tag >> 16 in (0, 2) for tag in ds.tags()):
            return None
        missing = _missing_pixel_bytes(ds, spans.syntax, size - at)
        if missing:
            return Unreadable(_short_pixels(missing))
        damage = _compressed_damage(spans.syntax, read_at or _within(head, size), at, size)
        if damage:
            return Unreadable(damage)
        return _describe(ds, sop_instance_uid, spans.syntax)
    except Exception:  # Unsupported, or bytes the cutter trips on: pydicom's path decides
        return None


def _describe(ds: header.Header, sop_instance_uid: str, syntax: UID | None) -> InstanceMetadata:
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
        bits_allocated=header.integer(ds, "BitsAllocated"),
        frames=frames if rows and columns else None,
        shape=(frames, rows, columns) if rows and columns else (),
        spacing=header.numbers(ds, "PixelSpacing", 2),
        slice_thickness=header.number(ds, "SliceThickness"),
        image_position=(position[0], position[1], position[2]) if position else None,
        image_orientation=orientation,
        orientation=axis_codes(orientation) if orientation else None,
        transfer_syntax=str(syntax) if syntax else None,
        acquisition=_acquisition(ds),
    )


def _acquisition(ds: header.Header) -> dict[str, AcquisitionValue]:
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
    last = ds.get_item(list(ds.keys())[-1], keep_deferred=True)  # the last element read
    if (
        isinstance(last, RawDataElement)
        and last.length != _UNDEFINED_LENGTH
        and last.value_tell + last.length != stream.tell()
    ):
        return "truncated DICOM: the header ends inside an element"
    sop_class = header.text(ds, "SOPClassUID")
    if sop_class and "Image Storage" in UID(sop_class).name and not remaining_bytes(stream):
        # A cut at an element boundary and an image stored without pixels read the same.
        return "truncated DICOM, or an image stored without pixels: the file ends before its pixel data"
    remaining = remaining_bytes(stream)
    missing = _missing_pixel_bytes(ds, syntax, remaining)
    if missing:
        return _short_pixels(missing)
    at = stream.tell()
    try:
        return _compressed_damage(syntax, stream_reader(stream), at, at + remaining) if remaining else None
    finally:
        stream.seek(at)


def _compressed_damage(syntax: UID | None, read_at: ReadAt, at: int, size: int) -> str | None:
    """A cut in compressed pixel data (``encapsulated_damage``) starting at ``at``."""
    if syntax is None or syntax in _NATIVE or syntax == DeflatedExplicitVRLittleEndian:
        return None
    return encapsulated_damage(read_at, at, size)


class _BeyondHead(Exception):
    """The check needs bytes that the file has but the head does not."""


def _within(head: bytes, size: int) -> ReadAt:
    def read_at(offset: int, count: int) -> bytes:
        if offset + count > len(head) and len(head) < size:
            raise _BeyondHead
        return head[offset : offset + count]

    return read_at


def _short_pixels(missing: int) -> str:
    return f"truncated DICOM: pixel data is {missing} bytes short"


def _missing_pixel_bytes(ds: header.Header, syntax: UID | None, remaining: int) -> int:
    """How many bytes of native pixel data are cut off, given the bytes from the pixel data
    element's start to the end of the file; 0 when complete or not measurable."""
    bits = frame_bits(ds)
    if syntax not in _NATIVE or not bits:
        return 0
    expected = (bits * (header.integer(ds, "NumberOfFrames") or 1) + 7) // 8
    # Tag and length, plus VR and two reserved bytes in explicit VR.
    element_header = 8 if syntax == ImplicitVRLittleEndian else 12
    available = remaining - element_header
    return max(0, expected - max(0, available))


def frame_bits(ds: header.Header) -> int | None:
    """Bits one frame takes in native (uncompressed) encoding; ``None`` when the header does not say."""
    rows, columns = header.integer(ds, "Rows"), header.integer(ds, "Columns")
    bits = header.integer(ds, "BitsAllocated")
    if not rows or not columns or not bits:
        return None
    # YBR_FULL_422 stores two chroma samples per pair of pixels: two values per pixel, not three.
    samples = 2 if header.text(ds, "PhotometricInterpretation") == "YBR_FULL_422" else None
    return rows * columns * (samples or header.integer(ds, "SamplesPerPixel") or 1) * bits
