"""A merge conflict on the portal: the proposal page comes back with every conflicting path
in both versions, and a strategy then settles it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from imagehub.core.vcs import RefKind
from imagehub.services import datasets
from imagehub.services.platform import Platform
from tests.support.accounts import PASSWORD
from tests.support.reviewing import World, world_of


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    with world_of(platform) as built:
        yield built


def test_conflicting_paths_are_shown_with_both_versions(world: World) -> None:
    number = world.open_proposal()  # qc adds a.dcm ...
    source = world.push("qc", {"b.dcm": b"qc's b"})
    target = world.push("main", {"a.dcm": b"main's a", "b.dcm": b"main's b"})  # ... and main too
    with httpx.Client(base_url=str(world.http.base_url)) as web:
        signed = web.post("/login", data={"username": "wes", "password": PASSWORD, "next": "/"})
        assert signed.status_code == 303
        page = web.get(f"/olga/brain/proposals/{number}").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        refused = web.post(
            f"/olga/brain/proposals/{number}/merge", data={"strategy": "fail", "csrf_token": token.group(1)}
        )
        assert refused.status_code == 409
        html = refused.text
        assert "Merge conflict on 2 path(s)" in html
        rows = re.findall(r'<tr class="conflict">\s*<td class="mono">([^<]+)</td>', html)
        assert rows == ["a.dcm", "b.dcm"]
        for path in rows:
            assert f'href="/olga/brain/file/{target}?path={path}"' in html  # the target's version
            assert f'href="/olga/brain/file/{source}?path={path}"' in html  # the source's version
        assert 'id="proposal-state">open<' in html
        settled = web.post(
            f"/olga/brain/proposals/{number}/merge", data={"strategy": "theirs", "csrf_token": token.group(1)}
        )
        assert settled.status_code == 303
    with world.platform.sessions() as session:
        repo = datasets.repository(session, datasets.get(session, owner="olga", name="brain"))
        assert repo.stat("main", "b.dcm") == repo.stat(source, "b.dcm")


def test_the_readiness_panel_names_the_conflicts_before_the_merge_is_tried(world: World) -> None:
    number = world.open_proposal()  # qc adds a.dcm ...
    world.push("main", {"a.dcm": b"main's a"})  # ... and main too
    with httpx.Client(base_url=str(world.http.base_url)) as web:
        signed = web.post("/login", data={"username": "wes", "password": PASSWORD, "next": "/"})
        assert signed.status_code == 303
        html = web.get(f"/olga/brain/proposals/{number}").text
    assert "Ready to merge" not in html
    assert "Conflicts to settle" in html
    blockers = re.search(r'<ul id="merge-blockers">(.*?)</ul>', html, re.S)
    assert blockers is not None
    assert "1 conflicting path(s): a.dcm" in blockers.group(1)
    button = re.search(r'<button type="submit"[^>]*>Merge into main', html)
    assert button is not None
    assert "disabled" not in button.group(0)  # ours or theirs still settles it


def test_a_proposal_whose_source_branch_is_gone_still_reads(world: World) -> None:
    number = world.open_proposal()
    with world.platform.sessions.begin() as session:
        datasets.repository(session, datasets.get(session, owner="olga", name="brain")).delete_ref(
            "qc", RefKind.BRANCH
        )
    with httpx.Client(base_url=str(world.http.base_url)) as web:
        signed = web.post("/login", data={"username": "wes", "password": PASSWORD, "next": "/"})
        assert signed.status_code == 303
        page = web.get(f"/olga/brain/proposals/{number}")
        assert page.status_code == 200
        assert 'id="source-gone"' in page.text
        assert "the source branch &#39;qc&#39; no longer exists" in page.text
