"""Burned-in text: names, IDs and dates that ultrasound machines, screen captures and scanned
forms write into the pixels, where no header rule reaches them.

Instances at risk are read with OCR and every box of text found is filled with the darkest
value, as are regions where a device is known to write. Redacted or unread instances are
flagged for a person to look at: OCR misses text, and only a look confirms that none is left.
Instances not at risk are left byte for byte as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut
from pydicom.pixels.utils import pixel_array

from imagehub.core.deid.ocr.base import OcrEngine
from imagehub.core.imaging import header
from imagehub.core.imaging.metadata import describe
from imagehub.core.imaging.window import Window, to_uint8

# Modalities that routinely burn patient details into the image: ultrasound, screen and
# secondary captures, angiography and fluoroscopy, endoscopy, photographs, other.
RISKY_MODALITIES = frozenset({"US", "IVUS", "SC", "OT", "XA", "RF", "ES", "XC", "GM", "OP"})
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # and its multi-frame variants, .7.1 to .7.4
# OCR boxes hug the glyphs; antialiased edges and accents reach a little further.
PADDING = 3

Box = tuple[int, int, int, int]  # x, y, width, height
Region = tuple[int, int, int, int, int]  # frame, x, y, width, height


@dataclass(frozen=True)
class RegionRule:
    """A region a device is known to write text into, blanked without reading it."""

    modality: str
    boxes: tuple[Box, ...]
    manufacturer: str | None = None  # a part of the Manufacturer value, in any case
    rows: int | None = None
    columns: int | None = None

    def matches(self, ds: Dataset) -> bool:
        manufacturer = (header.text(ds, "Manufacturer") or "").lower()
        return (
            header.text(ds, "Modality") == self.modality
            and (self.manufacturer is None or self.manufacturer.lower() in manufacturer)
            and self.rows in (None, header.integer(ds, "Rows"))
            and self.columns in (None, header.integer(ds, "Columns"))
        )


@dataclass(frozen=True)
class PixelReport:
    checked: bool  # read by an OCR engine
    regions: list[Region]  # what was filled
    engine: str | None
    needs_review: bool
    reason: str


def at_risk(ds: Dataset, *, all_instances: bool = False) -> bool:
    """Whether the pixels may carry text: the header says so, or the kind of image usually does."""
    image_type = (header.text(ds, "ImageType") or "").upper().split("\\")
    sop_class = header.text(ds, "SOPClassUID") or ""
    return (
        all_instances
        or (header.text(ds, "BurnedInAnnotation") or "").upper() == "YES"
        or header.text(ds, "Modality") in RISKY_MODALITIES
        or "SECONDARY" in image_type
        or sop_class == SECONDARY_CAPTURE
        or sop_class.startswith(SECONDARY_CAPTURE + ".")
    )


def not_at_risk() -> PixelReport:
    """The outcome for an instance whose pixels are not expected to carry text."""
    return PixelReport(False, [], None, False, "not at risk of burned-in text")


def redact_pixels(
    ds: Dataset, *, engine: OcrEngine | None, rules: Sequence[RegionRule] = (), all_instances: bool = False
) -> PixelReport:
    """Blank the text in ``ds``'s frames in place. A matching rule makes an instance at risk.
    Redacted pixels are written back uncompressed in the same bit depth; the SOP Instance UID
    is kept, as it has already been mapped."""
    matching = [rule for rule in rules if rule.matches(ds)]
    if not matching and not at_risk(ds, all_instances=all_instances):
        return not_at_risk()
    if "PixelData" not in ds:
        return PixelReport(False, [], None, False, "no pixel data")
    try:
        frames = _stored_frames(ds)
    except Exception as error:  # codecs fail in many ways on damaged data
        return PixelReport(
            False, [], None, True, f"at risk, and the pixels cannot be decoded: {describe(error)}"
        )
    regions = _rule_regions(matching, frames.shape) + _text_regions(engine, frames, ds)
    name = engine.name if engine is not None else None
    if regions:
        _fill(frames, regions, darkest_is_high=_monochrome1(ds))
        try:
            _write_back(ds, frames)
        except (ValueError, NotImplementedError, AttributeError) as error:
            reason = f"text found, and the redacted pixels cannot be written: {describe(error)}"
            return PixelReport(engine is not None, [], name, True, reason)
    return _outcome(name, regions)


def _outcome(engine: str | None, regions: list[Region]) -> PixelReport:
    blanked = f"blanked {len(regions)} region(s) in {len({region[0] for region in regions})} frame(s)"
    if engine is None:
        rules_note = f"; {blanked} where the device writes text" if regions else ""
        return PixelReport(False, regions, None, True, f"at risk, and no OCR engine to read it{rules_note}")
    if regions:
        return PixelReport(True, regions, engine, True, f"{blanked}; confirm by eye that no text is left")
    return PixelReport(True, regions, engine, False, "no burned-in text found")


def _rule_regions(rules: list[RegionRule], shape: tuple[int, ...]) -> list[Region]:
    return [
        (index, *clipped)
        for index in range(shape[0])
        for rule in rules
        for box in rule.boxes
        if (clipped := _clipped(box, shape[1:3], 0))
    ]


def _text_regions(engine: OcrEngine | None, frames: NDArray[Any], ds: Dataset) -> list[Region]:
    """What ``engine`` reads in each frame, with a margin."""
    if engine is None:
        return []
    regions: list[Region] = []
    for index, frame in enumerate(frames):
        for box in engine.detect(_for_ocr(frame, ds)):
            padded = _clipped((box.x, box.y, box.width, box.height), frames.shape[1:3], PADDING)
            regions += [(index, *padded)] if padded else []
    return regions


def _monochrome1(ds: Dataset) -> bool:
    """High values are dark."""
    return header.text(ds, "PhotometricInterpretation") == "MONOCHROME1"


def _stored_frames(ds: Dataset) -> NDArray[Any]:
    """All frames as (frames, rows, columns[, samples]), writable; colour as RGB."""
    stored = pixel_array(ds)
    count = header.integer(ds, "NumberOfFrames") or 1
    frames = stored if count > 1 else stored[np.newaxis]
    return frames if frames.flags.writeable else frames.copy()


def _for_ocr(frame: NDArray[Any], ds: Dataset) -> NDArray[np.uint8]:
    """8-bit grey. Eight-bit pixels are shown as stored: stretched, a frame without text would
    turn its brightest speckle into the white of text. Deeper ones are taken over their whole
    range rather than a percentile window, which would saturate anatomy along with the text.
    Colour becomes its brightest channel, so that yellow or green annotations count as white."""
    if header.text(ds, "PhotometricInterpretation") == "PALETTE COLOR":
        frame = apply_color_lut(frame, ds)
    if frame.ndim == 3:
        frame = frame.max(axis=2)
    low, high = (0.0, 255.0) if frame.dtype == np.uint8 else (float(frame.min()), float(frame.max()))
    window = Window(center=(low + high) / 2, width=max(high - low, 1.0))
    return to_uint8(frame, window, inverted=_monochrome1(ds))


def _clipped(box: Box, size: tuple[int, ...], padding: int) -> Box | None:
    """``box`` grown by ``padding`` and cut to the frame; ``None`` when nothing is left."""
    rows, columns = size
    x, y, width, height = box
    left, top = max(0, x - padding), max(0, y - padding)
    right, bottom = min(columns, x + width + padding), min(rows, y + height + padding)
    return (left, top, right - left, bottom - top) if right > left and bottom > top else None


def _fill(frames: NDArray[Any], regions: list[Region], *, darkest_is_high: bool) -> None:
    """Each region takes its frame's darkest value (per channel for colour): black, as the
    background of most annotations is."""
    extreme = np.max if darkest_is_high else np.min
    darkest = {index: extreme(frames[index], axis=(0, 1)) for index in {region[0] for region in regions}}
    for index, x, y, width, height in regions:
        frames[index, y : y + height, x : x + width] = darkest[index]


def _write_back(ds: Dataset, frames: NDArray[Any]) -> None:
    """Uncompressed little endian, as re-encoding lossy data would degrade it again. Colour was
    decoded to RGB, so it is stored as RGB."""
    photometric = "RGB" if frames.ndim == 4 else header.text(ds, "PhotometricInterpretation") or ""
    bits_stored = header.integer(ds, "BitsStored") or frames.dtype.itemsize * 8
    array = frames if "NumberOfFrames" in ds else frames[0]
    ds.set_pixel_data(array, photometric, bits_stored, generate_instance_uid=False)
