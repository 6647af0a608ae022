"""A real OpenID Connect provider (npm ``oidc-provider``) on a loopback port, for tests.

``run_oidc_provider`` starts ``oidc_provider/provider.mjs`` under Node.js with one
confidential client (``client_secret_basic``, or ``client_secret_post``); ``complete_login`` plays the user's
part of an authorization request (login form, then consent) over plain HTTP and
hands back the redirect to the client, carrying ``code`` and ``state``.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from tests.support.ports import free_port

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc_provider"
READY_PREFIX = "OIDC-READY "
START_TIMEOUT_S = 30.0


def ensure_node_modules() -> None:
    """Install the provider's npm dependencies from its lockfile unless already present."""
    if (PROVIDER_DIR / "node_modules").is_dir():
        return
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=PROVIDER_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"npm ci failed in {PROVIDER_DIR} (exit {result.returncode}):\n{result.stdout}{result.stderr}"
        )


@contextmanager
def run_oidc_provider(client_id: str, client_secret: str, redirect_uri: str) -> Iterator[str]:
    """Run the provider on a free loopback port; yield its issuer URL, stop it on exit."""
    ensure_node_modules()
    env = {
        **os.environ,
        "OIDC_PORT": str(free_port()),
        "OIDC_CLIENT_ID": client_id,
        "OIDC_CLIENT_SECRET": client_secret,
        "OIDC_REDIRECT_URI": redirect_uri,
    }
    proc = subprocess.Popen(
        ["node", "provider.mjs"],
        cwd=PROVIDER_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        # Keep reading for the process's whole life so a full pipe never blocks it.
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if line.startswith(READY_PREFIX):
                ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready.wait(0.05):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("OIDC provider did not start:\n" + "".join(output))
        ready_line = next(line for line in output if line.startswith(READY_PREFIX))
        yield ready_line.removeprefix(READY_PREFIX).strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)


class _FormParser(HTMLParser):
    """Collect the first form's action and its named input fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._in_form = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and not self._done:
            self._in_form = True
            self.action = attributes.get("action", "")
        elif tag == "input" and self._in_form and "name" in attributes:
            self.fields[attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_form:
            self._in_form = False
            self._done = True


def complete_login(authorization_url: str, login: str) -> str:
    """Sign in as ``login`` (any password) and grant consent; return the redirect URL, unrequested.

    The provider accepts every login name; the account's ``sub`` is ``login`` and its
    email ``<login>@example.org``. The returned URL is the first redirect that leaves
    the provider: normally ``redirect_uri`` with ``code``, ``state`` and ``iss``.
    """
    provider_origin = _origin(authorization_url)
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        response = client.get(authorization_url)
        for _ in range(10):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if _origin(location) != provider_origin:
                    return location
                response = client.get(location)
                continue
            form = _FormParser()
            form.feed(response.text)
            if response.status_code != 200 or form.action is None:
                raise RuntimeError(
                    f"unexpected OIDC provider page {response.url} ({response.status_code}):\n{response.text}"
                )
            if form.fields.get("prompt") == "login":
                form.fields.update(login=login, password="any-password")
            response = client.post(urljoin(str(response.url), form.action), data=form.fields)
        raise RuntimeError("OIDC login did not reach the client's redirect_uri")


def _origin(url: str) -> tuple[str, str]:
    """Scheme and host:port of ``url``."""
    parts = urlsplit(url)
    return parts.scheme, parts.netloc
