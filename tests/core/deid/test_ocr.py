"""The OCR engines on text burned into ultrasound-like images, as a scanner would write it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from imagehub.core.deid.ocr import TesseractEngine, TextBox, open_ocr
from imagehub.core.errors import ConfigError

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Debian fonts-dejavu-core
NAME_LINE = "DOE^JOHN 1234567"

Bounds = tuple[int, int, int, int]  # left, top, right, bottom


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.truetype(str(FONT), size) if FONT.exists() else ImageFont.load_default(size)


def ultrasound(
    size: int = 256,
    *,
    font_size: int = 12,
    text: str | None = NAME_LINE,
    colour: int | tuple[int, int, int] = 255,
) -> tuple[Image.Image, Bounds]:
    """A speckled sector on black with ``text`` at the top left (RGB when ``colour`` is), and
    where the text is."""
    rng = np.random.default_rng(7)
    rows, columns = np.mgrid[0:size, 0:size]
    angle = np.arctan2(columns - size / 2, rows + size * 0.1)
    radius = np.hypot(columns - size / 2, rows + size * 0.1)
    sector = (np.abs(angle) < 0.6) & (radius > size * 0.25) & (radius < size * 1.05)
    speckle = np.where(sector, rng.rayleigh(50, (size, size)), 0).clip(0, 220).astype(np.uint8)
    image = Image.fromarray(speckle).convert("L" if isinstance(colour, int) else "RGB")
    if text is None:
        return image, (0, 0, 0, 0)
    draw = ImageDraw.Draw(image)
    draw.text((6, 6), text, fill=colour, font=font(font_size))
    left, top, right, bottom = draw.textbbox((6, 6), text, font=font(font_size))
    return image, (int(left), int(top), int(right), int(bottom))


def grey(image: Image.Image) -> NDArray[np.uint8]:
    return np.asarray(image.convert("L"))


def read(boxes: list[TextBox]) -> str:
    return " ".join(box.text for box in boxes).upper()


def overlaps(box: TextBox, bounds: Bounds) -> bool:
    left, top, right, bottom = bounds
    return box.x < right and left < box.x + box.width and box.y < bottom and top < box.y + box.height


@pytest.fixture(scope="module")
def tesseract() -> TesseractEngine:
    return TesseractEngine()


def test_tesseract_reads_a_burned_in_name_where_it_is(tesseract: TesseractEngine) -> None:
    image, bounds = ultrasound()
    boxes = tesseract.detect(grey(image))
    assert "1234567" in read(boxes)
    assert "JOHN" in read(boxes)
    assert all(overlaps(box, bounds) for box in boxes), "speckle read as text"
    assert all(0 <= box.confidence <= 1 for box in boxes)


def test_tesseract_reads_no_words_into_speckle(tesseract: TesseractEngine) -> None:
    image, _ = ultrasound(text=None)
    assert tesseract.detect(grey(image)) == []


def test_dark_text_on_a_light_page_is_read_too(tesseract: TesseractEngine) -> None:
    page = Image.new("L", (256, 96), 235)
    ImageDraw.Draw(page).text((8, 30), "Patient: DOE JOHN", fill=20, font=font(14))
    assert "DOE" in read(tesseract.detect(grey(page)))


def test_small_images_are_enlarged_and_boxes_come_back_in_their_pixels(tesseract: TesseractEngine) -> None:
    image, bounds = ultrasound(128, font_size=11, text="1234567")
    boxes = tesseract.detect(grey(image))
    assert "1234567" in read(boxes)
    for box in boxes:
        assert overlaps(box, bounds)
        assert box.x + box.width <= 128
        assert box.y + box.height <= 128


def test_engines_take_2d_grey_images_only(tesseract: TesseractEngine) -> None:
    with pytest.raises(ValueError, match="2D uint8"):
        tesseract.detect(np.zeros((32, 32, 3), np.uint8))


def test_a_missing_tesseract_program_is_a_clear_configuration_error() -> None:
    with pytest.raises(ConfigError, match="tesseract-ocr"):
        TesseractEngine(executable="no-such-tesseract")


def test_engines_are_opened_by_name_once_per_process() -> None:
    assert open_ocr("tesseract") is open_ocr("tesseract")
    assert open_ocr("easyocr").name == "easyocr"
    with pytest.raises(ConfigError, match="unknown OCR engine"):
        open_ocr("paddle")  # type: ignore[arg-type]
