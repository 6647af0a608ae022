"""Tesseract, run as the ``tesseract`` executable (Debian ``tesseract-ocr``): no Python binding
to build, and a crash cannot take the worker down.

Tesseract reads speckle and anatomy as garbage words, which would blank parts of the image, so
it is given the bright strokes only: burned-in annotations are drawn at or near full intensity.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from imagehub.core.deid.ocr.base import TextBox, read_enlarged
from imagehub.core.errors import ConfigError

# Tesseract wants capitals 20-30 pixels high; annotations are 7-14. Twice the size reads best:
# larger, the thresholded strokes of small glyphs turn into blobs.
LONG_SIDE = 1280
MAX_FACTOR = 2
# Page segmentation mode 11: sparse text, as much as can be found, in no particular order.
SPARSE_TEXT = "11"
WORD_LEVEL = "5"
TSV_COLUMNS = 12


class TesseractEngine:
    name = "tesseract"

    def __init__(
        self,
        *,
        executable: str = "tesseract",
        threshold: int = 128,
        min_confidence: float = 30.0,
        timeout_s: float = 120.0,
    ) -> None:
        """``threshold``: the 8-bit level from which a pixel may be text; ``min_confidence``:
        Tesseract's 0-100 score below which a word is taken for noise."""
        path = shutil.which(executable)
        if path is None:
            raise ConfigError(
                f"OCR engine tesseract needs the {executable!r} program (Debian: tesseract-ocr)"
            )
        self._executable = path
        self._threshold = threshold
        self._min_confidence = min_confidence
        self._timeout_s = timeout_s

    def detect(self, image: NDArray[np.uint8]) -> list[TextBox]:
        return read_enlarged(image, self._read, long_side=LONG_SIDE, max_factor=MAX_FACTOR)

    def _read(self, image: NDArray[np.uint8]) -> list[TextBox]:
        buffer = io.BytesIO()
        Image.fromarray(_bright_strokes(image, self._threshold)).save(buffer, format="PNG")
        command = [self._executable, "stdin", "stdout", "--psm", SPARSE_TEXT, "tsv"]
        # One thread: OpenMP slows Tesseract down on small images and competes with other workers.
        environment = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        try:
            done = subprocess.run(
                command,
                input=buffer.getvalue(),
                capture_output=True,
                env=environment,
                timeout=self._timeout_s,
            )
        except subprocess.TimeoutExpired as error:
            raise ConfigError(f"tesseract took more than {self._timeout_s:g} s on one image") from error
        if done.returncode != 0:
            message = " ".join(done.stderr.decode("utf-8", "replace").split())[:300]
            raise ConfigError(f"tesseract failed with exit status {done.returncode}: {message}")
        return self._words(done.stdout.decode("utf-8", "replace"))

    def _words(self, tsv: str) -> list[TextBox]:
        """Word rows of the TSV report that hold a letter or digit read with enough confidence."""
        boxes = []
        for line in tsv.splitlines()[1:]:
            fields = line.split("\t", TSV_COLUMNS - 1)
            if len(fields) != TSV_COLUMNS or fields[0] != WORD_LEVEL:
                continue
            left, top, width, height = (int(value) for value in fields[6:10])
            confidence, text = float(fields[10]), fields[11].strip()
            if confidence >= self._min_confidence and any(character.isalnum() for character in text):
                boxes.append(TextBox(left, top, width, height, text, confidence / 100))
        return boxes


def _bright_strokes(image: NDArray[np.uint8], threshold: int) -> NDArray[np.uint8]:
    """Pixels from ``threshold`` up as black on white, the way Tesseract expects a page. A
    mostly light image (a scanned form) holds dark text, so it is inverted first."""
    if np.median(image) > 127:
        image = 255 - image
    return np.where(image >= threshold, 0, 255).astype(np.uint8)
