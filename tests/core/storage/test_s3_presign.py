"""Presigned S3 URLs (moto on loopback): a download is always a byte stream to save."""

from __future__ import annotations

import httpx

from imagehub.core.config import Settings
from imagehub.core.storage import open_store


def test_a_page_put_through_a_presigned_url_downloads_as_bytes(s3_settings: Settings, s3_bucket: str) -> None:
    store = open_store(f"s3://{s3_bucket}/store", s3_settings)
    put_url = store.presign_upload("blobs/page")
    assert put_url is not None
    page = b"<script>alert(document.domain)</script>"
    assert httpx.put(put_url, content=page, headers={"Content-Type": "text/html"}).status_code == 200
    fetched = httpx.get(store.presign("blobs/page", expires_in=60))
    assert fetched.content == page
    assert fetched.headers["content-type"] == "application/octet-stream"
    assert fetched.headers["content-disposition"] == "attachment"
