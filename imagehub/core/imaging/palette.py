"""Segmented palette colour tables (PS3.3 C.7.9.2) expanded into plain ones (C.7.6.3.1.6).

Viewers read only the plain Palette Color Lookup Table Data (0028,1201-1203): Cornerstone's
WADO-RS metadata gives up on an image whose tables are segmented, and it is drawn black.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

# Segmented data tag -> (descriptor tag, plain data tag), for red, green and blue.
SEGMENTED = {
    0x00281221: (0x00281101, 0x00281201),
    0x00281222: (0x00281102, 0x00281202),
    0x00281223: (0x00281103, 0x00281203),
}
DISCRETE, LINEAR, INDIRECT = 0, 1, 2
MAX_ENTRIES = 1 << 16  # a descriptor's count is 16 bits: no table is longer


def expand(data: Sequence[int], *, entry_bytes: int = 2) -> list[int]:
    """The table a segmented table describes; ``data`` is its entries (words, or bytes for an
    8-bit table). An indirect segment's offset counts bytes, as the standard says."""
    table: list[int] = []
    _segments(data, 0, None, table, entry_bytes, depth=0)
    return table


def _segments(
    data: Sequence[int], at: int, count: int | None, table: list[int], entry_bytes: int, *, depth: int
) -> None:
    """Appends ``count`` segments (all, when None) read from ``data[at:]`` to ``table``."""
    done = 0
    while at + 1 < len(data) and (count is None or done < count):  # a trailing pad entry is ignored
        opcode, length = data[at], data[at + 1]
        if opcode == DISCRETE:
            if at + 2 + length > len(data):
                raise ValueError("a discrete segment runs past the end of the data")
            table.extend(data[at + 2 : at + 2 + length])
            at += 2 + length
        elif opcode == LINEAR:
            if not table or at + 2 >= len(data):
                raise ValueError("a linear segment needs a value before it and an end value")
            start, end = table[-1], data[at + 2]
            steps = np.arange(1, length + 1, dtype=np.float64)
            table.extend(np.rint(start + (end - start) * steps / length).astype(int).tolist())
            at += 3
        elif opcode == INDIRECT:
            if not table or depth > 0 or at + 3 >= len(data):
                raise ValueError("an indirect segment must follow a segment and may not nest")
            offset = (data[at + 2] | data[at + 3] << 16) // entry_bytes
            _segments(data, offset, length, table, entry_bytes, depth=depth + 1)
            at += 4
        else:
            raise ValueError(f"unknown segment type {opcode}")
        if len(table) > MAX_ENTRIES:
            raise ValueError("the segments describe more entries than a table may have")
        done += 1


def plain_tables(ds: Dataset, *, big_endian: bool) -> list[DataElement]:
    """Descriptors and plain data for a dataset whose colour tables are only segmented; none
    when it has plain tables or no complete segmented set. The data is little-endian words."""
    if any(tag in ds for _, tag in SEGMENTED.values()) or not all(tag in ds for tag in SEGMENTED):
        return []
    out: list[DataElement] = []
    for segmented, (descriptor_tag, data_tag) in SEGMENTED.items():
        descriptor = ds[descriptor_tag]
        _, first, bits = descriptor.value
        entry = "u1" if bits == 8 else "u2"
        words = np.frombuffer(ds[segmented].value, dtype=(">" if big_endian else "<") + entry)
        table = expand(words.tolist(), entry_bytes=words.itemsize)
        if not table:
            raise ValueError("a segmented colour table has no entries")
        out.append(DataElement(descriptor_tag, descriptor.VR, [len(table) % MAX_ENTRIES, first, bits]))
        out.append(DataElement(data_tag, "OW", np.asarray(table, dtype="<u2").tobytes()))
    return out
