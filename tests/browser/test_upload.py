"""The browser upload when the commit is refused: a moved branch is committed on anew, any other
refusal is shown in the server's words."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import BrowserContext, Page

from imagehub.services import datasets
from tests.support.datasets import commit_files
from tests.support.portal import Portal

DONE = 30_000  # ms


def start_upload(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(name.encode() * 100)
    page.set_input_files("#upload-files", [str(path)])
    page.click("#upload-start")


def stopped_with(page: Page) -> str:
    page.wait_for_selector('#upload-text[role="alert"]', timeout=DONE)
    return page.locator("#upload-text").inner_text()


def test_a_protected_branch_says_so_rather_than_that_it_moved(
    context: BrowserContext, portal: Portal, tmp_path: Path
) -> None:
    with portal.platform.sessions.begin() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        repo.create_branch("locked", "main")
        repo.set_protected("locked", True)
    page = context.new_page()
    page.goto("/lab/scans/upload/locked")
    start_upload(page, tmp_path, "refused.bin")
    shown = stopped_with(page)
    assert "branch 'locked' is protected" in shown
    assert "moved" not in shown


def test_a_branch_that_moved_takes_the_upload_on_the_next_submit(
    context: BrowserContext, portal: Portal, tmp_path: Path
) -> None:
    page = context.new_page()
    page.goto("/lab/scans/upload/main")
    moved = commit_files(portal.platform, "lab", "scans", "main", {"meanwhile.txt": b"someone else"})
    start_upload(page, tmp_path, "late.bin")
    assert "main moved while you uploaded" in stopped_with(page)
    page.click("#upload-start")  # the same files, on top of the new head
    page.wait_for_selector("#upload-commit", timeout=DONE)
    with portal.platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        head = repo.resolve("main")
        assert head.parents == (moved.id,)
        assert repo.stat("main", "late.bin").size == len(b"late.bin" * 100)
