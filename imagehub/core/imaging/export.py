"""A DICOM series as one NIfTI volume for ML pipelines, with its place in patient space intact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from imagehub.core.errors import InvalidInput
from imagehub.core.imaging import header
from imagehub.core.imaging.geometry import LPS_TO_RAS, slice_normal
from imagehub.core.imaging.nifti import encode_nifti
from imagehub.core.imaging.pixels import decode_pixels
from imagehub.core.imaging.sources import Source

# Geometry that differs by less than this (direction cosines, mm) is the same.
_TOLERANCE = 1e-4
# Relative spread of slice steps above which slices are missing or misplaced; scanners round
# positions, so real series jitter by a few per cent.
_STEP_SPREAD = 0.1
_INT16 = np.iinfo(np.int16)
# A slice step leaning out of the normal by more than this share of its length is a tilt.
_MAX_LEAN = 2e-3
_GEOMETRY = (("ImagePositionPatient", 3), ("ImageOrientationPatient", 6), ("PixelSpacing", 2))


@dataclass(frozen=True)
class _Slice:
    label: str
    values: NDArray[Any]  # (rows, columns), modality values
    position: NDArray[np.float64]
    orientation: NDArray[np.float64]
    spacing: NDArray[np.float64]  # (row, column)
    thickness: float | None


def series_to_nifti(sources: Sequence[Source]) -> bytes:
    """Gzip-compressed NIfTI-1; int16 when every value is an int16 integer, else float32."""
    if not sources:
        raise InvalidInput("a series needs at least one instance to become a volume")
    slices = [one for number, source in enumerate(sources, 1) for one in _read_slices(source, number)]
    _check_consistent(slices)
    normal = slice_normal(slices[0].orientation)
    slices.sort(key=lambda one: float(one.position @ normal))
    volume = np.stack([one.values for one in slices]).transpose(2, 1, 0)  # (columns, rows, slices)
    affine = _lps_affine(slices, normal)
    volume, affine = _untilted(volume, affine, normal)
    return encode_nifti(_compact(volume), LPS_TO_RAS @ affine)


def _untilted(
    volume: NDArray[Any], affine: NDArray[np.float64], normal: NDArray[np.float64]
) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """A gantry-tilted series steps partly within the slice plane, a sheared grid that a
    NIfTI qform cannot hold (and ITK cannot read). Each slice is shifted back by its share of
    that in-plane step, onto the grid that steps along the normal only, as dcm2niix does;
    integral values stay integral. Scanner rounding (under about 0.1 degree) is left alone."""
    step = affine[:3, 2]
    along = float(step @ normal) * normal
    across = step - along
    if float(np.linalg.norm(across)) <= _MAX_LEAN * float(np.linalg.norm(step)):
        return volume, affine
    per_slice = [
        float(across @ affine[:3, axis]) / float(affine[:3, axis] @ affine[:3, axis]) for axis in (0, 1)
    ]
    integral = np.issubdtype(volume.dtype, np.integer) or np.array_equal(volume, np.round(volume))
    background = float(volume.min())
    planes = []
    for index in range(volume.shape[2]):
        moved = ndimage.shift(
            volume[:, :, index].astype(np.float64),
            (index * per_slice[0], index * per_slice[1]),
            order=1,
            mode="constant",
            cval=background,
        )
        planes.append(np.round(moved) if integral else moved)
    straight = affine.copy()
    straight[:3, 2] = along
    return np.stack(planes, axis=2), straight


def _read_slices(source: Source, number: int) -> list[_Slice]:
    """One slice per frame: classic instances hold one, enhanced (multi-frame) ones many,
    each placed by its own functional group or, in an RT dose grid, by its offset."""
    label = f"instance {number}"
    frames = decode_pixels(source, label)
    ds = frames.dataset
    if frames.rgb:
        raise InvalidInput(f"{label}: colour instances cannot be stacked into a volume")
    count = len(frames.values)
    offsets = header.numbers(ds, "GridFrameOffsetVector", count) if count > 1 else None
    slices = []
    for index in range(count):
        position, orientation, spacing = (
            header.numbers(ds, keyword, size, index) for keyword, size in _GEOMETRY
        )
        if position is None or orientation is None or spacing is None:
            raise InvalidInput(f"{label} lacks one of {', '.join(keyword for keyword, _ in _GEOMETRY)}")
        placed = np.array(position)
        if offsets is not None:
            placed = _offset_position(placed, np.array(orientation), offsets, index)
        slices.append(
            _Slice(
                label=label if count == 1 else f"{label} frame {index + 1}",
                values=frames.values[index],
                position=placed,
                orientation=np.array(orientation),
                spacing=np.array(spacing),
                thickness=header.number(ds, "SpacingBetweenSlices")
                or header.number(ds, "SliceThickness", index),
            )
        )
    if count > 1 and offsets is None and len({tuple(one.position) for one in slices}) == 1:
        raise InvalidInput(f"{label}: its {count} frames carry no position each, so they cannot be stacked")
    return slices


def _offset_position(
    origin: NDArray[np.float64], orientation: NDArray[np.float64], offsets: tuple[float, ...], index: int
) -> NDArray[np.float64]:
    """Where frame ``index`` of an RT dose grid lies. Offsets starting at 0 are distances along
    the normal from the first frame; otherwise they are the frames' z (axial grids only)."""
    if offsets[0] == 0.0:
        return np.asarray(origin + offsets[index] * slice_normal(orientation))
    if not np.allclose(orientation, (1, 0, 0, 0, 1, 0), atol=_TOLERANCE):
        raise InvalidInput("a dose grid with absolute frame offsets must be axial")
    return np.array([origin[0], origin[1], offsets[index]])


