"""What the lakeFS API cannot honour it refuses (400, saying what), never accepts and ignores."""

from __future__ import annotations

import httpx
import lakefs_sdk

from tests.support.lakefs import Lake, make_repository


def test_uploads_with_user_metadata_are_refused(lake: Lake) -> None:
    client = lake.client()
    make_repository(client)
    url = f"{lake.base}/lakefs/lab/api/v1/repositories/scans/branches/main/objects"
    sent = httpx.post(
        url,
        params={"path": "meta.txt"},
        files={"content": ("meta.txt", b"m", "text/plain")},
        headers={"x-lakefs-meta-owner": "rita", **lake.bearer()},
    )
    assert sent.status_code == 400
    assert "user metadata is not supported" in sent.json()["message"]
    assert lakefs_sdk.BranchesApi(client).diff_branch("scans", "main").results == []
