"""The admin audit page over real HTTP: newest first a keyset page at a time, the chain
checked from its checkpoint, and the whole chain on request."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import update

from imagehub.core.audit import chain_hash
from imagehub.models.audit import AuditEvent
from imagehub.services import audit
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import bearer, make_user
from tests.support.live_server import live_server

PAGE = 200  # events per page of /admin/audit


@pytest.fixture
def admin(platform: Platform) -> Iterator[httpx.Client]:
    """A client signed in as a site administrator."""
    token = make_user(platform, "root", admin=True)
    with (
        live_server(create_app(platform)) as base,
        httpx.Client(base_url=base, headers=bearer(token)) as http,
    ):
        yield http


def record(platform: Platform, count: int, **fields: str) -> None:
    with platform.sessions.begin() as session:
        for number in range(count):
            audit.record(session, actor="ops", action="test.event", object=f"o{number}", **fields)


def shown_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r"<tr><td>(\d+)</td>", html)]


def link(html: str, text: str) -> str:
    found = re.search(rf'<a href="(\?[^"]*)">{text}</a>', html)
    assert found, f"no link {text!r}"
    return found.group(1).replace("&amp;", "&")


def test_the_page_lists_newest_first_and_pages_by_keyset(platform: Platform, admin: httpx.Client) -> None:
    record(platform, PAGE + 5)
    with platform.sessions() as session:
        ids = [e.id for e in audit.search(session, limit=1000)]
    first = admin.get("/admin/audit").text
    assert shown_ids(first) == ids[::-1][:PAGE]
    assert "Newer events" not in first
    older = admin.get("/admin/audit" + link(first, "Older events")).text
    assert shown_ids(older) == ids[::-1][PAGE:]
    assert "Older events" not in older
    again = admin.get("/admin/audit" + link(older, "Newer events")).text
    assert shown_ids(again) == shown_ids(first)


def test_a_view_walks_only_new_events_and_the_whole_chain_on_request(
    platform: Platform, admin: httpx.Client
) -> None:
    record(platform, 3)
    first = admin.get("/admin/audit").text
    assert "Chain: <strong>intact</strong>" in first
    assert "the whole chain walked now" in first
    record(platform, 2)
    since = admin.get("/admin/audit").text
    assert "2 event(s) appended since the last check walked now" in since
    whole = admin.get("/admin/audit" + link(since, "Verify the whole chain")).text
    assert "the whole chain walked now" in whole
    assert "Whole chain last verified: never" not in whole


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL refuses the edit itself
def test_an_old_event_altered_is_found_by_verifying_the_whole_chain(
    platform: Platform, admin: httpx.Client
) -> None:
    record(platform, 4)
    assert "Chain: <strong>intact</strong>" in admin.get("/admin/audit").text
    with platform.sessions() as session:
        old = audit.search(session, limit=1)[0]
    with platform.engine.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.id == old.id).values(purpose="rewritten"))
    whole = admin.get("/admin/audit", params={"verify": "whole"}).text
    assert f"BROKEN at event {old.id}</strong>" in whole
    assert f"BROKEN at event {old.id}</strong>" in admin.get("/admin/audit").text  # and stays shown
    verified = admin.get("/api/v1/admin/audit/verify").json()
    assert (verified["ok"], verified["event_id"]) == (False, old.id)


def test_the_export_holds_only_what_the_page_filters_and_each_row_still_hashes(
    platform: Platform, admin: httpx.Client
) -> None:
    record(platform, 2, dataset="lab/a")
    record(platform, 3, dataset="lab/b")
    page = admin.get("/admin/audit", params={"dataset": "lab/b", "action": "test."}).text
    export = re.search(r'<a href="(/api/v1/admin/audit/export\?[^"]*)">Export CSV</a>', page)
    assert export is not None
    rows = list(csv.DictReader(io.StringIO(admin.get(export.group(1).replace("&amp;", "&")).text)))
    assert [(r["dataset"], r["action"]) for r in rows] == [("lab/b", "test.event")] * 3
    lines = admin.get("/api/v1/admin/audit/export", params={"format": "json", "dataset": "lab/a"}).text
    exported = [json.loads(line) for line in lines.splitlines()]
    assert [e["object"] for e in exported] == ["o0", "o1"]
    for event in exported:
        content = {k: v for k, v in event.items() if k not in ("id", "hash")}
        assert chain_hash(content) == event["hash"]
    later = admin.get("/api/v1/admin/audit/export", params={"since": "2999-01-01T00:00Z"})
    assert later.text == ""
    bad = admin.get("/api/v1/admin/audit/export", params={"since": "yesterday"})
    assert (bad.status_code, "is not a time" in bad.json()["detail"]) == (422, True)
    with platform.sessions() as session:
        [recorded] = audit.search(session, action="audit.export", dataset="", limit=1)
    assert recorded.details == {"format": "csv", "action": "test.", "dataset": "lab/b"}


def test_every_filter_has_a_label_and_long_values_wrap(platform: Platform, admin: httpx.Client) -> None:
    long_path = "series/" + "x" * 300 + ".dcm"
    record(platform, 1, dataset="lab/a")
    with platform.sessions.begin() as session:
        audit.record(session, actor="ops", action="object.download", object=long_path)
    page = admin.get("/admin/audit", params={"since": "2000-01-01"}).text
    for name in ("actor", "action", "dataset", "since", "until"):
        assert re.search(rf'<label class="visually-hidden" for="audit-{name}">', page)
        assert f'<input id="audit-{name}" name="{name}"' in page
    assert 'value="2000-01-01T00:00:00+00:00"' in page  # a filter set shows as it reads back
    assert f'<td title="{long_path}">' in page
    assert '<table class="audit-log">' in page
    stylesheet = re.search(r'href="(/static/portal/portal\.css[^"]*)"', page)
    assert stylesheet is not None
    css = admin.get(stylesheet.group(1).replace("&amp;", "&")).text
    assert ".audit-log td { overflow-wrap: anywhere;" in css
    assert ".visually-hidden {" in css