def _check_consistent(slices: list[_Slice]) -> None:
    first = slices[0]
    for other in slices[1:]:
        if other.values.shape != first.values.shape:
            raise InvalidInput(f"inconsistent series: {first.label} and {other.label} differ in rows/columns")
        if not np.allclose(other.orientation, first.orientation, atol=_TOLERANCE):
            raise InvalidInput(f"inconsistent series: {first.label} and {other.label} differ in orientation")
        if not np.allclose(other.spacing, first.spacing, atol=_TOLERANCE):
            raise InvalidInput(
                f"inconsistent series: {first.label} and {other.label} differ in pixel spacing"
            )


def _lps_affine(slices: list[_Slice], normal: NDArray[np.float64]) -> NDArray[np.float64]:
    """Voxel (column, row, slice) to LPS millimetres; the slice step comes from the positions,
    so gantry tilt and reversed stacks are kept as they are."""
    first = slices[0]
    affine = np.eye(4)
    affine[:3, 0] = first.orientation[:3] * first.spacing[1]
    affine[:3, 1] = first.orientation[3:] * first.spacing[0]
    affine[:3, 2] = _slice_step(slices) if len(slices) > 1 else normal * (first.thickness or 1.0)
    affine[:3, 3] = first.position
    return affine


def _slice_step(slices: list[_Slice]) -> NDArray[np.float64]:
    steps = np.diff(np.stack([one.position for one in slices]), axis=0)
    lengths = np.linalg.norm(steps, axis=1)
    if lengths.min() < _TOLERANCE:
        raise InvalidInput("inconsistent series: two slices lie at the same position")
    if lengths.max() - lengths.min() > _STEP_SPREAD * float(np.median(lengths)):
        raise InvalidInput(
            f"inconsistent series: slice spacing varies from {lengths.min():.3f} to {lengths.max():.3f} mm"
        )
    return np.asarray((slices[-1].position - slices[0].position) / (len(slices) - 1))


def _compact(volume: NDArray[Any]) -> NDArray[Any]:
    """int16 loses nothing for integral values in its range and halves the size of float32."""
    in_range = volume.size > 0 and volume.min() >= _INT16.min and volume.max() <= _INT16.max
    if in_range and (np.issubdtype(volume.dtype, np.integer) or np.array_equal(volume, np.round(volume))):
        return volume.astype(np.int16)
    return volume.astype(np.float32)
