"""Series, their thumbnails and on-demand file thumbnails over HTTP, after a pipeline run."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from dagster import instance_for_test, materialize
from PIL import Image
from pydicom.data import get_testdata_file

from imagehub.services import audit, datasets
from imagehub.services.pipeline import partition_key
from imagehub.services.platform import Platform
from imagehub_api.app import create_app
from imagehub_assets.assets import ASSETS
from imagehub_assets.partitions import dataset_commits
from tests.assets.conftest import resources_for
from tests.support.accounts import bearer, make_user
from tests.support.datasets import commit_files
from tests.support.live_server import live_server

DS = "/api/v1/datasets/lab/scans"
VOLUME = Path(__file__).parents[1] / "data" / "volume"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_series_and_thumbnails_of_a_processed_version(platform: Platform) -> None:
    token = make_user(platform, "lab")
    with platform.sessions.begin() as session:
        datasets.create(session, owner="lab", name="scans", author="lab")
    files: dict[str, bytes | None] = {
        f"mr/{p.name}": p.read_bytes() for p in sorted(VOLUME.glob("*.dcm"))[:6]
    }
    files["ct.dcm"] = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    files["notes.txt"] = b"not an image"
    commit = commit_files(platform, "lab", "scans", "main", files)

    with (
        live_server(create_app(platform)) as base,
        httpx.Client(base_url=base, headers=bearer(token)) as http,
    ):
        before = http.get(f"{DS}/refs/main/series").json()
        assert (before["commit"], before["processed"], before["items"]) == (commit.id, False, [])
        assert http.get(f"{DS}/refs/main/dicomweb/studies").status_code == 200  # indexes the version
        assert http.get(f"{DS}/refs/main/series").json()["processed"] is False  # yet no run has been

        key = partition_key("lab/scans", commit.id)
        with instance_for_test() as instance:
            instance.add_dynamic_partitions(dataset_commits.name, [key])
            assert materialize(
                ASSETS, partition_key=key, instance=instance, resources=resources_for(platform)
            ).success

        listed = http.get(f"{DS}/refs/main/series").json()
        assert listed["processed"]
        by_modality = {item["modality"]: item for item in listed["items"]}
        assert set(by_modality) == {"MR", "CT"}
        assert by_modality["MR"]["instances"] == 6
        assert all(item["commit"] == commit.id and item["thumbnail"] for item in listed["items"])

        shown = http.get(
            f"{DS}/refs/main/series/thumbnail", params={"series_key": by_modality["CT"]["series_key"]}
        )
        assert shown.status_code == 200
        assert Image.open(io.BytesIO(shown.content)).format == "PNG"
        missing = http.get(f"{DS}/refs/main/series/thumbnail", params={"series_key": "1.2.3"})
        assert missing.status_code == 404
        assert "has the pipeline run" in missing.json()["detail"]

        small = http.get(f"{DS}/refs/main/objects/thumbnail", params={"path": "mr/brain_003.dcm", "size": 64})
        assert small.status_code == 200
        assert max(Image.open(io.BytesIO(small.content)).size) == 64
        again = http.get(f"{DS}/refs/main/objects/thumbnail", params={"path": "mr/brain_003.dcm", "size": 64})
        assert again.content == small.content  # served from the derived store the second time
        assert small.headers["cache-control"] == "private, no-cache"  # a branch moves: revalidate
        pinned = http.get(f"{DS}/refs/{commit.id}/objects/thumbnail", params={"path": "mr/brain_003.dcm"})
        assert pinned.headers["cache-control"] == "private, max-age=86400"  # a commit never changes
        not_image = http.get(f"{DS}/refs/main/objects/thumbnail", params={"path": "notes.txt"})
        assert not_image.status_code == 422
        too_big = http.get(f"{DS}/refs/main/objects/thumbnail", params={"path": "ct.dcm", "size": 5000})
        assert too_big.status_code == 422

    with platform.sessions() as session:
        viewed = audit.search(session, action="image.view", dataset="lab/scans")
    assert [(e.actor, e.object) for e in viewed] == [
        ("lab", by_modality["CT"]["series_key"]),
        ("lab", "mr/brain_003.dcm"),
        ("lab", "mr/brain_003.dcm"),
        ("lab", "mr/brain_003.dcm"),
    ]
