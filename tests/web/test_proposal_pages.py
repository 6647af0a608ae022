"""Change proposals on the portal: open one from a form, review its series changes, merge it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagehub.services import audit, datasets, proposals, releases
from tests.support.datasets import commit_files
from tests.support.portal import VOLUME, Portal, run_pipeline, running_portal

DS = "/lab/scans"


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    with running_portal(tmp_path_factory.mktemp("proposals")) as running:
        yield running


@pytest.fixture(scope="module")
def qc_branch(portal: Portal) -> str:
    """A QC branch that replaces one MR slice, processed by the pipeline like any head."""
    with portal.platform.sessions.begin() as session:
        datasets.repository(session, datasets.get(session, owner="lab", name="scans")).create_branch(
            "qc", "main"
        )
    first = sorted(VOLUME.glob("*.dcm"))[0]
    data = first.read_bytes()
    edited = data[:-64] + bytes(
        (b + 1) % 256 for b in data[-64:]
    )  # the last pixels changed: a corrected slice
    commit = commit_files(portal.platform, "lab", "scans", "qc", {f"mr/{first.name}": edited}, "Fix slice 1")
    run_pipeline(portal.platform, "lab/scans", commit)
    return "qc"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_open_review_and_merge_a_proposal(portal: Portal, qc_branch: str) -> None:
    with portal.browser() as web:
        form = web.get(f"{DS}/proposals/new", params={"source": qc_branch}).text
        opened = web.post(
            f"{DS}/proposals/new",
            data={"source": qc_branch, "target": "main", "title": "Fix slice 1", "csrf_token": _csrf(form)},
        )
        assert opened.status_code == 303
        assert opened.headers["location"] == f"{DS}/proposals/1"
        page = web.get(opened.headers["location"]).text
        assert "Fix slice 1" in page
        assert '<tr class="series-change modified">' in page
        assert portal.seeded.mr_series[:20] in page
        assert re.search(r'<td class="modified">modified</td>\s*<td><a [^>]*>mr/', page)
        assert 'id="merge-form"' in page
        assert "Fix slice 1" in web.get(f"{DS}/proposals").text
        assert "No merged proposals" in web.get(f"{DS}/proposals", params={"state": "merged"}).text
        merged = web.post(f"{DS}/proposals/1/merge", data={"strategy": "fail", "csrf_token": _csrf(page)})
        assert merged.status_code == 303
        after = web.get(f"{DS}/proposals/1").text
        assert "Merged by lab" in after
    with portal.platform.sessions() as session:
        head = datasets.repository(session, datasets.get(session, owner="lab", name="scans")).resolve("main")
        events = audit.search(session, action="proposal.merge", dataset="lab/scans", limit=5)
    assert head.metadata == {"proposal": "1"}
    assert [e.actor for e in events] == ["lab"]


def test_raw_data_cannot_be_proposed_into_a_plain_branch(portal: Portal) -> None:
    commit_files(portal.platform, "lab", "scans", "main", {"extra.txt": b"x"})
    with portal.platform.sessions.begin() as session:
        repo = datasets.repository(session, datasets.get(session, owner="lab", name="scans"))
        repo.create_branch("raw", "main")
    commit_files(portal.platform, "lab", "scans", "raw", {"p1.dcm": Path(__file__).read_bytes()})
    with portal.browser() as web:
        form = web.get(f"{DS}/proposals/new").text
        web.post("/purpose", data={"purpose": "import QA", "next": "/", "csrf_token": _csrf(form)})
        refused = web.post(
            f"{DS}/proposals/new",
            data={"source": "raw", "target": "main", "title": "raw in", "csrf_token": _csrf(form)},
        )
        assert refused.status_code == 403
        assert "de-identify" in refused.text
    with portal.browser("outsider") as outsider:
        assert outsider.get(f"{DS}/proposals").status_code == 404


def test_release_pages_show_the_frozen_summary_and_citations(portal: Portal) -> None:
    with portal.platform.sessions.begin() as session:
        dataset = datasets.get(session, owner="lab", name="scans")
        releases.create(
            session,
            dataset,
            datasets.repository(session, dataset),
            tag="v1.0",
            ref=portal.seeded.second.id,
            title="First public cut",
            actor="lab",
            notes="Twenty **MR** slices.",
            authors=["Ada Lovelace"],
        )
    with portal.browser() as web:
        listing = web.get(f"{DS}/releases").text
        assert 'href="/lab/scans/releases/v1.0"' in listing
        page = web.get(f"{DS}/releases/v1.0").text
    assert "<strong>MR</strong>" in page
    assert re.search(r"<th>MR</th><td>1 series</td>", page)
    assert "cff-version: 1.2.0" in page
    assert "@misc{lab_scans_v1_0" in page
    assert "imagehub clone lab/scans --ref v1.0" in page
    assert re.search(r"<th>Files</th><td>24</td>", page)


def test_many_branches_still_offer_the_default_branch(portal: Portal) -> None:
    """Past the first page of branches (which sort before `main` here), the proposal form
    targets the default branch and the home page counts and lists it."""
    with portal.platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="lab", name="many", author="lab")
    commit_files(portal.platform, "lab", "many", "main", {"a.txt": b"a"})
    with portal.platform.sessions.begin() as session:
        repo = datasets.repository(session, dataset)
        for n in range(1, 56):
            repo.create_branch(f"exp-{n:02}", "main")
    with portal.browser() as web:
        form = web.get("/lab/many/proposals/new").text
        into = re.search(r'<select name="target">(.*?)</select>', form, re.S)
        assert into
        assert '<option value="main" selected>' in into.group(1)
        home = web.get("/lab/many?ref=main").text
    assert "<th>Branches</th><td>56</td>" in home
    assert '<a href="/lab/many/tree/main">main</a> <span class="badge">default</span>' in home
    assert '<option value="main" selected>branch: main</option>' in home


def test_a_capped_file_count_shows_the_true_commit_count(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    with portal.platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="lab", name="wide", author="lab")
    commit_files(portal.platform, "lab", "wide", "main", {"a.txt": b"a"})
    with portal.platform.sessions.begin() as session:
        datasets.repository(session, dataset).create_branch("more", "main")
    commit_files(portal.platform, "lab", "wide", "more", {"b.txt": b"b", "c.txt": b"c"}, "Two files at once")
    monkeypatch.setattr(proposals, "SUMMARY_LIMIT", 1)
    with portal.platform.sessions.begin() as session:
        found = datasets.get(session, owner="lab", name="wide")
        opened = proposals.create(
            session,
            found,
            datasets.repository(session, found),
            actor="lab",
            source="more",
            target="main",
            title="Two files",
        )
        number = opened.number
    with portal.browser() as web:
        page = web.get(f"/lab/wide/proposals/{number}").text
    assert '<span id="proposal-summary">1 commits, 1+ files</span>' in page
