"""Patient-space geometry shared by slice ordering and NIfTI export.

DICOM patient coordinates are LPS (+x left, +y posterior, +z superior); NIfTI world
coordinates are RAS, which differ by the sign of x and y. The vectors are tiny and inspected
by the thousand, so plain arithmetic beats numpy here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Vector = Sequence[float] | NDArray[np.float64]

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

# Letter each LPS axis points toward, for the negative and the positive direction.
_AXIS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))


def slice_normal(orientation: Vector) -> NDArray[np.float64]:
    """Row direction x column direction: the axis along which slices of a series stack."""
    return np.array(_normal(orientation))


def slice_position(position: Vector, orientation: Vector) -> float:
    return math.fsum(float(p) * n for p, n in zip(position, _normal(orientation), strict=True))


def axis_codes(orientation: Vector) -> str | None:
    """Nibabel-style codes for the row, column and normal directions, e.g. "LPS" for axial."""
    codes = ""
    for axis in (tuple(orientation[:3]), tuple(orientation[3:6]), _normal(orientation)):
        magnitudes = [abs(float(value)) for value in axis]
        if not all(math.isfinite(value) for value in magnitudes) or max(magnitudes) < 1e-6:
            return None
        dominant = magnitudes.index(max(magnitudes))
        codes += _AXIS_LETTERS[dominant][int(axis[dominant] > 0)]
    return codes


def _normal(orientation: Vector) -> tuple[float, float, float]:
    rx, ry, rz, cx, cy, cz = (float(value) for value in orientation[:6])
    return (ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx)
