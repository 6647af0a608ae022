"""Reading multipart/related bodies: what the parts of one body keep in memory."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from starlette.requests import Request

from imagehub_api import multipart


def request(body: bytes, chunk: int = 1000) -> Request:
    pieces = [body[at : at + chunk] for at in range(0, len(body), chunk)]

    async def receive() -> dict[str, Any]:
        data = pieces.pop(0)
        return {"type": "http.request", "body": data, "more_body": bool(pieces)}

    content_type = b'multipart/related; type="application/dicom"; boundary=XyZ'
    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-type", content_type)]}
    return Request(scope, receive)


def test_parts_share_one_memory_budget_and_the_rest_go_to_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(multipart, "IN_MEMORY", 1000)
    sent = [bytes([n]) * 400 for n in range(5)]
    body = b"".join(b"--XyZ\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n" for p in sent)
    received = asyncio.run(multipart.read(request(body + b"--XyZ--\r\n"), "application/dicom", 10**6))
    parts = [part for _, part in received]
    try:
        assert [p.read() for p in parts] == sent
        # SpooledTemporaryFile documents _file: a BytesIO until it rolls over to a real file
        assert [isinstance(p._file, io.BytesIO) for p in parts] == [True, True, False, False, False]
    finally:
        for part in parts:
            part.close()
