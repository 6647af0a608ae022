"""The proposal page as a reviewer uses it: readiness and why a merge is blocked, verdicts,
comments (on the proposal, a file, an image point) and the check report page."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator

import httpx
import pytest

from imagehub.services import access, checks, datasets, proposals, reviews
from imagehub_api.web.checks import layout
from tests.support.accounts import make_user
from tests.support.portal import Portal, running_portal
from tests.support.proposals import DS, CtProposal, open_ct_proposal, pin

FINDINGS = {
    "scanned": 24,
    "findings": [
        {"path": "ct/0011.dcm", "kind": "tag", "tag": "(0010,0010)", "message": "PatientName is kept"},
        {"path": "ct/0012.dcm", "kind": "text", "message": "a name in ImageComments", "where": "header"},
    ],
}


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    with running_portal(tmp_path_factory.mktemp("proposal-review")) as running:
        make_user(running.platform, "rita")
        with running.platform.sessions.begin() as session:
            dataset = datasets.get(session, owner="lab", name="ct")
            access.grant(session, dataset=dataset, role="write", actor="lab", username="rita")
        yield running


@pytest.fixture(scope="module")
def proposal(portal: Portal) -> CtProposal:
    """Merging into ``release`` takes one approval and the outside check ``ci-lint``, which failed;
    ``ci-extra`` is required and never reported."""
    found = open_ct_proposal(portal)
    with portal.platform.sessions.begin() as session:
        dataset = datasets.get(session, owner="lab", name="ct")
        reviews.set_rule(
            session,
            dataset,
            "release",
            actor="lab",
            required_approvals=1,
            required_checks=["ci-lint", "ci-extra"],
        )
        checks.report(
            session,
            dataset,
            found.head,
            "ci-lint",
            status="failure",
            reporter="lab",
            summary="2 findings in 2 of 24 files",
            details=FINDINGS,
            details_url="https://ci.example/runs/7",
        )
    return found


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def _alert(response: httpx.Response) -> str:
    """The message of the portal's error page."""
    found = re.search(r'role="alert">(.*?)</p>', response.text, re.S)
    assert found, response.text
    return html.unescape(found.group(1))


def _section(page: str, element_id: str) -> str:
    found = re.search(rf'<(\w+)[^>]* id="{element_id}".*?</\1>', page, re.S)
    assert found, f"no #{element_id} on the page"
    return found.group(0)


def test_readiness_panel_says_why_the_merge_is_blocked(portal: Portal, proposal: CtProposal) -> None:
    with portal.browser() as web:
        page = web.get(proposal.url).text
    panel = _section(page, "readiness")
    assert "Not ready to merge" in panel
    assert re.search(r"Approvals: <strong>0 of 1</strong>", panel)
    assert re.search(r'<button type="submit" disabled[^>]*>Merge into release</button>', panel)
    blockers = [html.unescape(b) for b in re.findall(r"<li>(.*?)</li>", _section(page, "merge-blockers"))]
    report = f"{DS}/commits/{proposal.head}/checks/ci-lint"
    assert blockers == [
        "1 approval(s) on the current head required, 0 given",
        f"check ci-extra is pending on {proposal.head[:12]} (report: {report[:-7]}ci-extra)",
        f"check ci-lint is failure on {proposal.head[:12]} (report: {report})",
    ]
    lint = re.search(r'<tr data-check="ci-lint">.*?</tr>', panel, re.S)
    extra = re.search(r'<tr data-check="ci-extra">.*?</tr>', panel, re.S)
    assert lint
    assert extra
    assert "check-failure" in lint.group(0)
    assert "2 findings in 2 of 24 files" in lint.group(0)
    assert f'href="{report}"' in lint.group(0)
    assert "check-pending" in extra.group(0)
    assert "href" not in extra.group(0)


