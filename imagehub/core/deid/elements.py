"""Reading elements without decoding the ones nobody needs.

pydicom keeps elements raw until they are accessed; the engine looks at each element's
VR first and decodes only those it acts on, which keeps a header walk well under a
millisecond.
"""

from __future__ import annotations

from pydicom import config
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from imagehub.core.imaging.spans import known_vr


def vr_of(ds: Dataset, tag: int) -> str:
    """The element's VR as stored, or as the dictionary has it for implicit-VR data."""
    raw = ds.get_item(tag)
    if raw is not None and raw.VR:
        return str(raw.VR)
    return known_vr(tag) or "UN"


def values(value: object) -> list[object]:
    """A value as the list of its values: none when empty, one unless multi-valued."""
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list):
        return list(value)
    return [value]


def put(ds: Dataset, tag: int, vr: str, value: object) -> None:
    """Set an element to a value of our own making, valid by construction: pydicom's
    per-value validation, a good part of a header walk's time, is skipped."""
    ds[tag] = DataElement(tag, vr, value, validation_mode=config.IGNORE)
