"""OCR engines by the name a dataset's settings use."""

from __future__ import annotations

from functools import cache
from typing import Literal

from imagehub.core.deid.ocr.base import OcrEngine
from imagehub.core.deid.ocr.easyocr_engine import EasyOcrEngine
from imagehub.core.deid.ocr.tesseract import TesseractEngine
from imagehub.core.errors import ConfigError

EngineName = Literal["tesseract", "easyocr"]


@cache
def open_ocr(name: EngineName) -> OcrEngine:
    """One engine per name and process, as EasyOCR's models take seconds and memory to load."""
    if name == "tesseract":
        return TesseractEngine()
    if name == "easyocr":
        return EasyOcrEngine()
    raise ConfigError(f"unknown OCR engine {name!r}; choose tesseract or easyocr")
