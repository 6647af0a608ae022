"""The DICOM JSON model (PS3.18 Annex F): attributes from plain values, whole headers with bulk
data given by reference, and the URLs those references and RetrieveURLs point at.

A header's large binary values (and its pixel data, which is never read here) are sent as a
BulkDataURI, so that metadata of a whole series stays small enough for a viewer to fetch first.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import numpy as np
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

from imagehub.core.errors import NotFound
from imagehub.core.imaging import palette

# Binary values whose base64 form is longer than this are sent by reference.
BULK_THRESHOLD = 1024
# Palette colour tables (red, green, blue) are inline whatever their size (128 KiB at most):
# a viewer needs them to draw the first frame, and fetching three bulk values would delay it.
PALETTE_DATA = frozenset({0x00281201, 0x00281202, 0x00281203})
INLINE_ALWAYS = 1 << 30
BulkUri = Callable[[str], str]  # path of an element ("00540016/0/00181072") -> its URL


@dataclass(frozen=True)
class Urls:
    """Where the resources of one DICOMweb service root (one dataset version) are."""

    root: str  # .../refs/{ref}/dicomweb

    def study(self, study: str) -> str:
        return f"{self.root}/studies/{_uid(study)}"

    def series(self, study: str, series: str) -> str:
        return f"{self.study(study)}/series/{_uid(series)}"

    def instance(self, study: str, series: str, sop: str) -> str:
        return f"{self.series(study, series)}/instances/{_uid(sop)}"

    def bulkdata(self, study: str, series: str, sop: str) -> BulkUri:
        base = f"{self.instance(study, series, sop)}/bulkdata/"
        return lambda path: base + path


def _uid(value: str) -> str:
    return quote(value, safe=".")


def attributes(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """DICOM JSON of keyword -> plain value; ``None`` gives an empty attribute, a list of
    mappings a sequence. Keys are tags in ascending order, as the model requires."""
    out: dict[str, dict[str, Any]] = {}
    for keyword, value in values.items():
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise KeyError(f"{keyword} is not a DICOM keyword")
        vr = dictionary_VR(tag)
        if vr == "SQ":
            out[f"{tag:08X}"] = {"vr": "SQ", "Value": [attributes(item) for item in value or []]}
        else:
            out[f"{tag:08X}"] = DataElement(tag, vr, value).to_json_dict(None, BULK_THRESHOLD)
    return dict(sorted(out.items()))


def header(
    ds: Dataset,
    bulk_uri: BulkUri,
    *,
    pixel: tuple[int, str] | None = None,
    path: str = "",
    big_endian: bool | None = None,
) -> dict[str, dict[str, Any]]:
    """Every element of ``ds`` (read up to its pixel data); ``pixel`` is the tag and VR of the
    pixel data element the file holds, which comes last and only by reference. Segmented colour
    tables are also sent expanded, as plain ones: viewers read no others."""
    big = _big_endian(ds) if big_endian is None else big_endian
    out = {f"{tag:08X}": _element(ds, tag, f"{path}{tag:08X}", bulk_uri, big) for tag in sorted(ds.keys())}
    if not path:
        out = dict(sorted({**out, **_plain_palette(ds, big)}.items()))
    if pixel is not None:
        key = f"{pixel[0]:08X}"
        out[key] = {"vr": pixel[1], "BulkDataURI": bulk_uri(key)}
    return out


def _element(ds: Dataset, tag: int, path: str, bulk_uri: BulkUri, big: bool) -> dict[str, Any]:
    raw = _raw(ds, tag)  # before conversion replaces it
    try:
        element = ds[tag]
        if element.VR == "SQ":
            items = [
                header(item, bulk_uri, path=f"{path}/{n}/", big_endian=big)
                for n, item in enumerate(element.value)
            ]
            return {"vr": "SQ", "Value": items}
        threshold = INLINE_ALWAYS if tag in PALETTE_DATA else BULK_THRESHOLD
        return little_endian(element, big).to_json_dict(lambda _: bulk_uri(path), threshold)
    except Exception:  # a malformed value (bad VR, bad number): sent as its raw bytes, as UN
        if len(raw) > BULK_THRESHOLD * 3 // 4:
            return {"vr": "UN", "BulkDataURI": bulk_uri(path)}
        return {"vr": "UN", "InlineBinary": base64.b64encode(raw).decode("ascii")} if raw else {"vr": "UN"}


def _plain_palette(ds: Dataset, big: bool) -> dict[str, dict[str, Any]]:
    try:
        found = palette.plain_tables(ds, big_endian=big)
    except (ValueError, TypeError, KeyError):  # malformed tables: the header as it is
        return {}
    return {f"{e.tag:08X}": e.to_json_dict(None, INLINE_ALWAYS) for e in found}


WORD_BYTES = {"OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}  # binary VRs whose words have a byte order


def _big_endian(ds: Dataset) -> bool:
    return ds.original_encoding[1] is False


def little_endian(element: DataElement, big: bool) -> DataElement:
    """The element with its binary words in little-endian order, as DICOM JSON and bulk data
    carry them (PS3.18 F.2.7); a big-endian file's words are swapped."""
    size = WORD_BYTES.get(element.VR)
    value = element.value
    if not big or size is None or not isinstance(value, bytes) or len(value) % size:
        return element
    swapped = np.frombuffer(value, dtype=f">u{size}").astype(f"<u{size}").tobytes()
    return DataElement(element.tag, element.VR, swapped)


def _raw(ds: Dataset, tag: int) -> bytes:
    """The element's bytes as read, while it is still unconverted."""
    item = ds.get_item(tag)
    return bytes(item.value or b"") if isinstance(item, RawDataElement) else b""


def bulk_value(ds: Dataset, path: str) -> bytes:
    """The value a ``header`` BulkDataURI path names: ``TAG`` or ``TAG/ITEM/TAG/...``."""
    steps = path.strip("/").split("/")
    current: Any = ds
    big = _big_endian(ds)
    try:
        for number, step in enumerate(steps):
            if number % 2:
                current = current[int(step)]
            else:
                tag, raw = int(step, 16), _raw(current, int(step, 16))
                try:
                    current = little_endian(current[tag], big).value
                except Exception:  # what ``header`` sent as raw bytes
                    current = raw
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        current = None
    if not isinstance(current, bytes) or not current:
        raise NotFound(f"no bulk data at {path!r} in this instance")
    return current
