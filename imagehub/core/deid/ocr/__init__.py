"""Finding burned-in text in pixels, with Tesseract or EasyOCR behind one small interface."""

from imagehub.core.deid.ocr.base import OcrEngine, TextBox
from imagehub.core.deid.ocr.easyocr_engine import EasyOcrEngine
from imagehub.core.deid.ocr.registry import EngineName, open_ocr
from imagehub.core.deid.ocr.tesseract import TesseractEngine

__all__ = ["EasyOcrEngine", "EngineName", "OcrEngine", "TesseractEngine", "TextBox", "open_ocr"]
