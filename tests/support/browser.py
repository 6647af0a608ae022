"""Headless Chromium for browser tests and the viewer benchmark: the system browser, no download.

WebGL (Cornerstone3D's and NiiVue's renderers) comes from SwiftShader, Chromium's CPU
implementation, so the tests need no GPU.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, sync_playwright

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
]
# Installed before any page script: collects CSP violations (a test fails on any) and the
# time of the first rendered image, in ms since navigation start.
WATCH_SCRIPT = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
window.__firstRender = null;
document.addEventListener('ih-viewer-rendered',
  () => { window.__firstRender ??= performance.now(); }, true);
"""


def chromium_path() -> str:
    """Debian's Chromium (installed by `make setup`), or IMAGEHUB_CHROMIUM."""
    found = (
        os.environ.get("IMAGEHUB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        raise RuntimeError("Chromium is not installed: run `make setup` (it installs Debian's chromium)")
    return found


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


def signed_in_context(browser: Browser, base_url: str, username: str, password: str) -> BrowserContext:
    """A browser context with the watch script, signed in through the real sign-in form."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1400, "height": 1000})
    context.add_init_script(WATCH_SCRIPT)
    sign_in(context, username, password)
    return context


def sign_in(context: BrowserContext, username: str, password: str) -> None:
    """Through the real sign-in form, so the context holds a session cookie like a person's."""
    page = context.new_page()
    page.goto("/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    with page.expect_navigation():
        page.click('button[type="submit"]')
    page.close()


def artifacts_dir() -> Path:
    """Where screenshots go; CI keeps this folder (IMAGEHUB_TEST_ARTIFACTS, else var/test-artifacts)."""
    folder = Path(os.environ.get("IMAGEHUB_TEST_ARTIFACTS", "var/test-artifacts")) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
