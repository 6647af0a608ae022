"""Object storage behind one narrow interface, with ``file`` and ``s3`` drivers."""

from imagehub.core.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    validate_key,
)
from imagehub.core.storage.registry import open_store, worker_store

__all__ = [
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "StorageError",
    "open_store",
    "validate_key",
    "worker_store",
]
