"""Label maps (segmentations): voxels per label, and how well two versions of one agree (Dice).

A reviewer of an annotation change asks "which structures grew or shrank, and by how much?",
which a byte diff cannot answer. Label maps come as NIfTI integer volumes (read fully) or as
DICOM SEG objects (read best-effort: frames placed by their plane position, one label per
segment number; overlapping segments are refused with a clear reason).

Counting uses ``bincount`` over small non-negative labels (the usual case), so a 512³ map costs
a few passes over its voxels and no sort.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from imagehub.core.errors import InvalidInput
from imagehub.core.imaging.dicom import read_dataset
from imagehub.core.imaging.nifti import NiftiError, open_image
from imagehub.core.imaging.sniff import sniff

MAX_LABELS = 256  # more distinct values than this: an image, not a label map
_BINCOUNT_LIMIT = 1 << 16  # labels up to this value are counted with bincount
_SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
_POSITION_DECIMALS = 3  # plane positions equal to a micrometre are the same slice


class LabelError(InvalidInput):
    """Not a label map, or two label maps that cannot be compared; the message says why."""


class ShapeMismatch(LabelError):
    """Two versions of a label map on different voxel grids: Dice would be meaningless."""


@dataclass(frozen=True)
class LabelVolume:
    """An integer label map (0 is background) and what is known about its grid."""

    labels: NDArray[np.int64]
    spacing: tuple[float, ...]
    format: str  # "nifti" | "seg"
    names: dict[int, str] = field(default_factory=dict)  # segment labels a SEG gives
    # SEG only: each slice's position along the stack normal, so two versions can be aligned.
    positions: tuple[float, ...] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.labels.shape)


def label_counts(volume: NDArray[Any]) -> dict[int, int]:
    """Voxels per non-zero label, in label order."""
    flat = _as_labels(volume).ravel()
    if flat.size == 0:
        return {}
    if _small(flat):
        counts = np.bincount(flat)
        return {int(label): int(counts[label]) for label in np.flatnonzero(counts) if label != 0}
    values, counts = np.unique(flat, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True) if v != 0}


def dice(before: NDArray[Any], after: NDArray[Any]) -> dict[int, float]:
    """Dice coefficient 2|A∩B| / (|A| + |B|) of each non-zero label present in either map."""
    if before.shape != after.shape:
        raise ShapeMismatch(
            f"the label maps have different shapes ({_shape(before)} before, {_shape(after)} after): "
            "they are not on the same voxel grid"
        )
    a, b = _as_labels(before).ravel(), _as_labels(after).ravel()
    counts_a, counts_b = label_counts(a), label_counts(b)
    same = a[a == b]
    overlap = label_counts(same)
    result: dict[int, float] = {}
    for label in sorted(set(counts_a) | set(counts_b)):
        total = counts_a.get(label, 0) + counts_b.get(label, 0)
        result[label] = 2.0 * overlap.get(label, 0) / total
    return result


def is_label_volume(array: NDArray[Any], max_labels: int = MAX_LABELS) -> bool:
    """Integer-valued with few distinct values: how a segmentation differs from an image."""
    if array.dtype == np.bool_:
        return True
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or not np.all(np.mod(array, 1) == 0):
            return False
    elif not np.issubdtype(array.dtype, np.integer):
        return False
    flat = array.ravel()
    if flat.size and flat.min() >= 0 and flat.max() < _BINCOUNT_LIMIT:
        return int(np.count_nonzero(np.bincount(flat.astype(np.int64)))) <= max_labels
    return int(np.unique(flat).size) <= max_labels


def is_label_dtype(dtype: np.dtype[Any], intent_code: int = 0) -> bool:
    """From a header alone: a NIfTI label intent, or a small unsigned integer type. (CT volumes
    are int16 and MR often uint16 or float, so wider types are left to a content check.)"""
    return intent_code == 1002 or dtype == np.bool_ or dtype in (np.dtype(np.uint8), np.dtype(np.int8))


# -- loading ---------------------------------------------------------------------------------------
def load_label_volume(data: bytes) -> LabelVolume:
    """A label map from a NIfTI file or a DICOM SEG object, recognised from its content."""
    kind = sniff(io.BytesIO(data))
    if kind == "nifti":
        return label_volume_from_nifti(data)
    if kind in ("dicom", "dicom-raw"):
        return label_volume_from_seg(data)
    raise LabelError("not a label map: neither a NIfTI file nor a DICOM SEG object")


def label_volume_from_nifti(data: bytes) -> LabelVolume:
    try:
        with open_image(io.BytesIO(data)) as image:
            array = np.asanyarray(image.dataobj)
            spacing = tuple(float(z) for z in image.header.get_zooms())
    except (NiftiError, ValueError, OSError, EOFError) as error:
        raise LabelError(f"unreadable NIfTI: {error}") from error
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim > 3:
        raise LabelError(f"a {array.ndim}-D NIfTI with shape {_shape(array)} is a series, not one label map")
    if not is_label_volume(array):
        raise LabelError(
            f"not a label map: {array.dtype} values that are not integers or have more than "
            f"{MAX_LABELS} distinct values"
        )
    return LabelVolume(_as_labels(array), spacing[: array.ndim], "nifti")


def label_volume_from_seg(data: bytes) -> LabelVolume:
    """Segment ``n``'s voxels get label ``n``, on the grid the SEG's own frames span."""
    try:
        ds = read_dataset(io.BytesIO(data), force=True, pixels=True)
    except Exception as error:
        raise LabelError(f"unreadable DICOM: {error}") from error
    if str(ds.get("SOPClassUID", "")) != _SEGMENTATION_STORAGE and ds.get("Modality") != "SEG":
        raise LabelError("unsupported: this DICOM object is not a segmentation (SEG)")
    try:
        frames = np.asarray(ds.pixel_array)
    except Exception as error:
        raise LabelError(f"unsupported DICOM SEG: its frames cannot be decoded ({error})") from error
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    per_frame = list(ds.get("PerFrameFunctionalGroupsSequence") or [])
    if len(per_frame) != frames.shape[0]:
        raise LabelError(
            "unsupported DICOM SEG: it does not describe each frame (per-frame functional groups)"
        )
    if ds.get("SegmentationType") == "FRACTIONAL":
        frames = frames >= (int(ds.get("MaximumFractionalValue", 255)) + 1) // 2
    normal = _normal(ds)
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    slots: list[tuple[float, int]] = []
    for item in per_frame:
        # A group the same for every frame may be shared (one segment's number, usually).
        segment = _first(item, "SegmentIdentificationSequence") or _first(
            shared, "SegmentIdentificationSequence"
        )
        plane = _first(item, "PlanePositionSequence") or _first(shared, "PlanePositionSequence")
        if segment is None or plane is None or "ImagePositionPatient" not in plane:
            raise LabelError("unsupported DICOM SEG: a frame lacks its segment number or plane position")
        position = float(np.dot([float(v) for v in plane.ImagePositionPatient], normal))
        slots.append((round(position, _POSITION_DECIMALS), int(segment.ReferencedSegmentNumber)))
    positions = sorted({position for position, _ in slots})
    index = {position: n for n, position in enumerate(positions)}
    labels = np.zeros((len(positions), *frames.shape[1:]), dtype=np.int64)
    for frame, (position, number) in zip(frames, slots, strict=True):
        target = labels[index[position]]
        mask = frame.astype(bool)
        if np.any(target[mask] != 0):
            raise LabelError("unsupported DICOM SEG: its segments overlap, so they are not one label map")
        target[mask] = number
    names = {
        int(item.SegmentNumber): str(item.get("SegmentLabel", ""))
        for item in ds.get("SegmentSequence") or []
        if "SegmentNumber" in item
    }
    return LabelVolume(labels, _seg_spacing(ds, positions), "seg", names, tuple(positions))


def align(before: LabelVolume, after: LabelVolume) -> tuple[LabelVolume, LabelVolume]:
    """Two SEG versions usually hold frames for different slices: both are put on the union of
    their slice positions (slices one side lacks are background), so they can be compared."""
    if before.positions is None or after.positions is None or before.positions == after.positions:
        return before, after
    if before.labels.shape[1:] != after.labels.shape[1:]:
        raise ShapeMismatch(
            f"the segmentations have different frame sizes ({_shape(before.labels)[1:]} before, "
            f"{_shape(after.labels)[1:]} after)"
        )
    union = tuple(sorted(set(before.positions) | set(after.positions)))
    return _spread(before, union), _spread(after, union)


def _spread(volume: LabelVolume, positions: tuple[float, ...]) -> LabelVolume:
    assert volume.positions is not None
    index = {position: n for n, position in enumerate(positions)}
    labels = np.zeros((len(positions), *volume.labels.shape[1:]), dtype=np.int64)
    for n, position in enumerate(volume.positions):
        labels[index[position]] = volume.labels[n]
    return LabelVolume(labels, volume.spacing, volume.format, volume.names, positions)


# -- helpers ---------------------------------------------------------------------------------------
def _as_labels(volume: NDArray[Any]) -> NDArray[np.int64]:
    if np.issubdtype(volume.dtype, np.floating) and not np.all(np.isfinite(volume)):
        raise LabelError("not a label map: it holds NaN or infinite values")
    return np.asarray(volume).astype(np.int64, copy=False)


def _small(flat: NDArray[np.int64]) -> bool:
    return bool(flat.min() >= 0 and flat.max() < _BINCOUNT_LIMIT)


def _shape(array: NDArray[Any]) -> str:
    return "x".join(str(n) for n in array.shape)


def _first(ds: Dataset | None, keyword: str) -> Dataset | None:
    if ds is None:
        return None
    sequence = ds.get(keyword)
    return sequence[0] if sequence else None


def _orientation(ds: Dataset) -> list[float] | None:
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        plane = _first(_first(ds, groups), "PlaneOrientationSequence")
        if plane is not None and "ImageOrientationPatient" in plane:
            return [float(v) for v in plane.ImageOrientationPatient]
    return None


def _normal(ds: Dataset) -> NDArray[np.float64]:
    """The stack direction; without an orientation, axial (positions compared on z)."""
    orientation = _orientation(ds)
    if orientation is None or len(orientation) != 6:
        return np.array([0.0, 0.0, 1.0])
    normal = np.cross(orientation[:3], orientation[3:])
    return np.asarray(normal, dtype=np.float64)


def _seg_spacing(ds: Dataset, positions: list[float]) -> tuple[float, ...]:
    measures = _first(_first(ds, "SharedFunctionalGroupsSequence"), "PixelMeasuresSequence")
    rows, columns = 1.0, 1.0
    thickness = float(np.median(np.diff(positions))) if len(positions) > 1 else 1.0
    if measures is not None:
        if "PixelSpacing" in measures:
            rows, columns = (float(v) for v in measures.PixelSpacing)
        if len(positions) < 2 and measures.get("SliceThickness"):
            thickness = float(measures.SliceThickness)
    return (thickness, rows, columns)
