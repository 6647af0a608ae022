"""Canonical JSON is the input of every content id: its bytes must never change."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from imagehub.core.hashing import canonical_json

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def plain(value: Any) -> bytes:
    """The definition: sorted keys, no whitespace, UTF-8 without escapes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@settings(max_examples=500, deadline=None)
@given(values)
def test_canonical_json_is_byte_for_byte_the_definition(value: Any) -> None:
    assert canonical_json(value) == plain(value)


def test_text_the_fast_path_must_not_take_is_written_unescaped() -> None:
    assert canonical_json({"path": "ct/é/中.dcm"}) == '{"path":"ct/é/中.dcm"}'.encode()
    assert canonical_json(["a\\u0041", "\x01"]) == b'["a\\\\u0041","\\u0001"]'
