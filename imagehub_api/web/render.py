"""Rendering pages: one template environment, the context every page gets, small filters."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt
from markupsafe import Markup

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
STATIC = Path(__file__).resolve().parents[1] / "static"
VERSION_PARAM = "v"
templates = Jinja2Templates(directory=TEMPLATES)
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def filesize(size: int | None) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """'5 minutes ago': how people read commit times; the exact time goes in a title attribute."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def markdown(text: str) -> Markup:
    """A datasheet as HTML; raw HTML in it is escaped, never passed through."""
    return Markup(_markdown.render(text))  # html=False: markdown-it escapes any HTML in the input


def urlpart(value: str) -> str:
    return quote(value, safe="")


@lru_cache(maxsize=64)
def static_url(path: str) -> str:
    """A static file's URL named by its content (``?v=<digest>``), so browsers keep it without
    asking again until it changes; read once per process. Not for the viewer's entry module:
    its chunks import it by its plain URL, and a second URL would load it twice."""
    try:
        digest = hashlib.sha256((STATIC / path).read_bytes()).hexdigest()[:16]
    except OSError:
        return f"/static/{path}"  # not built (yet): the plain URL, revalidated on each visit
    return f"/static/{path}?{VERSION_PARAM}={digest}"


templates.env.filters.update(filesize=filesize, ago=ago, markdown=markdown, urlpart=urlpart)
templates.env.globals["static_url"] = static_url


SUBMITTED = "submitted"  # the request.state attribute holding a turned-down form post


@dataclass(frozen=True)
class Submitted:
    """A form post the server turned down: its page shows the values again, and why (see forms.py).
    Every page gets one (empty when nothing was posted), so templates need not test for it."""

    action: str = ""
    values: dict[str, str] = field(default_factory=dict)
    error: str = ""

    def value(self, action: str, name: str, default: str = "") -> str:
        """What was typed into field ``name`` of the form posted to ``action``, else ``default``."""
        return self.values.get(name, "") if action == self.action else default

    def checked(self, action: str, name: str, default: bool) -> bool:
        """Whether a checkbox was ticked in the post (an unticked one is not sent at all)."""
        return name in self.values if action == self.action else default


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """A full page, or only its fragment when HTMX asks for one (templates branch on ``htmx``)."""
    base = {
        "principal": getattr(request.state, "principal", None),
        "csrf_token": getattr(request.state, "csrf", None) or "",
        "htmx": is_htmx(request),
        "submitted": getattr(request.state, SUBMITTED, None) or Submitted(),
        "path": request.url.path,
        "full_path": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    }
    return templates.TemplateResponse(request, template, {**base, **context}, status_code=status_code)
