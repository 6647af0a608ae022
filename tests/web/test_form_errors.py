"""A refused portal form comes back as its own page, with what was typed and an alert saying why;
an HTMX form gets the reason alone, for the page to show by the form."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support.forms import DS, SLOW, Site, csrf, running_site

HTMX = {"HX-Request": "true"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("forms")) as running:
        yield running


def alert(response: httpx.Response) -> str:
    found = re.findall(r'<p class="error-box" role="alert">(.*?)</p>', response.text, re.S)
    assert len(found) == 1, response.text
    return html.unescape(found[0])


def form(response: httpx.Response, form_id: str) -> str:
    """The HTML of one form on the page, to look for what was typed into it."""
    found = re.search(rf'<form [^>]*id="{form_id}".*?</form>', response.text, re.S)
    assert found, response.text
    return html.unescape(found.group(0))


def test_a_refused_new_dataset_keeps_what_was_typed(site: Site) -> None:
    with site.browser() as web:
        token = csrf(web.get("/new").text)
        data = {"owner": "lab", "name": "bad name!", "description": "Knee MR, 40 subjects"}
        refused = web.post("/new", data={**data, "visibility": "internal", "csrf_token": token})
        assert refused.status_code == 422
        assert "invalid dataset name 'bad name!'" in alert(refused)
        typed = form(refused, "new-dataset")
        assert 'value="bad name!"' in typed
        assert 'value="Knee MR, 40 subjects"' in typed
        assert '<option value="internal" selected>' in typed
        assert 'name="with_datasheet" value="true">' in typed  # left unticked, as sent
        taken = web.post("/new", data={**data, "name": "scans", "csrf_token": token})
        assert taken.status_code == 409
        assert alert(taken) == "dataset lab/scans already exists"
        too_long = web.post("/new", data={**data, "name": "n" * 101, "csrf_token": token})
        assert too_long.status_code == 422
        assert alert(too_long).startswith("name: String should have at most 100 characters")
        assert 'value="Knee MR, 40 subjects"' in form(too_long, "new-dataset")


def test_a_refused_issue_keeps_its_title_body_and_labels(site: Site) -> None:
    with site.browser() as web:
        token = csrf(web.get(f"{DS}/issues/new").text)
        data = {"title": "Motion in slice 4", "body": "See <b>slice</b> 4", "labels": "qc, motion"}
        refused = web.post(f"{DS}/issues/new", data={**data, "assignee": "nobody", "csrf_token": token})
        assert refused.status_code == 422
        assert alert(refused) == "assignee 'nobody' is not a user"
        typed = form(refused, "issue-form")
        assert 'value="Motion in slice 4"' in typed
        assert ">See <b>slice</b> 4</textarea>" in typed  # escaped in the page, as typed in the box
        assert "<b>" not in refused.text.split('id="issue-form"')[1]
        assert 'value="qc, motion"' in typed
        assert 'value="nobody"' in typed


def test_a_refused_proposal_keeps_its_title_and_description(site: Site) -> None:
    with site.browser() as web:
        token = csrf(web.get(f"{DS}/proposals/new").text)
        data = {"source": "no-such", "target": "main", "title": "Relabel", "description": "All of it"}
        refused = web.post(f"{DS}/proposals/new", data={**data, "csrf_token": token})
        assert refused.status_code == 422  # the page is there; the branch it names is not
        assert "no-such" in alert(refused)
        typed = form(refused, "proposal-form")
        assert 'value="no-such"' in typed
        assert 'value="Relabel"' in typed
        assert ">All of it</textarea>" in typed


def test_issue_page_forms_show_their_own_error(site: Site) -> None:
    with site.browser() as web:
        page = web.get(f"{DS}/issues/1")
        token = csrf(page.text)
        data = {"labels": "qc", "assignee": "ghost", "csrf_token": token}
        edit = web.post(f"{DS}/issues/1/edit", data=data)
        assert edit.status_code == 422
        assert alert(edit) == "assignee 'ghost' is not a user"
        assert 'value="ghost"' in form(edit, "issue-edit")
        assert 'value="ghost"' not in form(edit, "issue-link")
        link = web.post(
            f"{DS}/issues/1/series",
            data={"ref": "nowhere", "series_instance_uid": "1.2.3", "note": "streaks", "csrf_token": token},
        )
        assert link.status_code == 422
        assert alert(link) == "no branch, tag or commit named 'nowhere'"
        assert 'value="streaks"' in form(link, "issue-link")
        blank = web.post(f"{DS}/issues/1/comments", data={"body": "   ", "csrf_token": token})
        assert blank.status_code == 422
        assert alert(blank) == "a comment cannot be empty"
        missing = web.post(f"{DS}/issues/99/comments", data={"body": "hello", "csrf_token": token})
        assert missing.status_code == 404  # no page to show the form on: the error page
        assert alert(missing) == "no issue #99 in lab/scans"


def test_a_refused_review_keeps_its_text_and_verdict(site: Site) -> None:
    with site.browser() as web:
        token = csrf(web.get(f"{DS}/proposals/1").text)
        refused = web.post(
            f"{DS}/proposals/1/reviews", data={"verdict": "maybe", "body": "Looks odd", "csrf_token": token}
        )
        assert refused.status_code == 422
        assert alert(refused).startswith("verdict must be one of")
        review = form(refused, "review-form")
        assert ">Looks odd</textarea>" in review
        assert ">Looks odd</textarea>" not in form(refused, "comment-form")


def test_htmx_comments_are_refused_with_the_reason_alone(site: Site) -> None:
    with site.browser() as web:
        token = csrf(web.get(f"{DS}/issues/1").text)
        reasons = {
            f"{DS}/issues/1/comments": "a comment cannot be empty",
            f"{DS}/proposals/1/comments": "a comment needs some text",
        }
        for url in reasons:
            refused = web.post(url, data={"body": " ", "csrf_token": token}, headers=HTMX)
            assert refused.status_code == 422
            assert refused.headers["content-type"].startswith("text/plain")
            assert refused.text == reasons[url]


def test_a_refused_sign_in_keeps_the_username_never_the_password(site: Site) -> None:
    with httpx.Client(base_url=site.base, timeout=SLOW) as client:
        data = {"username": "lab", "password": "not-it", "next": "/lab/scans/issues"}
        wrong = client.post("/login", data=data)
        assert wrong.status_code == 401
        assert alert(wrong) == "Wrong username or password."
        assert 'value="lab"' in wrong.text
        assert "not-it" not in wrong.text
        assert 'name="next" value="/lab/scans/issues"' in wrong.text
        missing = client.post("/login", data={"username": "lab", "next": "/lab/scans/issues"})
        assert missing.status_code == 422
        assert alert(missing) == "password: Field required"
        assert 'value="lab"' in missing.text
        assert 'name="next" value="/lab/scans/issues"' in missing.text
