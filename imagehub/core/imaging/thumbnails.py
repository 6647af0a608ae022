"""Small PNG previews of instances, NIfTI volumes and series."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from numpy.typing import NDArray
from PIL import Image

from imagehub.core.errors import InvalidInput
from imagehub.core.imaging.nifti import axial_slice, open_image
from imagehub.core.imaging.pixels import decode_pixels, decoding
from imagehub.core.imaging.sniff import sniff
from imagehub.core.imaging.sources import Source, open_source
from imagehub.core.imaging.window import choose_window, to_uint8


def instance_thumbnail(source: Source, name: str, size: int = 256) -> bytes:
    """The middle frame of a DICOM instance, or the middle axial slice of a NIfTI file's first volume."""
    if size < 1:
        raise InvalidInput(f"thumbnail size must be positive, not {size}")
    with open_source(source) as stream:
        kind = sniff(stream)
        if kind == "nifti":
            with decoding(name), open_image(stream) as image:
                plane, spacing = axial_slice(image)
            picture = to_uint8(plane, choose_window(plane, modality=None, rgb=plane.ndim == 3))
        elif kind in ("dicom", "dicom-raw"):
            frames = decode_pixels(stream, name, frame="middle")
            values = frames.values[0]
            window = choose_window(
                values, modality=frames.modality, header_window=frames.header_window, rgb=frames.rgb
            )
            picture, spacing = to_uint8(values, window, inverted=frames.inverted), frames.spacing
        else:
            raise InvalidInput(f"{name} is not a DICOM or NIfTI image")
    return _png(picture, spacing, size)


def series_thumbnail(sources: Sequence[Source], size: int = 256) -> bytes:
    """``sources`` are in geometric order, so the middle one is the middle of the anatomy."""
    if not sources:
        raise InvalidInput("a series thumbnail needs at least one instance")
    middle = len(sources) // 2
    return instance_thumbnail(sources[middle], f"slice {middle + 1} of {len(sources)}", size)


def _png(picture: NDArray[Any], spacing: tuple[float, float], size: int) -> bytes:
    """Scaled so that the longest physical side is ``size`` pixels and anatomy keeps its proportions."""
    if not all(0 < step < float("inf") for step in spacing):
        spacing = (1.0, 1.0)
    height_mm, width_mm = picture.shape[0] * spacing[0], picture.shape[1] * spacing[1]
    scale = size / max(height_mm, width_mm)
    target = (max(1, round(width_mm * scale)), max(1, round(height_mm * scale)))
    buffer = io.BytesIO()
    Image.fromarray(picture).resize(target, Image.Resampling.LANCZOS).save(buffer, format="PNG")
    return buffer.getvalue()
