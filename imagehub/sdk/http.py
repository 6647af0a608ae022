"""HTTP plumbing of the SDK: one httpx client, server errors turned back into domain errors."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from imagehub.core.errors import Conflict, ImageHubError, InvalidInput, NotFound


class RemoteError(ImageHubError):
    """The server refused or failed a request; the message is the server's."""

    def __init__(self, message: str, status: int, body: dict[str, Any]) -> None:
        super().__init__(message)
        self.status = status
        self.body = body

    def details(self) -> dict[str, object]:
        return dict(self.body)


class AccessError(RemoteError):
    """401/403: sign in (`imagehub login`) or ask for access."""


class RemoteNotFound(RemoteError, NotFound):
    pass


class RemoteConflict(RemoteError, Conflict):
    pass


class RemoteInvalid(RemoteError, InvalidInput):
    pass


_BY_STATUS: dict[int, type[RemoteError]] = {
    401: AccessError,
    403: AccessError,
    404: RemoteNotFound,
    409: RemoteConflict,
    422: RemoteInvalid,
}


PURPOSE_HEADER = "X-Purpose-Of-Use"
PURPOSE_ENV = "IMAGEHUB_PURPOSE"
CONTENTION_RETRIES = 3  # sends of a request the server turned away for a concurrent write
MAX_RETRY_WAIT_S = 5.0


def shown(url: str) -> str:
    """``url`` fit for a message: scheme, host and path only. A presigned URL's query is a
    credential (it opens the object for an hour, unaudited), so it never reaches a terminal or a log."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode()}{parsed.path}".rstrip("/")


@contextmanager
def reaching(url: str) -> Iterator[None]:
    """A refused connection, or one that drops part way through a body, as one clear error:
    whatever a transfer had finished is kept, and running the command again resumes it."""
    try:
        yield
    except httpx.TransportError as exc:
        raise RemoteError(f"cannot reach {shown(url)}, or it dropped the connection: {exc}", 0, {}) from exc


def server_url(url: str) -> str:
    """``url`` without its trailing slash, once it is known to name an http(s) server."""
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL as exc:
        raise InvalidInput(f"{url!r} is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput(f"{url!r} is not an http:// or https:// URL of a server")
    return str(parsed).rstrip("/")


class Api:
    """Authenticated calls to one ImageHub server."""

    def __init__(
        self, url: str, token: str | None = None, *, purpose: str | None = None, timeout: float = 120.0
    ) -> None:
        self.url = server_url(url)
        headers = {"User-Agent": "imagehub-sdk"}
        token = (token or "").strip()
        if token and not (token.isascii() and token.isprintable() and " " not in token):
            raise InvalidInput("that API token holds characters no token has: copy it again")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # Raw (PHI) branches open only with a stated purpose, recorded in the audit trail.
        purpose = purpose or os.environ.get(PURPOSE_ENV)
        if purpose:
            headers[PURPOSE_HEADER] = purpose
        self._headers, self._timeout = headers, timeout
        self._client: httpx.Client | None = None
        self._pid = 0

    @property
    def http(self) -> httpx.Client:
        """This process's connections. A forked DataLoader worker opens its own: sharing the
        parent's sockets, workers would read each other's answers (another file's bytes)."""
        if self._client is None or self._pid != os.getpid():
            self._client = httpx.Client(base_url=self.url, headers=self._headers, timeout=self._timeout)
            self._pid = os.getpid()
        return self._client

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (spawned DataLoader workers): the connections stay behind."""
        return {**self.__dict__, "_client": None, "_pid": 0}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call; a request the server turned away for a concurrent write (503 with
        ``Retry-After``) is sent again, a few times, when its body can be sent twice."""
        replayable = isinstance(kwargs.get("content"), bytes | str | None)
        for attempt in range(CONTENTION_RETRIES + 1):
            with reaching(self.url):
                response = self.http.request(method, path, **kwargs)
            wait = _retry_after(response)
            if wait is None or not replayable or attempt == CONTENTION_RETRIES:
                break
            time.sleep(wait)
        if response.status_code >= 400:
            raise error_from(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def close(self) -> None:
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait before sending a refused request again; None when it should not be."""
    if response.status_code != 503:
        return None
    try:
        return min(float(response.headers["Retry-After"]), MAX_RETRY_WAIT_S)
    except (KeyError, ValueError):  # no hint (a degraded server, say), or an HTTP date
        return None


_NOT_THE_API = (
    "the server answered with a web page, not ImageHub's API: "
    "the URL must be the server's root, such as http://imagehub:8000"
)


def error_from(response: httpx.Response) -> RemoteError:
    try:
        body = response.json()
    except ValueError:
        page = response.headers.get("content-type", "").startswith("text/html")
        body = {"detail": _NOT_THE_API if page else response.text[:500]}
    if not isinstance(body, dict):
        body = {"detail": str(body)}
    detail = body.get("detail") or response.reason_phrase
    if isinstance(detail, list):  # FastAPI validation errors
        detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail)
    if response.status_code == 404 and detail == "Not Found":  # no such route, not a missing thing
        detail = (
            f"{response.url.path} is no address of ImageHub's API: check the names, "
            "and that the URL is the server's root"
        )
    if response.status_code == 401 and "Authorization" not in response.request.headers:
        root = f"{response.url.scheme}://{response.url.netloc.decode()}"
        detail = f"no token for {root}: run imagehub login {root} (or set IMAGEHUB_TOKEN)"
    if response.status_code == 428:  # the server names its header; a client user sets it like this
        detail = f"{detail}: pass --purpose (or set {PURPOSE_ENV}; in Python, Client(..., purpose=...))"
    kind = _BY_STATUS.get(response.status_code, RemoteError)
    return kind(f"{detail} (HTTP {response.status_code})", response.status_code, body)
