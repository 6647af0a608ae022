"""Change details on the portal: the header diff and label change that a file row opens, and the
file list of a proposal that touches thousands of files, a page at a time."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import numpy as np
import pytest

from imagehub.services import datasets, proposals
from imagehub_api.app import create_app
from imagehub_api.web.history import CHANGES_PAGE
from tests.support.accounts import PASSWORD, make_user
from tests.support.changes import ct_described, label_map, nifti_bytes, relabelled
from tests.support.datasets import commit_files
from tests.support.live_server import live_server
from tests.support.platforms import migrated_platform

DS = "/lab/scans"
CT = "ct/0001.dcm"
LABELS = "seg/liver_labels.nii.gz"
BULK = 2_500
HTMX = {"HX-Request": "true"}
ROW_PATH = re.compile(r'<td><a href="/lab/scans/file/[0-9a-f]+\?path=[^"]+">([^<]+)</a>')


@dataclass(frozen=True)
class Site:
    base: str

    @contextmanager
    def browser(self, username: str = "lab") -> Iterator[httpx.Client]:
        with httpx.Client(base_url=self.base) as client:
            signed_in = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"})
            assert signed_in.status_code == 303, signed_in.text
            yield client


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """lab/scans: main holds a CT slice and a label map; proposal #1 (qc into main) corrects the CT's
    description, edits the labels and adds ``BULK`` text files (listed after them)."""
    with migrated_platform(tmp_path_factory.mktemp("changes")) as platform:
        for user in ("lab", "outsider"):
            make_user(platform, user)
        with platform.sessions.begin() as session:
            datasets.create(session, owner="lab", name="scans", author="lab")
        commit_files(
            platform, "lab", "scans", "main", {CT: ct_described("CHEST"), LABELS: nifti_bytes(label_map())}
        )
        with platform.sessions.begin() as session:
            datasets.repository(session, datasets.get(session, owner="lab", name="scans")).create_branch(
                "qc", "main"
            )
        files: dict[str, bytes | None] = {f"text/{i:05d}.txt": f"note {i}".encode() for i in range(BULK)}
        files.update({CT: ct_described("Chest, corrected"), LABELS: nifti_bytes(relabelled())})
        commit_files(platform, "lab", "scans", "qc", files, "QC pass")
        with platform.sessions.begin() as session:
            dataset = datasets.get(session, owner="lab", name="scans")
            repo = datasets.repository(session, dataset)
            proposals.create(session, dataset, repo, actor="lab", source="qc", target="main", title="QC pass")
        with live_server(create_app(platform)) as base:
            yield Site(base)


def detail_urls(page: str) -> dict[tuple[str, str], str]:
    """The change-detail fragments a page's file rows offer, by (kind, path)."""
    found = re.findall(r'<details class="change-detail" hx-get="([^"]+)"', page)
    urls: dict[tuple[str, str], str] = {}
    for url in map(html.unescape, found):
        kind = url.split("/changes/", 1)[1].split("?", 1)[0]
        path = httpx.URL(url).params["path"]
        urls[kind, path] = url
    return urls


def test_proposal_rows_open_a_header_diff_and_a_label_change(site: Site) -> None:
    with site.browser() as web:
        page = web.get(f"{DS}/proposals/1")
        assert page.status_code == 200, page.text
        urls = detail_urls(page.text)
        assert set(urls) == {("header", CT), ("labels", LABELS)}  # text files offer no details
        header = web.get(urls["header", CT], headers=HTMX)
        assert header.status_code == 200, header.text
        assert "<html" not in header.text  # a fragment for the row
        assert '<table class="tag-changes">' in header.text
        assert re.search(
            r'<tr class="tag-change modified">\s*<td class="modified">changed</td>\s*'
            r'<td class="mono">\(0008,103E\) SeriesDescription</td>\s*<td class="mono">LO</td>\s*'
            r'<td class="mono">CHEST</td>\s*<td class="mono">Chest, corrected</td>',
            header.text,
        )
        labels = web.get(urls["labels", LABELS], headers=HTMX)
        assert labels.status_code == 200, labels.text
        assert "NIfTI label map, " + "\N{MULTIPLICATION SIGN}".join(("8", "10", "12")) in labels.text
        rows = re.findall(r'<tr class="label-row ([a-z]*)">\s*<td>(\d+)', labels.text)
        assert rows == [("modified", "1"), ("removed", "2"), ("added", "4")]
        before, after = label_map(), relabelled()
        grown = int(np.sum(after == 1)) - int(np.sum(before == 1))
        assert f"<td>{np.sum(after == 1):,}</td>" in labels.text
        assert f"{grown:+,}" in labels.text
        a, b = before == 1, after == 1
        assert f'<td class="mono">{2 * np.sum(a & b) / (a.sum() + b.sum()):.4f}</td>' in labels.text
        full = web.get(urls["header", CT])  # opened directly: a whole page
        assert "Header diff of <code>ct/0001.dcm</code>" in full.text
        assert "<html" in full.text


def test_the_compare_page_offers_the_same_details(site: Site) -> None:
    with site.browser() as web:
        page = web.get(f"{DS}/compare", params={"left": "main", "right": "qc"})
        assert page.status_code == 200, page.text
        assert set(detail_urls(page.text)) == {("header", CT), ("labels", LABELS)}


def test_a_detail_that_does_not_apply_says_why(site: Site) -> None:
    with site.browser() as web:
        urls = detail_urls(web.get(f"{DS}/proposals/1").text)
        wrong = urls["header", CT].replace("/changes/header", "/changes/labels")
        fragment = web.get(wrong, headers=HTMX)
        assert fragment.status_code == 200
        assert (
            '<p class="flash">ct/0001.dcm: unsupported: this DICOM object is not a segmentation'
            in fragment.text
        )
        assert web.get(wrong).status_code == 422  # opened directly: the error page


def test_strangers_see_no_details(site: Site) -> None:
    with site.browser() as lab:
        url = detail_urls(lab.get(f"{DS}/proposals/1").text)["header", CT]
    with site.browser("outsider") as web:
        assert web.get(url, headers=HTMX).status_code == 404


def _paths(page: str) -> list[str]:
    return [html.unescape(path) for path in ROW_PATH.findall(page)]


def test_a_large_proposal_lists_every_file_once_a_page_at_a_time(site: Site) -> None:
    with site.browser() as web:
        page = web.get(f"{DS}/proposals/1").text
        seen = _paths(page)
        assert len(seen) == CHANGES_PAGE
        pages = 1
        while more := re.search(
            r'<tr id="more-changes"><td colspan="3"><a href="([^"]+)"\s+hx-get="([^"]+)"', page
        ):
            href, fragment_url = (html.unescape(u) for u in more.groups())
            if pages == 1:  # without HTMX the link opens the proposal at the next page
                whole = web.get(f"{DS}/proposals/1{href}")
                assert "QC pass" in whole.text
                assert _paths(whole.text)[0] > seen[-1]
            page = web.get(fragment_url, headers=HTMX).text
            assert "<html" not in page
            found = _paths(page)
            assert 0 < len(found) <= CHANGES_PAGE
            seen += found
            pages += 1
        assert len(seen) == len(set(seen)) == BULK + 2
        assert seen == sorted(seen)
        assert pages == -(-(BULK + 2) // CHANGES_PAGE)
