"""Deterministic synthetic CT studies for the demo, the tests and the benchmarks.

The headers carry made-up but realistic identifying text (name, birth date, address...) so
that de-identification has something to remove; the pixels are an ellipse phantom in HU so
that thumbnails and exports look like a body. Nothing here depends on a real patient.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydicom.charset import convert_encodings
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_file_meta_info
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

# Stored value = HU + 1024, so that air is still a small positive number.
_INTERCEPT = -1024
_FIELD_OF_VIEW_MM = 360.0
# Distinct phantom images per series; slices reuse them so that generation stays cheap.
_VARIANTS = 8

# (centre x, centre y, half-width, half-height) in [-1, 1] image units, and HU.
Ellipse = tuple[float, float, float, float, int]
_REGIONS: dict[str, tuple[Ellipse, ...]] = {
    "chest": (
        (0.0, 0.0, 0.85, 0.62, 40),
        (-0.4, -0.05, 0.28, 0.42, -850),
        (0.4, -0.05, 0.28, 0.42, -850),
        (0.08, 0.05, 0.22, 0.2, 45),
        (-0.05, 0.33, 0.06, 0.06, 180),
        (0.0, 0.48, 0.09, 0.09, 700),
    ),
    "abdomen": (
        (0.0, 0.0, 0.8, 0.6, -100),
        (0.0, 0.0, 0.72, 0.52, 35),
        (-0.35, -0.1, 0.32, 0.3, 60),
        (-0.3, 0.32, 0.09, 0.13, 150),
        (0.3, 0.32, 0.09, 0.13, 150),
        (0.22, -0.22, 0.07, 0.05, -900),
        (0.0, 0.45, 0.09, 0.09, 700),
    ),
    "scout": (
        (0.0, 0.05, 0.5, 0.95, 40),
        (-0.22, -0.4, 0.16, 0.33, -850),
        (0.22, -0.4, 0.16, 0.33, -850),
        (0.0, 0.0, 0.05, 0.92, 700),
    ),
}
# What differs between the slices of a series; everything else is shared.
_PER_SLICE = frozenset(
    Tag(keyword)
    for keyword in ("SOPInstanceUID", "InstanceNumber", "ImagePositionPatient", "SliceLocation", "PixelData")
)
_AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
_CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)


@dataclass(frozen=True)
class _SeriesPlan:
    region: str
    description: str
    body_part: str
    orientation: tuple[float, ...]
    thickness: float
    kernel: str
    window_center: tuple[float, ...]
    window_width: tuple[float, ...]


_PLANS = (
    _SeriesPlan("chest", "CHEST 1.25mm", "CHEST", _AXIAL, 1.25, "LUNG", (-600.0, 40.0), (1500.0, 400.0)),
    _SeriesPlan("abdomen", "ABDOMEN PORTAL 2.5mm", "ABDOMEN", _AXIAL, 2.5, "STANDARD", (40.0,), (400.0,)),
    _SeriesPlan("scout", "TOPOGRAM", "CHEST", _CORONAL, 5.0, "SMOOTH", (40.0,), (500.0,)),
)

_PATIENTS = (
    ("DOE^JANE^M", "F", "19580312", "12 Harbour Road, Springfield, 4021", "555-0142"),
    ("SMITH^JOHN", "M", "19671104", "8 Elm Street, Riverton, 7733", "555-0198"),
    ("GARCIA^MARIA^L", "F", "19810729", "301 Lakeview Avenue, Fairview, 1188", "555-0123"),
    ("NGUYEN^MINH", "M", "19490217", "77 Station Lane, Oakdale, 5510", "555-0167"),
)


def ct_instance(
    *, seed: int = 0, series_index: int = 0, slice_index: int = 0, rows: int = 512, columns: int = 512
) -> Dataset:
    """One slice of the study that ``write_ct_study`` writes with the same seed and size."""
    ds = _series_dataset(seed, series_index, rows, columns)
    _set_slice(ds, seed, series_index, slice_index)
    return ds


def ct_instance_bytes(
    *, seed: int = 0, series_index: int = 0, slice_index: int = 0, rows: int = 512, columns: int = 512
) -> bytes:
    """The same slice as a DICOM file: preamble, file meta, explicit VR little endian."""
    return _encode(
        ct_instance(seed=seed, series_index=series_index, slice_index=slice_index, rows=rows, columns=columns)
    )


def write_ct_study(
    out_dir: Path, *, series: int = 3, slices: int = 24, rows: int = 512, columns: int = 512, seed: int = 0
) -> list[Path]:
    """``series`` series of ``slices`` slices under ``out_dir/series_NN/``; more series than
    there are plans repeat the plans with new UIDs."""
    paths: list[Path] = []
    for series_index in range(series):
        folder = out_dir / f"series_{series_index + 1:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        ds = _series_dataset(seed, series_index, rows, columns)
        _set_slice(ds, seed, series_index, 0)
        encoder = _SeriesEncoder(ds)
        for slice_index in range(slices):
            _set_slice(ds, seed, series_index, slice_index)
            path = folder / f"slice_{slice_index + 1:04d}.dcm"
            with path.open("wb") as handle:
                handle.writelines(encoder.chunks(ds))
            paths.append(path)
    return paths


def _uid(*parts: object) -> UID:
    return generate_uid(entropy_srcs=["imagehub-synthetic", *map(str, parts)])


def _plan(series_index: int) -> _SeriesPlan:
    return _PLANS[series_index % len(_PLANS)]


def _series_dataset(seed: int, series_index: int, rows: int, columns: int) -> Dataset:
    """Everything that slices of one series share; ``_set_slice`` fills in the rest."""
    plan = _plan(series_index)
    chooser = random.Random(seed)
    name, sex, birth_date, address, phone = chooser.choice(_PATIENTS)
    spacing = _FIELD_OF_VIEW_MM / max(rows, columns)

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    image_type = "LOCALIZER" if plan.region == "scout" else "AXIAL"
    ds.ImageType = ["ORIGINAL", "PRIMARY", image_type]
    ds.SOPClassUID = CTImageStorage
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = (
        f"2024{chooser.randint(1, 12):02d}{chooser.randint(1, 28):02d}"
    )
    ds.StudyTime = ds.SeriesTime = f"{chooser.randint(7, 18):02d}{chooser.randint(0, 59):02d}00"
    ds.AccessionNumber = f"ACC{chooser.randint(10**6, 10**7 - 1)}"
    ds.Modality = "CT"
    ds.Manufacturer = "ImageHub Synthetic"
    ds.InstitutionName = "Springfield General Hospital"
    ds.InstitutionAddress = "1 Hospital Drive, Springfield, 4020"
    ds.ReferringPhysicianName = "HOUSE^GREGORY"
    ds.StationName = "CT01"
    ds.StudyDescription = "CT CHEST ABDOMEN WITH CONTRAST"
    ds.SeriesDescription = plan.description
    ds.ManufacturerModelName = "Phantom 64"
    ds.PatientName = name
    ds.PatientID = f"MRN{chooser.randint(10**7, 10**8 - 1)}"
    ds.PatientBirthDate = birth_date
    ds.PatientSex = sex
    ds.PatientAddress = address
    ds.PatientTelephoneNumbers = phone
    ds.BodyPartExamined = plan.body_part
    ds.SliceThickness = plan.thickness
    ds.KVP = 120
    ds.DataCollectionDiameter = 500
    ds.ReconstructionDiameter = _FIELD_OF_VIEW_MM
    ds.ExposureTime = 500
    ds.XRayTubeCurrent = 250
    ds.ConvolutionKernel = plan.kernel
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = _uid(seed, "study")
    ds.SeriesInstanceUID = _uid(seed, "series", series_index)
    ds.StudyID = "1"
    ds.SeriesNumber = series_index + 1
    ds.FrameOfReferenceUID = _uid(seed, "frame-of-reference")
    ds.ImageOrientationPatient = list(plan.orientation)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.PixelSpacing = [spacing, spacing]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.WindowCenter = list(plan.window_center)
    ds.WindowWidth = list(plan.window_width)
    ds.RescaleIntercept = _INTERCEPT
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    return ds


def _set_slice(ds: Dataset, seed: int, series_index: int, slice_index: int) -> None:
    """Slices run head to feet (axial) or front to back (scout), numbered in that order."""
    plan = _plan(series_index)
    half_width = ds.Columns * float(ds.PixelSpacing[1]) / 2
    half_height = ds.Rows * float(ds.PixelSpacing[0]) / 2
    offset = slice_index * plan.thickness
    if plan.orientation == _AXIAL:
        position = [-half_width, -half_height, -offset]
    else:
        position = [-half_width, -100.0 + offset, half_height]
    sop_instance_uid = _uid(seed, "instance", series_index, slice_index)
    ds.file_meta.MediaStorageSOPInstanceUID = sop_instance_uid
    ds.SOPInstanceUID = sop_instance_uid
    ds.InstanceNumber = slice_index + 1
    ds.ImagePositionPatient = position
    ds.SliceLocation = position[2] if plan.orientation == _AXIAL else position[1]
    ds.add_new("PixelData", "OW", _phantom(plan.region, ds.Rows, ds.Columns, seed, slice_index % _VARIANTS))


@lru_cache(maxsize=64)
def _phantom(region: str, rows: int, columns: int, seed: int, variant: int) -> bytes:
    """Stored pixel bytes of one phantom image; the body swells and shrinks along the stack
    and the noise differs per seed, so neighbouring slices are alike but not identical."""
    y, x = np.mgrid[-1.0 : 1.0 : rows * 1j, -1.0 : 1.0 : columns * 1j]
    scale = 1.0 + 0.06 * np.sin(2 * np.pi * variant / _VARIANTS)
    hu = np.full((rows, columns), -1000.0)
    for centre_x, centre_y, half_width, half_height, value in _REGIONS[region]:
        inside = ((x / scale - centre_x) / half_width) ** 2 + ((y / scale - centre_y) / half_height) ** 2 <= 1
        hu[inside] = value
    noise = np.random.default_rng([seed, variant, list(_REGIONS).index(region)]).normal(
        0.0, 12.0, size=hu.shape
    )
    stored = np.clip(hu + noise - _INTERCEPT, 0, np.iinfo(np.int16).max)
    return stored.astype("<i2").tobytes()


def _encode(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


class _SeriesEncoder:
    """pydicom's writer spends about a millisecond per slice re-encoding the elements that all
    slices of a series share; those are encoded once here and only the per-slice ones each
    time, and the few distinct pixel data elements once each. The bytes equal those of
    ``Dataset.save_as`` (the tests compare them)."""

    def __init__(self, template: Dataset) -> None:
        self._encodings = convert_encodings(template.get("SpecificCharacterSet", "ISO_IR 6"))
        self._pixels: dict[bytes, bytes] = {}  # keyed by the value: bytes cache their hash
        self._runs: list[bytes | BaseTag] = []
        shared: list[DataElement] = []
        for element in template:
            if element.tag in _PER_SLICE:
                self._runs += [self._elements(shared), element.tag]
                shared = []
            else:
                shared.append(element)
        self._runs.append(self._elements(shared))

    def chunks(self, ds: Dataset) -> list[bytes]:
        """The file in pieces, to be written without joining half a megabyte per slice."""
        head = DicomBytesIO()
        head.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(head, ds.file_meta, enforce_standard=True)
        return [
            head.getvalue(),
            *(run if isinstance(run, bytes) else self._element(ds[run]) for run in self._runs),
        ]

    def _element(self, element: DataElement) -> bytes:
        if not isinstance(element.value, bytes):
            return self._elements([element])
        if element.value not in self._pixels:
            self._pixels[element.value] = self._elements([element])
        return self._pixels[element.value]

    def _elements(self, elements: list[DataElement]) -> bytes:
        buffer = DicomBytesIO()
        buffer.is_little_endian, buffer.is_implicit_VR = True, False
        for element in elements:
            write_data_element(buffer, element, self._encodings)
        return buffer.getvalue()
