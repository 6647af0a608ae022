"""Rendered frames (WADO-RS ``/rendered``): one frame as a PNG or JPEG a browser can show,
through the window a client asks for or the one a radiologist would have chosen."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Literal

from PIL import Image

from imagehub.core.imaging.pixels import decode_pixels
from imagehub.core.imaging.qido import InvalidQuery
from imagehub.core.imaging.sources import Source
from imagehub.core.imaging.window import Window, choose_window, to_uint8

ImageFormat = Literal["png", "jpeg"]
MAX_VIEWPORT = 4096
JPEG_QUALITY = 90
_NUMBER = r"-?\d+(?:\.\d+)?"


@dataclass(frozen=True)
class Rendering:
    window: Window | None = None  # None: the header's (CT) or the values' percentiles
    viewport: tuple[int, int] | None = None  # fit inside (width, height), keeping proportions
    format: ImageFormat = "png"


def parse_window(text: str) -> Window:
    """``center,width`` with an optional ``,linear`` (the only function offered)."""
    match = re.fullmatch(rf"({_NUMBER}),({_NUMBER})(?:,(\w+))?", text.replace(" ", ""))
    if not match:
        raise InvalidQuery(f"window {text!r} must be center,width[,linear]")
    if match[3] and match[3].lower() != "linear":
        raise InvalidQuery(f"window function {match[3]!r} is not offered; use linear")
    width = float(match[2])
    if width <= 0:
        raise InvalidQuery(f"window width must be positive, not {width:g}")
    return Window(float(match[1]), width)


def parse_viewport(text: str) -> tuple[int, int]:
    """``width,height`` in pixels."""
    match = re.fullmatch(r"(\d+),(\d+)", text.replace(" ", ""))
    if not match or not all(0 < int(side) <= MAX_VIEWPORT for side in match.groups()):
        raise InvalidQuery(f"viewport {text!r} must be width,height, each from 1 to {MAX_VIEWPORT}")
    return int(match[1]), int(match[2])


def render(source: Source, name: str, frame: int, rendering: Rendering) -> bytes:
    """Frame ``frame`` (0-based) at its pixel size, or fitted to the viewport."""
    frames = decode_pixels(source, name, frame=frame)
    values = frames.values[0]
    window = None
    if not frames.rgb:
        window = rendering.window or choose_window(
            values, modality=frames.modality, header_window=frames.header_window
        )
    image = Image.fromarray(to_uint8(values, window, inverted=frames.inverted))
    if rendering.viewport is not None:
        width, height = rendering.viewport
        scale = min(width / image.width, height / image.height)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if rendering.format == "jpeg":
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()
