"""One page shape for every listing: ``{"results": [...], "next_after": cursor | None}``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def page(
    items: Sequence[T], limit: int, render: Callable[[T], dict[str, Any]], cursor: Callable[[T], Any]
) -> dict[str, Any]:
    """A full page carries the cursor of its last item; a short page is the last one."""
    return {
        "results": [render(item) for item in items],
        "next_after": cursor(items[-1]) if items and len(items) == limit else None,
    }
