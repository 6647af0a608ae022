"""Issues on the portal: the list and its filters, the new-issue form, the thread, labels and
assignee, closing and reopening, linked series; what readers and strangers see."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pydicom
import pytest

from imagehub.core.imaging.synthetic import ct_instance_bytes
from imagehub.core.vcs import Commit
from imagehub.services import access, audit, datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import PASSWORD, make_user
from tests.support.datasets import commit_files
from tests.support.live_server import live_server
from tests.support.platforms import migrated_platform
from tests.support.portal import run_pipeline

DS = "/lab/scans"
HTMX = {"HX-Request": "true"}


@dataclass(frozen=True)
class Site:
    base: str
    platform: Platform
    commit: Commit  # main's head, run through the pipeline
    series: str  # its CT series

    @contextmanager
    def browser(self, username: str = "lab") -> Iterator[httpx.Client]:
        with httpx.Client(base_url=self.base) as client:
            signed_in = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"})
            assert signed_in.status_code == 303, signed_in.text
            yield client


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """lab/scans (private, one indexed CT slice) owned by lab; rita reads it; outsider is a stranger."""
    with migrated_platform(tmp_path_factory.mktemp("issues")) as platform:
        for user in ("lab", "rita", "outsider"):
            make_user(platform, user)
        with platform.sessions.begin() as session:
            dataset = datasets.create(session, owner="lab", name="scans", author="lab")
            access.grant(session, dataset=dataset, role="read", actor="lab", username="rita")
        data = ct_instance_bytes(rows=16, columns=16)
        commit = commit_files(platform, "lab", "scans", "main", {"ct/0.dcm": data})
        run_pipeline(platform, "lab/scans", commit)
        series = str(pydicom.dcmread(io.BytesIO(data)).SeriesInstanceUID)
        with live_server(create_app(platform)) as base:
            yield Site(base, platform, commit, series)


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def open_issue(web: httpx.Client, title: str, **fields: str) -> int:
    form = web.get(f"{DS}/issues/new")
    assert form.status_code == 200, form.text
    assert 'id="issue-form"' in form.text
    created = web.post(f"{DS}/issues/new", data={"title": title, **fields, "csrf_token": csrf(form.text)})
    assert created.status_code == 303, created.text
    found = re.fullmatch(rf"{DS}/issues/(\d+)", created.headers["location"])
    assert found
    return int(found.group(1))


def listed(web: httpx.Client, **params: str) -> list[str]:
    page = web.get(f"{DS}/issues", params=params)
    assert page.status_code == 200, page.text
    return re.findall(rf'<a href="{DS}/issues/\d+">([^<]+)</a>', page.text)


def test_open_an_issue_from_the_form_and_find_it_by_filters(site: Site) -> None:
    with site.browser() as web:
        number = open_issue(
            web,
            "Motion in slice 4",
            body="Look at **slice 4**.\n\n<script>alert(1)</script>",
            labels="QC, motion",
            assignee="rita",
        )
        page = web.get(f"{DS}/issues/{number}").text
        assert 'Motion in slice 4 <span class="muted">#' in page
        assert '<span class="badge" id="issue-state">open</span>' in page
        assert '<span id="issue-assignee">rita</span>' in page
        assert re.findall(r'label=([a-z]+)">\1</a>', page) == ["qc", "motion"]
        assert "<strong>slice 4</strong>" in page
        assert "<script>alert(1)</script>" not in page
        other = open_issue(web, "Label the liver", labels="labelling")
        assert {"Motion in slice 4", "Label the liver"} <= set(listed(web))
        assert "Label the liver" not in listed(web, label="qc")
        assert listed(web, assignee="rita", label="motion") == ["Motion in slice 4"]
        assert listed(web, q="LIVER") == ["Label the liver"]
        assert "match these filters" in web.get(f"{DS}/issues", params={"label": "none-such"}).text
        assert "Label the liver" not in listed(web, state="closed")
        web.post(f"{DS}/issues/{other}/close", data={"csrf_token": csrf(page)})
        assert "Label the liver" in listed(web, state="closed")
        assert "Label the liver" not in listed(web)


def test_bad_input_is_a_clear_error_page(site: Site) -> None:
    with site.browser() as web:
        token = csrf(web.get(f"{DS}/issues/new").text)
        blank = web.post(f"{DS}/issues/new", data={"title": "  ", "csrf_token": token})
        assert blank.status_code == 422
        assert "an issue needs a title" in blank.text
        stranger = web.post(
            f"{DS}/issues/new", data={"title": "t", "assignee": "outsider", "csrf_token": token}
        )
        assert stranger.status_code == 422
        assert "cannot read lab/scans" in stranger.text
        assert web.get(f"{DS}/issues/999").status_code == 404


def test_comment_edit_close_and_reopen(site: Site) -> None:
    with site.browser() as web:
        number = open_issue(web, "Contrast timing", labels="qc")
        url = f"{DS}/issues/{number}"
        token = csrf(web.get(url).text)
        posted = web.post(f"{url}/comments", data={"body": "Looks *late*.", "csrf_token": token})
        assert posted.status_code == 303
        assert re.fullmatch(rf"{url}#comment-\d+", posted.headers["location"])
        fragment = web.post(
            f"{url}/comments", data={"body": "Second look.", "csrf_token": token}, headers=HTMX
        )
        assert fragment.status_code == 200
        assert fragment.text.lstrip().startswith('<li class="comment" id="comment-')
        assert "<p>Second look.</p>" in fragment.text
        edited = web.post(
            f"{url}/edit", data={"labels": "qc, contrast", "assignee": "rita", "csrf_token": token}
        )
        assert edited.status_code == 303
        page = web.get(url).text
        assert page.count('<li class="comment"') == 2
        assert "<em>late</em>" in page
        assert re.findall(r'label=([a-z]+)">\1</a>', page) == ["qc", "contrast"]
        assert '<span id="issue-assignee">rita</span>' in page
        assert web.post(f"{url}/close", data={"csrf_token": token}).status_code == 303
        closed = web.get(url).text
        assert '<span class="badge" id="issue-state">closed</span>' in closed
        assert "Closed by lab" in closed
        assert 'id="issue-reopen"' in closed
        assert web.post(f"{url}/reopen", data={"csrf_token": token}).status_code == 303
        assert 'id="issue-close"' in web.get(url).text
        assert web.post(f"{url}/close", data={}).status_code == 403  # no CSRF token
    with site.platform.sessions() as session:
        events = audit.search(session, dataset="lab/scans", limit=200)
    assert sorted(e.action for e in events if e.object == f"issue:{number}") == [
        "issue.close",
        "issue.comment",
        "issue.comment",
        "issue.create",
        "issue.reopen",
        "issue.update",
    ]


def test_link_and_unlink_a_series(site: Site) -> None:
    with site.browser() as web:
        number = open_issue(web, "Streaks in the CT")
        url = f"{DS}/issues/{number}"
        page = web.get(url).text
        assert "No series linked yet." in page
        data = {
            "ref": "main",
            "series_instance_uid": site.series,
            "note": "streaks",
            "csrf_token": csrf(page),
        }
        assert web.post(f"{url}/series", data=data).status_code == 303
        page = web.get(url).text
        assert site.series in page
        assert f'href="{DS}/commit/{site.commit.id}">{site.commit.id[:12]}</a>' in page
        assert f'href="{DS}/view/{site.commit.id}?series=' in page
        unknown = web.post(f"{url}/series", data={**data, "series_instance_uid": "1.2.3"})
        assert unknown.status_code == 422
        unlink = re.search(rf'action="({url}/series/\d+/delete)"', page)
        assert unlink
        assert web.post(unlink.group(1), data={"csrf_token": csrf(page)}).status_code == 303
        assert "No series linked yet." in web.get(url).text


def test_readers_read_and_strangers_see_nothing(site: Site) -> None:
    with site.browser() as web:
        number = open_issue(web, "For readers")
    with site.browser("rita") as web:
        listing = web.get(f"{DS}/issues").text
        assert "For readers" in listing
        assert "New issue" not in listing
        page = web.get(f"{DS}/issues/{number}").text
        assert "For readers" in page
        assert 'id="comment-form"' not in page
        assert 'id="issue-edit"' not in page
        assert web.get(f"{DS}/issues/new").status_code == 403
        refused = web.post(
            f"{DS}/issues/{number}/comments", data={"body": "me too", "csrf_token": csrf(page)}
        )
        assert refused.status_code == 403
        assert "write access to lab/scans is needed" in refused.text
    with site.browser("outsider") as web:
        assert web.get(f"{DS}/issues").status_code == 404
        assert web.get(f"{DS}/issues/{number}").status_code == 404
