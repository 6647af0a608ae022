"""Migrations: ordered, idempotent, matching the models, guarding startup."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from imagehub.core.db import make_engine
from imagehub.models import Base
from imagehub.models.schema import SchemaBehind, head_revision, require_current, schema_state, upgrade
from imagehub.services import datasets


def test_fresh_database_is_behind_until_migrated(database_url: str) -> None:
    engine = make_engine(database_url)
    state = schema_state(engine)
    assert state.current is None
    assert not state.up_to_date
    with pytest.raises(SchemaBehind, match="imagehub migrate"):
        require_current(engine)
    assert upgrade(engine).current == head_revision()
    require_current(engine)
    assert upgrade(engine).up_to_date  # a second run is a no-op
    engine.dispose()


def test_migrations_produce_exactly_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert "datasets" in inspect(engine).get_table_names()
    engine.dispose()


def test_partial_upgrade_reports_what_to_run(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0001")
    state = schema_state(engine)
    assert state.current == "0001"
    if state.head != "0001":
        with pytest.raises(SchemaBehind, match="at 0001"):
            require_current(engine)
    engine.dispose()


def test_one_name_space_for_refs_migrates_over_reused_dataset_names(database_url: str) -> None:
    """Each dataset has its own ``main``: a deleted dataset and the live one that took its
    name are two datasets, not a branch and a tag of one."""
    engine = make_engine(database_url)
    upgrade(engine, "0016")
    with Session(engine) as session, session.begin():
        datasets.create(session, owner="lab", name="x", author="t")
        datasets.delete(session, owner="lab", name="x")
        datasets.create(session, owner="lab", name="x", author="t")
    assert upgrade(engine).up_to_date
    engine.dispose()
