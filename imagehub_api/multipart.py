"""multipart/related bodies (RFC 2387) as DICOMweb uses them: written part by part while the
parts are still being read from storage, and read with each part spooled to its own
temporary file, all parts together holding at most ``IN_MEMORY`` bytes in memory, so that
neither a study going out nor one coming in is held in memory."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, cast

from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from imagehub.core.errors import ImageHubError
from imagehub_api.errors import UploadTooLarge
from imagehub_api.headers import STORED_CSP

IN_MEMORY = 64 * 1024 * 1024  # what all parts of one body may keep in memory; the rest go to disk
Part = tuple[str, Iterable[bytes]]  # Content-Type, body chunks


class MalformedBody(ImageHubError):
    """The multipart body does not parse (answered with 400, as DICOMweb asks)."""


class UnsupportedMediaType(ImageHubError):
    """The body is not the multipart/related type the route takes (answered with 415)."""

    def response(self) -> JSONResponse:
        return JSONResponse({"error": type(self).__name__, "detail": str(self)}, status_code=415)


def encode(parts: Iterable[Part], boundary: str) -> Iterator[bytes]:
    """The body, a part's chunks passed on as they come: nothing is joined or buffered here."""
    for content_type, chunks in parts:
        yield f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        yield from chunks
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def response(parts: Iterable[Part], part_type: str) -> StreamingResponse:
    """A multipart/related response whose parts are produced only as the client reads them."""
    boundary = uuid.uuid4().hex
    media_type = f'multipart/related; type="{part_type}"; boundary={boundary}'
    # the parts are stored files' bytes: never a page that runs script as the portal
    return StreamingResponse(
        encode(parts, boundary), media_type=media_type, headers={"Content-Security-Policy": STORED_CSP}
    )


def single_part(content_type: str, chunks: Iterable[bytes]) -> StreamingResponse:
    """The one part a client asked for without multipart/related, streamed as it is read."""
    return StreamingResponse(chunks, media_type=content_type, headers={"Content-Security-Policy": STORED_CSP})


async def read(request: Request, part_type: str, cap: int) -> list[tuple[str, BinaryIO]]:
    """The parts of a multipart/related body of ``part_type``, each with the media type its
    own header declares (``part_type`` when it has none: the caller judges a part of another
    type) and its bytes in a spooled temporary file (the caller closes them); at most ``cap``
    bytes in all."""
    header = request.headers.get("content-type", "")
    media, options = parse_options_header(header)
    declared = options.get(b"type", part_type.encode()).decode("latin-1").lower()
    if media != b"multipart/related" or declared != part_type:
        raise UnsupportedMediaType(
            f'send multipart/related; type="{part_type}", not {header or "no Content-Type"!r}'
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise MalformedBody("the multipart/related Content-Type has no boundary parameter")
    reader = _Parts(part_type, IN_MEMORY)
    parser = MultipartParser(boundary, reader.callbacks())  # type: ignore[arg-type]
    received = 0
    preamble = _Preamble(b"--" + boundary)
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > cap:
                raise UploadTooLarge(f"upload exceeds the {cap}-byte limit")
            parser.write(preamble.past(chunk))
        if parser.state != MultipartState.END:
            raise MalformedBody("the multipart/related body ends before its closing boundary")
    except MultipartParseError as error:
        reader.close()
        raise MalformedBody(f"malformed multipart/related body: {error}") from error
    except BaseException:
        reader.close()
        raise
    if not reader.parts:
        raise MalformedBody("the multipart/related body has no parts")
    return list(zip(reader.types, reader.parts, strict=True))


class _Preamble:
    """What comes before the first boundary, which RFC 2046 lets a sender put there and a
    reader ignore; the parser takes the body from the boundary on."""

    def __init__(self, delimiter: bytes) -> None:
        self.delimiter = delimiter
        self.held: bytes | None = b""  # None once the first boundary was found

    def past(self, chunk: bytes) -> bytes:
        if self.held is None:
            return chunk
        self.held += chunk
        at = self.held.find(self.delimiter)
        if at < 0:
            self.held = self.held[-len(self.delimiter) :]  # may hold the boundary's start
            return b""
        rest, self.held = self.held[at:], None
        return rest


class _Parts:
    """Callbacks for python-multipart's streaming parser: one spooled file per part, kept in
    memory only while the parts read so far fit in ``in_memory`` bytes together."""

    def __init__(self, part_type: str, in_memory: int) -> None:
        self.part_type = part_type
        self.parts: list[BinaryIO] = []
        self.types: list[str] = []  # each part's declared media type
        self._room = in_memory  # what earlier parts left of the memory budget
        self._spool_limit = 0  # the current part's, past which it rolls over to disk
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._append("_field", data[start:end]),
            "on_header_value": lambda data, start, end: self._append("_value", data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": lambda data, start, end: self.parts[-1].write(data[start:end]),
            "on_part_end": self._end,
        }

    def _append(self, name: str, data: bytes) -> None:
        setattr(self, name, getattr(self, name) + data)

    def _begin(self) -> None:
        # A spool rolls over once it holds more than max_size bytes; 0 would mean never.
        self._spool_limit = max(self._room, 1)
        spool = tempfile.SpooledTemporaryFile(max_size=self._spool_limit)  # noqa: SIM115 - closed by the caller
        self.parts.append(cast(BinaryIO, spool))
        self._headers = {}

    def _end(self) -> None:
        size = self.parts[-1].tell()
        if size <= self._spool_limit:  # not rolled over: it stays in memory
            self._room -= size
        self.parts[-1].seek(0)

    def _header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        media, _ = parse_options_header(self._headers.get(b"content-type", self.part_type.encode()))
        self.types.append(media.decode("latin-1").lower())

    def close(self) -> None:
        for part in self.parts:
            part.close()
