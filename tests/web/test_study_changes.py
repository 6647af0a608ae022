"""The compare, commit and proposal pages group the series changes under their studies."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from imagehub.services import datasets, proposals
from imagehub.services.platform import Platform
from tests.conftest import Server
from tests.support.accounts import PASSWORD
from tests.support.studies import SeededStudies, seed_studies

DS = "/lab/studies"


@pytest.fixture
def seeded(platform: Platform, server: Server) -> SeededStudies:
    """Seeded once the server made the account ``lab``, whose namespace the studies live under."""
    return seed_studies(platform)


@pytest.fixture
def web(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url) as client:
        signed_in = client.post("/login", data={"username": "lab", "password": PASSWORD, "next": "/"})
        assert signed_in.status_code == 303, signed_in.text
        yield client


def _studies(page: str) -> dict[str, tuple[str, str, list[str]]]:
    """Each study group of the series table: study UID (or "none") -> (its kind, its header text
    with the tags stripped, the kinds of the series rows under it)."""
    found: dict[str, tuple[str, str, list[str]]] = {}
    for group in re.findall(r'<tbody class="study">(.*?)</tbody>', page, re.S):
        head = re.search(r'<tr class="study-change (\w+)">\s*<th colspan="5">(.*?)</th>', group, re.S)
        assert head, group
        kind, header = head.groups()
        uid = re.search(r'title="([^"]+)"', header)
        text = " ".join(re.sub(r"<[^>]+>", " ", header).split())
        found[uid.group(1) if uid else "none"] = (
            kind,
            text,
            re.findall(r'<tr class="series-change (\w+)">', group),
        )
    return found


def _assert_grouped(page: str, seeded: SeededStudies) -> None:
    studies = _studies(page)
    assert set(studies) == {seeded.new.uid, seeded.kept.uid, seeded.gone.uid, "none"}
    assert page.count('class="series-change') == 6  # 2 + 1 + 1 DICOM series, 2 volumes
    new, kept, gone, volumes = (
        studies[uid] for uid in (seeded.new.uid, seeded.kept.uid, seeded.gone.uid, "none")
    )
    assert (new[0], new[2]) == ("added", ["added", "added"])
    assert (kept[0], kept[2]) == ("modified", ["modified"])
    assert (gone[0], gone[2]) == ("removed", ["removed"])
    assert (volumes[0], volumes[2]) == ("added", ["added", "added"])
    assert new[1].endswith("2 series added")
    assert kept[1].endswith("1 series modified")
    assert gone[1].endswith("1 series removed")
    assert f"CT CHEST ABDOMEN WITH CONTRAST · {seeded.new.date} CT" in new[1].replace("&middot;", "·")
    assert volumes[1].startswith("No study (NIfTI volumes)")


def test_compare_and_commit_pages_group_series_by_study(seeded: SeededStudies, web: httpx.Client) -> None:
    compared = web.get(f"{DS}/compare", params={"left": seeded.first.id, "right": seeded.second.id})
    assert compared.status_code == 200
    _assert_grouped(compared.text, seeded)
    _assert_grouped(web.get(f"{DS}/commit/{seeded.second.id}").text, seeded)


def test_proposal_page_groups_series_by_study(
    platform: Platform, seeded: SeededStudies, web: httpx.Client
) -> None:
    with platform.sessions.begin() as session:
        dataset = datasets.get(session, owner="lab", name="studies")
        repo = datasets.repository(session, dataset)
        opened = proposals.create(
            session, dataset, repo, actor="lab", source="edits", target="main", title="Studies"
        )
        number = opened.number
    page = web.get(f"{DS}/proposals/{number}")
    assert page.status_code == 200
    _assert_grouped(page.text, seeded)
    assert f"/proposals/{number}?series={seeded.kept_modified_series}#series-review" in page.text
