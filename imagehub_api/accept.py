"""Content negotiation as DICOMweb does it (PS3.18 8.7.8, RFC 9110 12.5.1): the Accept
header's media ranges with their q-values, and the part type and transfer syntax that a
``multipart/related`` range names. A route lists what it can answer with, best first, and
serves the offer the client rates highest; an offer nothing accepts is refused with 406."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from imagehub.core.errors import ImageHubError

MULTIPART = "multipart/related"
_ELEMENT = re.compile(r'(?:[^,"]|"[^"]*")+')  # one comma-separated range, commas inside quotes kept
_PARAMETER = re.compile(r'\s*([^=\s;]+)\s*=\s*("[^"]*"|[^;]*)')


class NotAcceptable(ImageHubError):
    """Nothing the resource can be answered with is acceptable to the client (answered with 406)."""


@dataclass(frozen=True)
class Offer:
    """One representation of a resource: its media type, whether it comes as the parts of a
    multipart/related body, and its transfer syntax where it has one."""

    media: str
    multipart: bool = False
    syntax: str | None = None


@dataclass(frozen=True)
class MediaRange:
    media: str  # type/subtype, either of them may be *; for multipart/related, the parts' type
    multipart: bool
    syntax: str | None  # the transfer-syntax parameter: None when absent, or "*"
    q: float


def parse(header: str | None) -> list[MediaRange]:
    """The ranges of an Accept header; none given accepts anything (*/*)."""
    ranges = [_range(element) for element in _ELEMENT.findall(header or "") if element.strip()]
    return ranges or [MediaRange("*/*", False, None, 1.0)]


def _range(element: str) -> MediaRange:
    media, _, rest = element.partition(";")
    params = {name.lower(): value.strip().strip('"') for name, value in _PARAMETER.findall(rest)}
    media = media.strip().lower()
    multipart = media == MULTIPART
    try:
        q = float(params.get("q", "1"))
    except ValueError:
        q = 0.0  # an unreadable weight accepts nothing rather than everything
    part = params.get("type", "*/*").lower() if multipart else media
    return MediaRange(part, multipart, params.get("transfer-syntax"), q)


def choose(header: str | None, offers: Sequence[Offer]) -> Offer:
    """The offer with the highest q, each rated by the most specific range that matches it
    (so ``image/jpeg;q=0`` refuses JPEG whatever ``*/*`` says); ties go to the earlier offer."""
    ranges = parse(header)
    rated = [(_quality(ranges, offer), -index, offer) for index, offer in enumerate(offers)]
    best = max(rated, key=lambda item: item[:2], default=None)
    if best is None or best[0] <= 0:
        available = ", ".join(_describe(offer) for offer in offers) or "nothing this server can make"
        raise NotAcceptable(f"cannot answer with anything the Accept header allows; available: {available}")
    return best[2]


def _quality(ranges: Sequence[MediaRange], offer: Offer) -> float:
    matching = [(specificity, r.q) for r in ranges if (specificity := _match(r, offer)) is not None]
    return max(matching)[1] if matching else 0.0


def _match(r: MediaRange, offer: Offer) -> int | None:
    """How specifically ``r`` names ``offer`` (higher is more specific), or None if it does not."""
    if r.media == "*/*" and not r.multipart and r.syntax is None:
        return 0  # a bare */* accepts every representation, single part or multipart
    if r.multipart != offer.multipart or r.syntax not in (None, "*", offer.syntax):
        return None
    if r.media == offer.media:
        named = 3
    elif r.media == f"{offer.media.split('/')[0]}/*":
        named = 2
    elif r.media == "*/*":
        named = 1
    else:
        return None
    return named * 2 + (r.syntax is not None and r.syntax != "*")


def _describe(offer: Offer) -> str:
    text = f'{MULTIPART}; type="{offer.media}"' if offer.multipart else offer.media
    return f"{text}; transfer-syntax={offer.syntax}" if offer.syntax else text
