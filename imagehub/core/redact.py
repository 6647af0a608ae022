"""Secrets kept out of messages: URLs are shown without the password they may carry."""

from __future__ import annotations

import re

_PASSWORD = re.compile(r"(//[^/@:\s]*:)[^@/\s]*@")


def masked_url(url: str) -> str:
    """``url`` with any ``user:password@`` password replaced by ``***``, however malformed."""
    return _PASSWORD.sub(r"\1***@", url)
