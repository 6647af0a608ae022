"""`imagehub serve` in its own process, as deployed, for benchmarks that must not share an
interpreter (and its lock) with the client they measure."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.ports import free_port


@contextmanager
def served(data_dir: Path) -> Iterator[str]:
    """Yield the base URL of a server on loopback over ``data_dir``; stop it on exit."""
    port = free_port()
    env = {**os.environ, "IMAGEHUB_DATA_DIR": str(data_dir), "IMAGEHUB_ENVIRONMENT": "test"}
    command = [str(Path(sys.executable).with_name("imagehub")), "serve", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a chatty server never blocks on it
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while not _healthy(base):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"imagehub serve did not start: {log.read().decode()[-2000:]}")
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
