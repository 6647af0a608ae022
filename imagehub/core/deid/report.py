"""What the tag engine did, in words that are safe to store and show: never a value, only its shape."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.valuerep import PersonName

from imagehub.core.deid.actions import STRING_VRS

_PADDING = b" \x00"


@dataclass(frozen=True)
class AttributeAction:
    """One attribute the table or a safety rule acted on.

    ``before`` and ``after`` summarise the value ("PN, 14 chars", "removed", "2.25…"),
    so a report can be kept and shown without itself holding PHI.
    """

    path: str  # "(0040,0275)[0].(0032,1060)": sequence items by index
    keyword: str
    vr: str
    action: str  # X, Z, D, K, C, U or shift
    before: str
    after: str


@dataclass
class TagReport:
    actions: list[AttributeAction] = field(default_factory=list)
    private_removed: int = 0
    sequences_walked: int = 0


def summary(vr: str, value: object) -> str:
    """The shape of a value: its VR and size, never its content."""
    if isinstance(value, Sequence):
        return f"SQ, {len(value)} items"
    if isinstance(value, bytes):
        return encoded_summary(vr, value)
    if value is None or value == "":
        return f"{vr}, empty"
    if isinstance(value, MultiValue | list):
        return f"{vr}, {len(value)} values"
    if isinstance(value, str | PersonName):
        return f"{vr}, {len(str(value))} chars"
    return f"{vr}, 1 value"


def encoded_summary(vr: str, value: bytes) -> str:
    """The shape of a value still undecoded: text is counted in bytes, padding left out."""
    if not value:
        return f"{vr}, empty"
    if vr in STRING_VRS:
        return f"{vr}, {len(value.rstrip(_PADDING))} chars"
    return f"{vr}, {len(value)} bytes"