def test_a_review_form_post_records_the_verdict_and_the_panel_counts_it(
    portal: Portal, proposal: CtProposal
) -> None:
    with portal.browser("rita") as web:
        form = web.get(proposal.url).text
        assert 'id="review-form"' in form
        posted = web.post(
            f"{proposal.url}/reviews",
            data={"verdict": "approve", "body": "Squares look **right**", "csrf_token": _csrf(form)},
        )
        assert posted.status_code == 303
        assert posted.headers["location"].startswith(f"{proposal.url}#review-")
        page = web.get(proposal.url).text
    assert re.search(r"Approvals: <strong>1 of 1</strong>[^<]*· approved by rita", page)
    entry = re.search(r'<li class="review" id="review-\d+">.*?</li>', page, re.S)
    assert entry
    assert "approved" in entry.group(0)
    assert "<strong>right</strong>" in entry.group(0)
    blockers = _section(page, "merge-blockers")
    assert "approval" not in blockers
    assert "ci-lint" in blockers
    with portal.platform.sessions() as session:
        dataset = datasets.get(session, owner="lab", name="ct")
        found = reviews.reviews(session, proposals.get(session, dataset, proposal.number))
    assert [(r.reviewer, r.verdict, r.commit_id) for r in found] == [("rita", "approve", proposal.head)]


def test_authors_cannot_approve_their_own_proposal(portal: Portal, proposal: CtProposal) -> None:
    with portal.browser() as web:
        form = web.get(proposal.url).text
        refused = web.post(f"{proposal.url}/reviews", data={"verdict": "approve", "csrf_token": _csrf(form)})
    assert refused.status_code in (403, 422)  # a clear refusal on the error page, not a traceback
    assert "authors cannot approve" in _alert(refused)


def test_comments_on_the_proposal_a_file_and_an_image_point(portal: Portal, proposal: CtProposal) -> None:
    with portal.browser("rita") as web:
        form = web.get(proposal.url).text
        token = _csrf(form)
        # With HTMX: the new entry alone, for the page to append to the timeline.
        fragment = web.post(
            f"{proposal.url}/comments",
            data={"body": "Why only two slices?", "csrf_token": token},
            headers={"HX-Request": "true"},
        )
        assert fragment.status_code == 200
        assert fragment.text.strip().startswith('<li class="comment" id="comment-')
        assert "Why only two slices?" in fragment.text
        assert "<html" not in fragment.text
        on_file = web.post(
            f"{proposal.url}/comments",
            data={"body": "This one is brighter", "path": "ct/0012.dcm", "csrf_token": token},
        )
        assert on_file.status_code == 303
        missing = web.post(
            f"{proposal.url}/comments", data={"body": "?", "path": "ct/nope.dcm", "csrf_token": token}
        )
        assert missing.status_code == 422
        assert "no file 'ct/nope.dcm'" in _alert(missing)
        pinned = web.post(
            f"{proposal.url}/comments",
            data={
                "body": "The square",
                "series": proposal.series,
                "slice": "12",
                "x": "150",
                "y": "140.5",
                "csrf_token": token,
            },
        )
        assert pinned.status_code == 303
        assert f"?series={proposal.series}#comment-" in pinned.headers["location"]
        half = web.post(
            f"{proposal.url}/comments",
            data={
                "body": "where?",
                "series": proposal.series,
                "slice": "",
                "x": "1",
                "y": "",
                "csrf_token": token,
            },
        )
        assert half.status_code == 422
        assert "needs its slice, x and y" in _alert(half)
        outside = web.post(
            f"{proposal.url}/comments",
            data={
                "body": "far",
                "series": proposal.series,
                "slice": "99",
                "x": "1",
                "y": "1",
                "csrf_token": token,
            },
        )
        assert outside.status_code == 422
        assert "slice" in _alert(outside)
        page = web.get(proposal.url).text
    timeline = _section(page, "timeline")
    assert "Why only two slices?" in timeline
    assert re.search(
        r'commented\s+on <a class="mono" href="/lab/ct/file/[0-9a-f]+\?path=ct%2F0012.dcm">', timeline
    )
    assert re.search(
        r'<a class="pin" href="[^"]*\?series=[^"]+#series-review">at slice 13, x 150.0, y 140.5</a>', timeline
    )


