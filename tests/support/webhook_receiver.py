"""A webhook receiver on a loopback port: records every POST, and fails on request."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request as it arrived: header names lower-cased, the body byte for byte."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> str:
        return self.headers["x-imagehub-event"]

    @property
    def signature(self) -> str:
        return self.headers["x-imagehub-signature-256"]


class Receiver:
    """Answers 200 ``ok``, or ``fail_status`` with ``nope`` while failures are still owed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[Received] = []
        self._failures_owed = 0
        self._fail_status = 500
        self._changed = threading.Condition()

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next ``count`` requests with ``status``."""
        with self._changed:
            self._failures_owed, self._fail_status = count, status

    def record(self, request: Received) -> int:
        with self._changed:
            self.received.append(request)
            self._changed.notify_all()
            if self._failures_owed:
                self._failures_owed -= 1
                return self._fail_status
            return 200

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` requests arrived (or the timeout passed); return them all."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def events(self) -> list[str]:
        with self._changed:
            return [r.event for r in self.received]


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    """A running receiver on 127.0.0.1 and a free port, shut down on exit."""
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.record(Received(self.path, headers, body))
            reply = b"ok" if status < 300 else b"nope"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts on what was recorded."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
