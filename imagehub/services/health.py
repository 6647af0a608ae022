"""Liveness of the platform's dependencies, for /api/v1/health and `imagehub doctor`."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from imagehub import __version__
from imagehub.core.db import check_connection, safe_url
from imagehub.core.errors import ImageHubError
from imagehub.core.vcs import blob_key
from imagehub.models import vcs as vcs_queries
from imagehub.models.schema import schema_state
from imagehub.services.platform import Platform

PROBE_PREFIX = ".health/"
SAMPLED_BLOBS = 3


@dataclass
class Check:
    ok: bool
    detail: str
    extra: dict[str, object] = field(default_factory=dict)


@dataclass
class HealthReport:
    version: str
    database: Check
    storage: Check
    migrations: Check

    @property
    def ok(self) -> bool:
        return self.database.ok and self.storage.ok and self.migrations.ok

    def as_dict(self) -> dict[str, object]:
        report = asdict(self)
        report["status"] = "ok" if self.ok else "degraded"
        return report


def check_database(platform: Platform) -> Check:
    try:
        check_connection(platform.engine)
    except ImageHubError as exc:
        return Check(False, str(exc))
    return Check(True, safe_url(platform.engine.url), {"dialect": platform.engine.dialect.name})


def check_storage(platform: Platform) -> Check:
    """Write, read back and delete a probe object: proves the store really works."""
    key = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    payload = b"imagehub-probe"
    try:
        platform.store.put(key, payload)
        echoed = b"".join(platform.store.get(key))
        platform.store.delete(key)
    except ImageHubError as exc:
        return Check(False, f"{platform.store.url}: {exc}")
    except OSError as exc:
        return Check(False, f"{platform.store.url}: {exc.strerror or exc}")
    if echoed != payload:
        return Check(False, f"{platform.store.url}: probe object read back wrong")
    return _holds_the_site(platform)


def _holds_the_site(platform: Platform) -> Check:
    """A working store may still be the wrong one (a mistyped bucket or prefix): some of the
    blobs indexed last must be in it."""
    try:
        with platform.sessions() as session:
            sample = vcs_queries.recent_blobs(session, SAMPLED_BLOBS)
    except SQLAlchemyError:  # the database check reports it
        return Check(True, platform.store.url)
    if sample and not any(platform.store.exists(blob_key(blob)) for blob in sample):
        detail = (
            f"{platform.store.url}: holds none of the {len(sample)} blobs indexed last; "
            "check IMAGEHUB_STORAGE_URL (bucket and prefix) points at this site's objects"
        )
        return Check(False, detail)
    return Check(True, platform.store.url)


def check_migrations(platform: Platform) -> Check:
    try:
        state = schema_state(platform.engine)
    except Exception as exc:  # an unreachable database is reported by check_database
        return Check(False, f"schema state unknown: {type(exc).__name__}")
    if state.up_to_date:
        return Check(True, f"at {state.head}", {"current": state.current, "head": state.head})
    detail = f"at {state.current or 'empty'}, needs {state.head}: run `imagehub migrate`"
    return Check(False, detail, {"current": state.current, "head": state.head})


def health(platform: Platform) -> HealthReport:
    return HealthReport(
        version=__version__,
        database=check_database(platform),
        storage=check_storage(platform),
        migrations=check_migrations(platform),
    )
