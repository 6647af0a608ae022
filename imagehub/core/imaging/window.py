"""Choosing and applying a display window, so that pictures show anatomy rather than noise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

# CT values are calibrated, so a wider range than for MR keeps bone and air distinguishable.
CT_PERCENTILES = (0.5, 99.5)
DEFAULT_PERCENTILES = (1.0, 99.0)


@dataclass(frozen=True)
class Window:
    center: float
    width: float

    @property
    def low(self) -> float:
        return self.center - self.width / 2

    @property
    def high(self) -> float:
        return self.center + self.width / 2


def choose_window(
    values: NDArray[Any], *, modality: str | None, header_window: Window | None = None, rgb: bool = False
) -> Window | None:
    """The header's window for CT (radiologists chose it), else percentiles of the values;
    ``None`` for RGB, which is already display-ready."""
    if rgb:
        return None
    if modality == "CT" and header_window is not None:
        return header_window
    finite = values[np.isfinite(values)]
    if not finite.size:
        return Window(center=0.0, width=1.0)
    low, high = np.percentile(finite, CT_PERCENTILES if modality == "CT" else DEFAULT_PERCENTILES)
    return Window(center=float(low + high) / 2, width=max(float(high - low), 1e-6))


def to_uint8(values: NDArray[Any], window: Window | None, *, inverted: bool = False) -> NDArray[np.uint8]:
    """8-bit grey levels through ``window``; RGB is only brought to 8 bits."""
    if window is None:
        if values.dtype == np.uint8:
            return values
        top = values.max() or 1.0
        if np.issubdtype(values.dtype, np.integer):
            # Colour tables declared 16-bit often hold 8-bit values: taken at face value, the
            # picture would come out black.
            top = 255 if top <= 255 else np.iinfo(values.dtype).max
        return np.round(np.clip(values.astype(np.float64) * (255.0 / float(top)), 0, 255)).astype(np.uint8)
    scaled = np.nan_to_num(np.clip((values.astype(np.float64) - window.low) / window.width, 0.0, 1.0))
    if inverted:
        scaled = 1.0 - scaled
    return np.round(scaled * 255.0).astype(np.uint8)
