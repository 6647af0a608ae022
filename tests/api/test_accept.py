"""Content negotiation: which offer an Accept header gets."""

from __future__ import annotations

import pytest

from imagehub_api.accept import NotAcceptable, Offer, choose

JPEG, PNG = Offer("image/jpeg"), Offer("image/png")
RAW = Offer("application/octet-stream", multipart=True, syntax="1.2.840.10008.1.2.1")
BITSTREAM = Offer("image/jpeg", multipart=True, syntax="1.2.840.10008.1.2.4.50")


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        (None, JPEG),
        ("", JPEG),
        ("*/*", JPEG),
        ("image/*", JPEG),
        ("image/png", PNG),
        ("text/html, image/png;q=0.2", PNG),
        ("image/png;q=0.5, image/jpeg", JPEG),
        ("image/jpeg;q=0, image/png", PNG),
        ("image/jpeg;q=0, */*", PNG),  # the specific range outranks the wildcard
        ("IMAGE/PNG; Q=0.9", PNG),
    ],
)
def test_the_highest_rated_offer_wins_and_ties_go_to_the_first(header: str | None, chosen: Offer) -> None:
    assert choose(header, [JPEG, PNG]) == chosen


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ('multipart/related; type="*/*"', RAW),
        ("multipart/related; type=application/octet-stream; transfer-syntax=*", RAW),
        ('multipart/related; type="image/jpeg"', BITSTREAM),
        ('multipart/related; type="image/*"; transfer-syntax=1.2.840.10008.1.2.4.50', BITSTREAM),
        (
            'multipart/related; type="application/octet-stream"; q=0.5, multipart/related; type="image/jpeg"',
            BITSTREAM,
        ),
    ],
)
def test_multipart_ranges_name_the_parts_type_and_transfer_syntax(header: str, chosen: Offer) -> None:
    assert choose(header, [RAW, BITSTREAM]) == chosen


@pytest.mark.parametrize(
    "header",
    [
        "image/gif",
        "text/html",
        "image/jpeg;q=0, image/png;q=0",
        "image/jpeg;q=abc",
        'multipart/related; type="image/jpeg"',  # a multipart range does not accept a single part
    ],
)
def test_nothing_acceptable_is_refused(header: str) -> None:
    with pytest.raises(NotAcceptable, match="available: image/jpeg, image/png"):
        choose(header, [JPEG, PNG])


def test_a_transfer_syntax_must_match_the_offers() -> None:
    with pytest.raises(NotAcceptable):
        choose(
            'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.90', [RAW, BITSTREAM]
        )


def test_a_resource_with_nothing_to_offer_is_not_acceptable() -> None:
    with pytest.raises(NotAcceptable, match="available: nothing"):
        choose("*/*", [])
