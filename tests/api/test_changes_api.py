"""Change details over HTTP, against a live server: DICOM header diffs, label maps' voxels and Dice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest

from imagehub.services import access, audit, datasets
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from tests.support.accounts import bearer, make_user
from tests.support.changes import ct_described, label_map, nifti_bytes, relabelled
from tests.support.datasets import commit_files
from tests.support.live_server import live_server

DS = "/api/v1/datasets/olga/scans"
CHANGES = f"{DS}/changes"
PURPOSE = {"X-Purpose-Of-Use": "checking the raw import"}
CT = "ct/0001.dcm"
LABELS = "seg/liver_labels.nii.gz"


@dataclass
class World:
    http: httpx.Client
    platform: Platform
    tokens: dict[str, str]

    def get(
        self, what: str, who: str = "rita", headers: dict[str, str] | None = None, **params: str
    ) -> httpx.Response:
        return self.http.get(
            f"{CHANGES}/{what}", params=params, headers={**bearer(self.tokens[who]), **(headers or {})}
        )


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    """olga/scans (private): main holds a CT slice and a label map; ``qc`` corrects the CT's
    SeriesDescription and edits the labels; ``raw`` (PHI) holds a CT too. rita reads, eve is a stranger."""
    tokens = {name: make_user(platform, name) for name in ("olga", "rita", "eve")}
    with platform.sessions.begin() as session:
        dataset = datasets.create(session, owner="olga", name="scans", author="olga")
        access.grant(session, dataset=dataset, role="read", actor="olga", username="rita")
    commit_files(
        platform,
        "olga",
        "scans",
        "main",
        {CT: ct_described("CHEST"), LABELS: nifti_bytes(label_map()), "notes.txt": b"first"},
    )
    with platform.sessions.begin() as session:
        repo = datasets.repository(session, datasets.get(session, owner="olga", name="scans"))
        repo.create_branch("qc", "main")
        repo.create_branch("raw", "main")
    commit_files(
        platform,
        "olga",
        "scans",
        "qc",
        {CT: ct_described("Chest, corrected"), LABELS: nifti_bytes(relabelled()), "notes.txt": b"second"},
    )
    commit_files(platform, "olga", "scans", "raw", {CT: ct_described("DOE^JANE chest")})
    with live_server(create_app(platform)) as base, httpx.Client(base_url=base) as http:
        yield World(http, platform, tokens)


def test_header_diff_names_the_changed_tag(world: World) -> None:
    found = world.get("header", left="main", right="qc", path=CT)
    assert found.status_code == 200, found.text
    body = found.json()
    assert (body["path"], body["change"], body["meta_changes"]) == (CT, "modified", 0)
    [tag] = body["tags"]
    assert tag == {
        "path": "(0008,103E) SeriesDescription",
        "vr": "LO",
        "kind": "changed",
        "before": "CHEST",
        "after": "Chest, corrected",
        "meta": False,
    }
    with world.platform.sessions() as session:
        head = datasets.repository(session, datasets.get(session, owner="olga", name="scans")).resolve("qc")
        [event] = audit.search(session, action="object.compare", dataset="olga/scans", limit=5)
    assert body["right"] == head.id
    assert (event.actor, event.object) == ("rita", CT)
    assert event.details["detail"] == "header"


def test_a_file_unchanged_or_on_one_side_only(world: World) -> None:
    same = world.get("header", left="main", right="main", path=CT).json()
    assert (same["change"], same["tags"]) == ("unchanged", [])
    commit_files(world.platform, "olga", "scans", "qc", {"ct/0002.dcm": ct_described("NEW")})
    added = world.get("header", left="main", right="qc", path="ct/0002.dcm").json()
    assert added["change"] == "added"
    kinds = {tag["path"]: tag["kind"] for tag in added["tags"]}
    assert kinds["(0008,103E) SeriesDescription"] == "added"
    assert set(kinds.values()) == {"added"}


def test_label_change_counts_voxels_and_dice(world: World) -> None:
    found = world.get("labels", left="main", right="qc", path=LABELS)
    assert found.status_code == 200, found.text
    body = found.json()
    assert (body["format"], body["change"], body["shape"]) == ("nifti", "modified", [8, 10, 12])
    assert body["voxel_volume_mm3"] == pytest.approx(0.8 * 0.8 * 2.5)
    before, after = label_map(), relabelled()
    rows = {row["label"]: row for row in body["labels"]}
    assert sorted(rows) == [1, 2, 4]
    for label, row in rows.items():
        a, b = before == label, after == label
        assert (row["voxels_before"], row["voxels_after"]) == (int(a.sum()), int(b.sum()))
        assert row["delta"] == int(b.sum()) - int(a.sum())
        assert row["dice"] == pytest.approx(2 * np.sum(a & b) / (a.sum() + b.sum()))
    assert rows[2]["dice"] == rows[4]["dice"] == 0.0
    paths = world.http.get(
        f"{CHANGES}/label-paths", params={"left": "main", "right": "qc"}, headers=bearer(world.tokens["rita"])
    ).json()
    assert paths["results"] == [{"path": LABELS, "change": "modified", "format": "nifti", "reason": "name"}]


@pytest.mark.parametrize(
    ("what", "params", "status", "detail"),
    [
        ("header", {"left": "main", "right": "qc", "path": "ct/none.dcm"}, 404, "no path"),
        ("header", {"left": "main", "right": "nope", "path": CT}, 404, "nope"),
        ("labels", {"left": "nope", "right": "qc", "path": LABELS}, 404, "nope"),
        ("header", {"left": "main", "right": "qc", "path": "notes.txt"}, 422, "not a DICOM file"),
        ("header", {"left": "main", "right": "qc", "path": LABELS}, 422, "not a DICOM file"),
        ("labels", {"left": "main", "right": "qc", "path": CT}, 422, "not a segmentation"),
        ("labels", {"left": "main", "right": "qc", "path": "notes.txt"}, 422, "not a label map"),
        ("header", {"left": "main", "right": "qc"}, 422, "path"),
    ],
    ids=[
        "unknown-path",
        "unknown-right",
        "unknown-left",
        "text",
        "nifti",
        "ct-as-labels",
        "text-as-labels",
        "no-path",
    ],
)
def test_bad_requests_are_clear_4xx(
    world: World, what: str, params: dict[str, str], status: int, detail: str
) -> None:
    found = world.get(what, **params)
    assert found.status_code == status, found.text
    assert detail in found.text


def test_raw_branches_stay_gated(world: World) -> None:
    params = {"left": "main", "right": "raw", "path": CT}
    assert world.get("header", who="eve", **params).status_code == 404
    assert world.get("header", who="rita", headers=PURPOSE, **params).status_code == 403
    assert world.get("header", who="olga", **params).status_code == 428
    opened = world.get("header", who="olga", headers=PURPOSE, **params)
    assert opened.status_code == 200, opened.text
    assert opened.json()["tags"][0]["after"] == "DOE^JANE chest"
    with world.platform.sessions() as session:
        raw_head = datasets.repository(session, datasets.get(session, owner="olga", name="scans")).resolve(
            "raw"
        )
        [phi] = audit.search(session, action="phi.open", dataset="olga/scans", limit=5)
    assert (phi.actor, phi.ref, phi.purpose) == ("olga", "raw", PURPOSE["X-Purpose-Of-Use"])
    # The raw head named by its commit id is gated the same way.
    by_id = world.get("labels", who="rita", headers=PURPOSE, left="main", right=raw_head.id, path=LABELS)
    assert by_id.status_code == 403
