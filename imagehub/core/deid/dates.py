"""Per-patient date shifting for the Retain Longitudinal Temporal Information Modified Dates Option.

Every date of one patient moves by the same number of days, so intervals between studies,
and between a study and its series, survive; the offset comes from a keyed hash of the
original Patient ID, so it is the same in every run and worker and cannot be recomputed
without the secret. Times of day are not identifying on their own and stay as they are.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date, timedelta

from imagehub.core.errors import InvalidInput

# PS3.5 6.2 DT: YYYY[MM[DD[HH[MM[SS[.F{1,6}]]]]]][&ZZXX], the time only after a whole date.
_DATETIME = re.compile(
    r"(?P<day>\d{4}(?:\d{2}){0,2})"  # YYYY, YYYYMM or YYYYMMDD
    r"(?:(?<=\d{8})\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?"  # HH[MM[SS[.F]]], after a whole date
    r"(?:[+-]\d{4})?"  # UTC offset
)
_PAD = "00000101"  # completes "YYYY" and "YYYYMM" to a whole date: January, the first


class DateShifter:
    """Offsets between ``-max_days`` and -1 days: always into the past, never zero."""

    def __init__(self, secret: bytes, *, max_days: int = 3650) -> None:
        if not secret:
            raise InvalidInput("the secret for date shifting must not be empty")
        if max_days < 1:
            raise InvalidInput(f"max_days must be at least 1, not {max_days}")
        self._secret = secret
        self._max_days = max_days

    def offset_days(self, patient_id: str) -> int:
        """The shift for every date of the patient with this (original) Patient ID."""
        digest = hmac.new(self._secret, b"date\x00" + patient_id.strip().encode(), hashlib.sha256).digest()
        return -(int.from_bytes(digest[:8], "big") % self._max_days) - 1


def _shift_day(text: str, days: int) -> str:
    """A ``YYYY``, ``YYYYMM`` or ``YYYYMMDD`` date moved by ``days``, at the same precision;
    "" when it is not a date (an unshiftable value is never kept)."""
    if len(text) not in (4, 6, 8) or not text.isdigit():
        return ""
    full = text + _PAD[len(text) :]
    try:
        moved = date(int(full[:4]), int(full[4:6]), int(full[6:])) + timedelta(days=days)
    except (ValueError, OverflowError):
        return ""
    return moved.strftime("%Y%m%d")[: len(text)]


def shift_date(value: str, days: int) -> str:
    """A DA value, or a DA range ``A-B`` as queries use; "" if any part is not a date."""
    parts = value.strip().split("-")
    shifted = [_shift_day(part.strip(), days) if part.strip() else "" for part in parts]
    if any(part.strip() and not moved for part, moved in zip(parts, shifted, strict=True)):
        return ""
    return "-".join(shifted)


def shift_datetime(value: str, days: int) -> str:
    """A DT value: the date part moves, time and UTC offset stay; "" when it is not a DT
    ("2024-03-17T09:30" would keep its month and day if only the year moved)."""
    value = value.strip()
    match = _DATETIME.fullmatch(value)
    if match is None:
        return ""
    day = _shift_day(match["day"], days)
    return day + value[len(match["day"]) :] if day else ""
