"""What every OCR engine gives the pixel redaction: boxes of text in image coordinates.

Text burned into 64-256 pixel images is a few pixels high, below what OCR models were trained
on, so engines read an enlarged copy and the boxes are mapped back here, once for all engines.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image


@dataclass(frozen=True)
class TextBox:
    """A word or line of text: its bounding box in pixels and what the engine read there."""

    x: int
    y: int
    width: int
    height: int
    text: str
    confidence: float  # 0-1


class OcrEngine(Protocol):
    name: str

    def detect(self, image: NDArray[np.uint8]) -> list[TextBox]:
        """Text in a 2D grayscale image."""
        ...


def check_grayscale(image: NDArray[np.uint8]) -> None:
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"OCR needs a 2D uint8 image, not {image.dtype} of shape {image.shape}")


def read_enlarged(
    image: NDArray[np.uint8],
    read: Callable[[NDArray[np.uint8]], list[TextBox]],
    *,
    long_side: int,
    max_factor: int,
) -> list[TextBox]:
    """``read`` run on ``image`` enlarged by the integer factor, at most ``max_factor``, that
    brings its longer side to ``long_side`` pixels, with the boxes mapped back to ``image``."""
    check_grayscale(image)
    rows, columns = image.shape
    factor = min(max_factor, max(1, math.ceil(long_side / max(rows, columns, 1))))
    if factor == 1:
        return read(image)
    resized = Image.fromarray(image).resize((columns * factor, rows * factor), Image.Resampling.BICUBIC)
    return [_shrunk(box, factor, rows, columns) for box in read(np.asarray(resized))]


def _shrunk(box: TextBox, factor: int, rows: int, columns: int) -> TextBox:
    """Rounded outwards, so that the box still covers every pixel of the text."""
    left, top = box.x // factor, box.y // factor
    right = min(columns, -(-(box.x + box.width) // factor))
    bottom = min(rows, -(-(box.y + box.height) // factor))
    return TextBox(left, top, right - left, bottom - top, box.text, box.confidence)
