"""One level of a header (a data set or a sequence item) as the tag engine sees it.

The engine decides what happens to each element from its tag and VR alone; a level carries
the decision out. There are two kinds: a pydicom ``Dataset`` (``DatasetLevel``, here), and
the encoded bytes of a file (``EncodedLevel`` in ``encoded.py``), which never builds
pydicom's model of the header and so de-identifies it several times faster. Both share
one walker and one table, so they cannot disagree about what is removed or kept.
"""

from __future__ import annotations

from typing import Protocol

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from imagehub.core.deid.elements import put, values, vr_of
from imagehub.core.deid.report import summary


class Level(Protocol):
    """The operations the walker needs; tags are plain ints, values as pydicom decodes them."""

    @property
    def encoding(self) -> tuple[bool, bool]:
        """(implicit VR, little endian) of the level's encoding."""
        ...

    def tags(self) -> list[int]:
        """The level's tags in order, as they were when the walk began."""
        ...

    def has(self, tag: int) -> bool: ...

    def vr(self, tag: int) -> str:
        """As stored, or from the dictionary for implicit-VR data ("UN" when unknown)."""
        ...

    def text(self, tag: int) -> str:
        """The current value as one string; "" when absent or empty."""
        ...

    def before(self, tag: int, vr: str) -> str:
        """The shape of the current value for a report (never the value itself)."""
        ...

    def values(self, tag: int) -> list[object]:
        """The current values, decoded: none when empty, one unless multi-valued."""
        ...

    def items(self, tag: int) -> list[Level]:
        """The items of a sequence, each a level whose changes are kept."""
        ...

    def drop(self, tag: int) -> None: ...

    def put(self, tag: int, vr: str, value: object) -> None:
        """Set an element to a value of our own making (str, list of str, bytes, number, empty)."""
        ...

    def put_encoded(self, tag: int, vr: str, value: bytes) -> None:
        """Set an element to a value already encoded in this level's encoding."""
        ...


class DatasetLevel:
    """A level over a pydicom ``Dataset``, changed in place."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds

    @property
    def encoding(self) -> tuple[bool, bool]:
        implicit_vr, little_endian = self.ds.original_encoding
        if implicit_vr is None or little_endian is None:
            return False, True  # built in memory: any encoding decodes on writing
        return implicit_vr, little_endian

    def tags(self) -> list[int]:
        return list(self.ds.keys())  # BaseTag is an int; iterating the Dataset would decode

    def has(self, tag: int) -> bool:
        return tag in self.ds

    def vr(self, tag: int) -> str:
        return vr_of(self.ds, tag)

    def text(self, tag: int) -> str:
        element = self.ds.get(tag)
        return str(element.value or "") if element is not None else ""

    def before(self, tag: int, vr: str) -> str:
        if vr == "SQ":  # counted the same whether or not pydicom has decoded the sequence yet
            return f"SQ, {len(self.ds[tag].value)} items"
        element = self.ds.get_item(tag)
        return summary(vr, element.value if element is not None else None)

    def values(self, tag: int) -> list[object]:
        return values(self.ds[tag].value)

    def items(self, tag: int) -> list[Level]:
        return [DatasetLevel(item) for item in self.ds[tag].value]

    def drop(self, tag: int) -> None:
        del self.ds[tag]

    def put(self, tag: int, vr: str, value: object) -> None:
        put(self.ds, tag, vr, value)

    def put_encoded(self, tag: int, vr: str, value: bytes) -> None:
        implicit_vr, little_endian = self.encoding
        self.ds[tag] = RawDataElement(BaseTag(tag), vr, len(value), value, 0, implicit_vr, little_endian)
