"""From a table action code and an element's VR to the one thing done to the element.

The table's choices ("X/Z", "X/Z/D") leave it to the de-identifier whether the IOD needs
the attribute; without the IOD at hand the one that keeps every output valid is taken:
Z when offered, else D, else X. "X/Z/U*" sequences are kept with their UIDs replaced,
so that references to other instances still resolve.
"""

from __future__ import annotations

from functools import cache

# What ``concrete`` returns, besides the table's own X, Z, D, K, C and U.
SHIFT = "shift"  # a date under Retain Modified Dates: moved by the patient's offset
WALK = "walk"  # a sequence that stays: its items are de-identified in turn

TEXT_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
STRING_VRS = TEXT_VRS | {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"}
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_DUMMIES: dict[str, object] = {
    "PN": "ANONYMOUS",
    "AE": "ANONYMOUS",
    "AS": "000D",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    **{vr: "ANONYMIZED" for vr in ("CS", "LO", "LT", "SH", "ST", "UC", "UR", "UT")},
    **{vr: b"\x00\x00" for vr in _BINARY_VRS},
}


def _choose(code: str) -> str:
    choices = code.split("/")
    if "U*" in choices:
        return "U"
    return next((choice for choice in ("Z", "D") if choice in choices), choices[0])


@cache
def concrete(code: str, vr: str) -> str:
    """The action for an element of ``vr`` whose effective table code is ``code``."""
    action = _choose(code)
    if vr == "SQ":
        # X drops a sequence and Z empties it; so does D, since a dummy sequence would need made-up
        # items. Every other code keeps the sequence and de-identifies its items in turn.
        return {"X": "X", "Z": "Z", "D": "Z"}.get(action, WALK)
    if action == "C":
        if vr in ("DA", "DT"):
            return SHIFT
        if vr in TEXT_VRS:
            return "C"
        # A clean value of a code, AE title or binary blob cannot be derived from the original.
        return {"TM": "K", "UI": "U", "AE": "D", "CS": "D"}.get(vr, "X")
    if action == "D" and vr == "UI":
        return "U"  # a dummy UID must still be unique and consistent: a replacement is both
    return action


def dummy(vr: str) -> object:
    """A non-empty value valid for ``vr`` that says nothing (0 for binary numbers)."""
    return _DUMMIES.get(vr, 0)


def empty(vr: str) -> object:
    """A zero-length value of ``vr``."""
    if vr in STRING_VRS:
        return ""
    if vr in _BINARY_VRS:
        return b""
    return None
