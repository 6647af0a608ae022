"""Moving about a dataset: the version picker keeps the page on screen at the chosen ref where
it exists there, and a file's page leads to its whole history."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from imagehub.services import datasets
from tests.support.portal import Portal

DS = "/lab/scans"


@pytest.fixture(scope="module")
def web(portal: Portal) -> Iterator[httpx.Client]:
    """Signed in as lab, with the tag ``v1`` on the first seeded commit (before volumes/)."""
    with portal.platform.sessions.begin() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        repo.create_tag("v1", portal.seeded.first.id)
    with portal.browser() as client:
        yield client


def pick(web: httpx.Client, url: str, ref: str) -> str:
    """Where choosing ``ref`` in the page's version picker leads (as a browser submits the
    form: its action, its hidden fields and the option), following redirects."""
    shown = web.get(url)
    assert shown.status_code == 200, url
    form = re.search(r'<form method="get" action="([^"]+)" id="ref-picker">(.*?)</form>', shown.text, re.S)
    assert form is not None
    options = [html.unescape(v) for v in re.findall(r'<option value="([^"]+)"', form.group(2))]
    assert ref in options
    fields = [
        (name, html.unescape(value))
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form.group(2))
    ]
    landed = web.get(f"{form.group(1)}?{urlencode([('ref', ref), *fields])}", follow_redirects=True)
    assert landed.status_code == 200
    return str(landed.url.copy_with(scheme=None, host=None, port=None)).removeprefix("//")


def test_the_version_picker_keeps_the_page_where_it_exists_at_the_ref(web: httpx.Client) -> None:
    assert pick(web, f"{DS}/file/main?path=notes.txt", "v1") == f"{DS}/file/v1?path=notes.txt"
    assert pick(web, f"{DS}/tree/main?path=mr", "v1") == f"{DS}/tree/v1?path=mr"
    assert pick(web, f"{DS}/tree/main", "v1") == f"{DS}/tree/v1"
    assert pick(web, f"{DS}/commits/main?path=notes.txt", "v1") == f"{DS}/commits/v1?path=notes.txt"
    assert pick(web, f"{DS}/series/main", "v1") == f"{DS}/series/v1"
    assert pick(web, f"{DS}/file/v1?path=ct/ct.dcm", "main").startswith(f"{DS}?ref=main")  # gone there
    assert pick(web, f"{DS}/tree/main?path=volumes", "v1").startswith(f"{DS}?ref=v1")  # not there yet
    assert pick(web, f"{DS}?ref=main", "v1") == f"{DS}?ref=v1"


def test_a_file_page_links_to_the_files_whole_history(web: httpx.Client) -> None:
    page = web.get(f"{DS}/file/main?path=notes.txt").text
    link = re.search(r'<a id="file-history" href="([^"]+)"', page)
    assert link is not None
    history = web.get(html.unescape(link.group(1)))
    assert history.status_code == 200
    assert "History of <code>notes.txt</code>" in history.text
    assert "First six slices and a CT" in history.text
    assert "All twenty slices; CT moved out" not in history.text  # that commit left notes.txt alone