def test_the_series_review_carries_pinned_comments_as_viewer_markers(
    portal: Portal, proposal: CtProposal
) -> None:
    note = pin(portal, proposal, actor="rita", body="Edge of <the> square", at=(11, 100.0, 100.0))
    with portal.browser("rita") as web:
        page = web.get(proposal.url).text
        assert (
            f'href="{proposal.url}?series={proposal.series}#series-review">Review with comments</a>' in page
        )
        review = web.get(proposal.url, params={"series": proposal.series}).text
    before = re.search(r'<div class="viewer-host" id="viewer-before"[^>]*>', review)
    after = re.search(r'<div class="viewer-host" id="viewer-after"[^>]*>', review)
    assert before
    assert after
    assert "data-markers" not in before.group(0)
    assert 'data-sync="proposal"' in before.group(0)
    assert 'data-pin-form="pin-form"' in after.group(0)
    raw = re.search(r"data-markers='([^']*)'", after.group(0))
    assert raw
    markers = json.loads(html.unescape(raw.group(1)))
    mine = next(m for m in markers if m["id"] == note)
    assert mine == {
        "id": note,
        "slice": 11,
        "x": 100.0,
        "y": 100.0,
        "label": "rita: Edge of <the> square",
        "href": f"#comment-{note}",
    }
    assert "<the>" not in after.group(0)  # the JSON is escaped inside the attribute
    assert 'id="pin-form"' in review
    assert f'name="series" value="{proposal.series}"' in review


def test_outsiders_cannot_comment_or_review(portal: Portal, proposal: CtProposal) -> None:
    with portal.browser("outsider") as web:
        home = web.get("/").text
        for action in ("comments", "reviews"):
            refused = web.post(
                f"{proposal.url}/{action}",
                data={"body": "x", "verdict": "comment", "csrf_token": _csrf(home)},
            )
            assert refused.status_code == 404
        assert web.get(f"{DS}/commits/{proposal.head}/checks/ci-lint").status_code == 404
    with httpx.Client(base_url=portal.base) as anonymous:
        assert anonymous.post(f"{proposal.url}/comments", data={"body": "x"}).status_code in (303, 401)


def test_the_check_report_page_shows_findings_and_404s_for_unknown_checks(
    portal: Portal, proposal: CtProposal
) -> None:
    with portal.browser() as web:
        page = web.get(f"{DS}/commits/{proposal.head}/checks/ci-lint")
        by_branch = web.get(f"{DS}/commits/edits/checks/ci-lint")
        unknown = web.get(f"{DS}/commits/{proposal.head}/checks/nope")
        no_commit = web.get(f"{DS}/commits/{'0' * 64}/checks/ci-lint")
    assert page.status_code == 200
    assert by_branch.status_code == 200
    text = page.text
    assert re.search(r'id="check-status">failure</span>', text)
    assert "2 findings in 2 of 24 files" in text
    assert 'href="https://ci.example/runs/7"' in text
    assert re.search(r"<tr><th>scanned</th><td[^>]*>24</td></tr>", text)
    assert re.search(r"<h3>findings</h3>\s*<table class=\"check-findings\">", text)
    assert re.findall(r"<th>(\w+)</th>", text)[-5:] == ["path", "kind", "message", "tag", "where"]
    assert re.search(
        r"<td>ct/0011.dcm</td><td>tag</td><td>PatientName is kept</td><td>\(0010,0010\)</td><td></td>", text
    )
    assert re.search(
        r"<td>ct/0012.dcm</td><td>text</td><td>a name in ImageComments</td><td></td><td>header</td>", text
    )
    assert unknown.status_code == 404
    assert "no result of check 'nope'" in _alert(unknown)
    assert no_commit.status_code == 404


def test_report_layout_turns_findings_per_path_into_one_table() -> None:
    facts, tables = layout(
        {
            "files": {"a.dcm": [{"kind": "tag"}], "b.dcm": [{"kind": "text", "where": "comments"}]},
            "policy": {"profile": "basic"},
            "scanned": 2,
        }
    )
    assert facts == [("policy", '{"profile": "basic"}'), ("scanned", "2")]
    [table] = tables
    assert (table.title, table.columns) == ("files", ["path", "kind", "where"])
    assert table.rows == [["a.dcm", "tag", ""], ["b.dcm", "text", "comments"]]  # the short row padded
