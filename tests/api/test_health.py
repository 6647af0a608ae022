"""The HTTP skeleton on a real uvicorn server on loopback."""

from __future__ import annotations

from pathlib import Path

import httpx

from imagehub.core.config import Settings
from imagehub.services.platform import Platform, build_platform
from imagehub_api.app import create_app
from tests.conftest import S3Storage
from tests.support.accounts import bearer, make_user
from tests.support.datasets import commit_files
from tests.support.live_server import live_server
from tests.support.platforms import migrated_platform


def test_health_reports_every_dependency(platform: Platform) -> None:
    with live_server(create_app(platform)) as base:
        response = httpx.get(f"{base}/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["database"]["extra"]["dialect"] == platform.engine.dialect.name
    assert body["storage"] == {"ok": True, "detail": platform.store.url, "extra": {}}
    assert body["migrations"]["ok"] is True
    assert body["migrations"]["extra"]["current"] == body["migrations"]["extra"]["head"]
    assert list(platform.store.list(".health/")) == []  # the probe cleans up after itself


def test_health_is_503_and_names_the_problem_when_unmigrated(settings: Settings) -> None:
    unmigrated = build_platform(settings)
    with live_server(create_app(unmigrated)) as base:
        response = httpx.get(f"{base}/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"]["ok"] is True
    assert body["migrations"]["ok"] is False
    assert "imagehub migrate" in body["migrations"]["detail"]


def test_openapi_docs_are_served(platform: Platform) -> None:
    with live_server(create_app(platform)) as base:
        docs = httpx.get(f"{base}/api/docs")
        spec = httpx.get(f"{base}/api/openapi.json").json()
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert "/api/v1/health" in spec["paths"]
    assert spec["paths"]["/api/v1/health"]["get"]["operationId"] == "health-get"


def test_an_object_store_that_went_away_answers_503(
    tmp_path: Path, database_url: str, s3_storage: S3Storage
) -> None:
    s3, bucket = s3_storage.client, s3_storage.bucket
    with migrated_platform(tmp_path, database_url, **s3_storage.settings) as platform:
        token = make_user(platform, "lab")
        with live_server(create_app(platform)) as base:
            made = httpx.post(
                f"{base}/api/v1/datasets", json={"owner": "lab", "name": "scans"}, headers=bearer(token)
            )
            assert made.status_code == 201, made.text
            commit_files(platform, "lab", "scans", "main", {"a.dcm": b"bytes"})
            url = f"{base}/api/v1/datasets/lab/scans/refs/main/objects/content"
            where = {"path": "a.dcm"}
            assert httpx.get(url, params=where, headers=bearer(token)).content == b"bytes"
            for listed in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=listed["Key"])
            s3.delete_bucket(Bucket=bucket)
            gone = httpx.get(url, params=where, headers=bearer(token))
            bundle = f"{base}/api/v1/datasets/lab/scans/refs/main/bundle"
            no_bundle = httpx.post(bundle, json={"paths": ["a.dcm"]}, headers=bearer(token))
    assert gone.status_code == 503, gone.text
    assert "NoSuchBucket" in gone.json()["detail"]
    assert no_bundle.status_code == 503, no_bundle.text  # before the answer starts, not cut off after
