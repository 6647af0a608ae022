"""Absolute URLs of this server, as its clients reach it."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request

from imagehub.services.platform import Platform


def public_base(request: Request) -> str:
    """``IMAGEHUB_PUBLIC_URL`` when set (behind a proxy, or for clients whose Host header
    leaves out the port), else the scheme and Host of the request; no trailing slash."""
    platform: Platform = request.app.state.platform
    return (platform.settings.public_url or str(request.base_url)).rstrip("/")


def safe_next(target: str) -> str:
    """Only same-site paths: a crafted ``next`` must not send a user off to another host, nor
    back to the sign-in page (which would nest ``next`` in itself)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if urlsplit(target).path == "/login":
        return "/"
    return target
