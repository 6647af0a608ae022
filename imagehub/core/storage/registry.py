"""Choose a driver from a storage URL (``file://…`` or ``s3://bucket/prefix``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from imagehub.core.config import Settings
from imagehub.core.errors import ConfigError
from imagehub.core.redact import masked_url
from imagehub.core.storage.base import ObjectStore


def open_store(url: str, settings: Settings | None = None) -> ObjectStore:
    """Build the driver a URL names; S3 credentials come from settings or boto3's chain."""
    shown = masked_url(url)
    try:
        parsed = urlparse(url)
    except ValueError:  # an unbalanced IPv6 bracket, say
        raise ConfigError(f"storage URL {shown!r} is not a URL") from None
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ConfigError(f"storage URL {shown!r}: file URLs cannot name a host")
        from imagehub.core.storage.local import FileStore

        return FileStore(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigError(f"storage URL {shown!r} names no bucket; use s3://bucket/prefix")
        endpoint = (settings.s3_endpoint_url or "") if settings else ""
        if "@" in parsed.netloc or "@" in urlparse(endpoint).netloc:
            raise ConfigError(
                f"S3 credentials do not belong in a URL ({shown!r}, {masked_url(endpoint)!r}), where "
                "health checks and errors would show them: set IMAGEHUB_S3_ACCESS_KEY_ID and "
                "IMAGEHUB_S3_SECRET_ACCESS_KEY, or boto3's own configuration"
            )
        from imagehub.core.storage.s3 import S3Store

        secret = settings.s3_secret_access_key if settings else None
        try:
            return S3Store(
                parsed.netloc,
                parsed.path,
                endpoint_url=(settings.s3_endpoint_url or None) if settings else None,
                region=settings.s3_region if settings else None,
                access_key_id=settings.s3_access_key_id if settings else None,
                secret_access_key=secret.get_secret_value() if secret else None,
            )
        except ValueError as exc:  # botocore: a malformed endpoint URL or region name
            raise ConfigError(f"S3 settings for {shown!r}: {exc}") from None
    scheme = parsed.scheme or "(none)"
    raise ConfigError(f"unknown storage scheme {scheme!r} in {shown!r}; use file:// or s3://bucket/prefix")


_worker_stores: dict[str, ObjectStore] = {}


def worker_store(settings: Settings) -> ObjectStore:
    """The settings' store, opened once per process: pipeline workers call this per batch."""
    url = settings.effective_storage_url
    if url not in _worker_stores:
        _worker_stores[url] = open_store(url, settings)
    return _worker_stores[url]
