"""Raw data never leaves the PHI branches by branching or deriving: only de-identification
takes it out. Judged by commit, so a PHI branch still on shared history branches freely."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imagehub.services.platform import Platform
from tests.support.reviewing import DS, World, world_of

PURPOSE = {"X-Purpose-Of-Use": "curation of the raw import"}


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    with world_of(platform) as built:
        yield built


def branch(world: World, name: str, source: str) -> int:
    headers = {**world.as_("olga"), **PURPOSE}
    return world.http.post(
        f"{DS}/branches", json={"name": name, "source": source}, headers=headers
    ).status_code


def derive(world: World, name: str, ref: str) -> int:
    body = {"owner": "olga", "name": name, "ref": ref}
    return world.http.post(f"{DS}/derive", json=body, headers={**world.as_("olga"), **PURPOSE}).status_code


def test_raw_data_stays_in_phi_branches(world: World) -> None:
    assert branch(world, "from-raw-early", "raw") == 201  # raw still sits on main's commit
    raw_head = world.push("raw", {"p1/ct.dcm": b"PHI"})
    refused = world.http.post(
        f"{DS}/branches", json={"name": "leak", "source": "raw"}, headers={**world.as_("olga"), **PURPOSE}
    )
    assert refused.status_code == 403
    assert "de-identify the data instead" in refused.json()["detail"]
    assert branch(world, "leak", raw_head) == 403  # by commit id too
    assert branch(world, "leak", "raw~0") == 403
    assert branch(world, "raw-copy", "raw") == 201  # a PHI branch may hold it
    assert branch(world, "plain", "main") == 201
    assert derive(world, "leaked", "raw") == 403
    assert derive(world, "copy", "main") == 201


def test_a_direct_merge_of_a_raw_commit_is_refused_however_it_is_named(world: World) -> None:
    raw_head = world.push("raw", {"p1/ct.dcm": b"PHI"})
    headers = {**world.as_("olga"), **PURPOSE}
    for source in ("raw", "raw~0", raw_head):
        merged = world.http.post(
            f"{DS}/merges", json={"source": source, "destination": "main"}, headers=headers
        )
        assert merged.status_code == 403, (source, merged.text)
    assert world.head("main") != raw_head
