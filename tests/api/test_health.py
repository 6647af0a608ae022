"""The HTTP skeleton on a real uvicorn server on loopback."""

from __future__ import annotations

import httpx

from imagehub.core.config import Settings
from imagehub.services.platform import Platform, build_platform
from imagehub_api.app import create_app
from tests.support.live_server import live_server


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
