"""Decoding DICOM pixel data into values with physical meaning (HU for CT)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut
from pydicom.pixels.utils import pixel_array

from imagehub.core.errors import InvalidInput
from imagehub.core.imaging import header
from imagehub.core.imaging.dicom import read_dataset
from imagehub.core.imaging.metadata import describe
from imagehub.core.imaging.sniff import sniff
from imagehub.core.imaging.sources import Source, open_source
from imagehub.core.imaging.window import Window


@dataclass(frozen=True)
class Frames:
    """Decoded frames and what a viewer needs to show them faithfully."""

    dataset: Dataset  # the full header, for callers that need more than pixels
    values: NDArray[Any]  # (frames, rows, columns), or (frames, rows, columns, 3) when rgb
    modality: str | None
    rgb: bool
    inverted: bool  # MONOCHROME1: high values are dark
    header_window: Window | None
    spacing: tuple[float, float]  # (row, column) in mm, 1.0 when unknown


@contextmanager
def decoding(what: str) -> Iterator[None]:
    """Codecs and parsers fail in many ways on bad data; callers get one clear ``InvalidInput``."""
    try:
        yield
    except InvalidInput:
        raise
    except Exception as error:
        raise InvalidInput(f"cannot decode pixels of {what}: {describe(error)}") from error


def decode_pixels(source: Source, name: str, frame: int | Literal["middle"] | None = None) -> Frames:
    """All frames, or only ``frame``, after the modality LUT; colour comes out as RGB.
    Only the requested frame of a compressed multi-frame instance is decompressed."""
    with open_source(source) as stream, decoding(name):
        kind = sniff(stream)
        if kind not in ("dicom", "dicom-raw"):
            raise InvalidInput(f"{name} is not a DICOM instance")
        ds = read_dataset(stream, force=kind == "dicom-raw", pixels=True)
        if not any(keyword in ds for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            raise InvalidInput(f"{name} has no pixel data")
        count = header.integer(ds, "NumberOfFrames") or 1
        if frame == "middle":
            frame = count // 2
        if frame is not None and not 0 <= frame < count:
            raise InvalidInput(f"{name} has no frame {frame}; it has {count}")
        return _frames(ds, pixel_array(ds, index=frame), frame=frame, count=count)


def _frames(ds: Dataset, stored: NDArray[Any], *, frame: int | None, count: int) -> Frames:
    single = frame is not None or count == 1
    photometric = header.text(ds, "PhotometricInterpretation") or ""
    if photometric == "PALETTE COLOR":
        stored = apply_color_lut(stored, ds)
    rgb = stored.ndim == (3 if single else 4)
    if rgb:
        values = stored
    elif single:
        values = modality_values(ds, stored, frame)
    else:
        values = _each_frame_values(ds, stored)
    spacing = header.numbers(ds, "PixelSpacing", 2) or (1.0, 1.0)
    return Frames(
        dataset=ds,
        values=values[np.newaxis] if single else values,
        modality=header.text(ds, "Modality"),
        rgb=rgb,
        inverted=photometric == "MONOCHROME1",
        header_window=_header_window(ds),
        spacing=(spacing[0], spacing[1]),
    )


def modality_values(ds: Dataset, stored: NDArray[Any], frame: int | None = None) -> NDArray[Any]:
    """Stored values as they are when the transform is the identity, else float32, which
    holds every integer a 16-bit image can be rescaled to exactly. ``frame`` picks the
    rescale of one frame of an enhanced object."""
    if "ModalityLUTSequence" in ds:
        return np.asarray(apply_modality_lut(stored, ds))
    slope, intercept = _rescale(ds, frame)
    if slope == 1.0 and intercept == 0.0:
        return stored
    return stored.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def _rescale(ds: Dataset, frame: int | None) -> tuple[float, float]:
    """(slope, intercept); an RT dose grid scales its stored integers to gray by its own factor."""
    slope = header.number(ds, "RescaleSlope", frame) or header.number(ds, "DoseGridScaling") or 1.0
    return slope, header.number(ds, "RescaleIntercept", frame) or 0.0


def _each_frame_values(ds: Dataset, stored: NDArray[Any]) -> NDArray[Any]:
    """All frames after the modality LUT: enhanced objects may rescale each frame differently."""
    if "ModalityLUTSequence" in ds or len({_rescale(ds, i) for i in range(len(stored))}) == 1:
        return modality_values(ds, stored, 0)
    return np.stack([modality_values(ds, one, i) for i, one in enumerate(stored)]).astype(np.float32)


def _header_window(ds: Dataset) -> Window | None:
    center, width = header.number(ds, "WindowCenter"), header.number(ds, "WindowWidth")
    if center is None or width is None or width <= 0:
        return None
    return Window(center, width)
