"""Migrations: ordered, idempotent, matching the models, guarding startup."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from imagehub.core.db import make_engine
from imagehub.models import Base
from imagehub.models.dataset import Dataset, source_of
from imagehub.models.schema import (
    MigrationFailed,
    SchemaAhead,
    SchemaBehind,
    head_revision,
    require_current,
    schema_state,
    upgrade,
)
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


def test_a_branch_and_a_tag_of_one_name_stop_the_migration_with_what_to_do(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0016")
    with Session(engine) as session, session.begin():
        repo = datasets.repository(session, datasets.create(session, owner="lab", name="x", author="t"))
        repo.create_branch("v1", "main")
        session.execute(
            text(
                "INSERT INTO vcs_refs (repository_id, kind, name, commit_id, protected, message, created_at,"
                " updated_at) SELECT repository_id, 'tag', name, commit_id, false, '', created_at, updated_at"
                " FROM vcs_refs WHERE name = 'v1'"
            )
        )
    with pytest.raises(MigrationFailed, match="delete one of each pair"):
        upgrade(engine)
    assert schema_state(engine).current == "0016"  # nothing half done
    engine.dispose()


def test_a_database_a_newer_imagehub_migrated_is_left_alone(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    for attempt in (upgrade, require_current):
        with pytest.raises(SchemaAhead, match="newer than this ImageHub"):
            attempt(engine)
    engine.dispose()


def test_datasets_derived_before_lineage_was_kept_get_their_source(database_url: str) -> None:
    """Migration 0022 finds a derived dataset's source in the commit that derived it, so a
    copy made before the upgrade cannot be published either."""
    engine = make_engine(database_url)
    upgrade(engine, "0021")
    with Session(engine) as session, session.begin():
        source = datasets.create(session, owner="lab", name="src", author="t")
        copy = datasets.create(session, owner="rita", name="copy", author="t")
        repo = datasets.repository(session, copy)
        tree = datasets.repository(session, source).resolve("main").tree
        repo.commit_tree("main", tree, author="t", message="derived", metadata={"derived_from": "lab/src"})
        copy_id, source_id = copy.id, source.id
    assert upgrade(engine).up_to_date
    with Session(engine) as session:
        found = source_of(session, session.get_one(Dataset, copy_id))
        assert found is not None
        assert found.id == source_id
    engine.dispose()


def test_duplicate_upload_sessions_keep_the_one_that_received_most(database_url: str) -> None:
    """Migration 0024 makes sessions unique per person, dataset and blob; duplicates that two
    racing starts made before it keep the one further along."""
    engine = make_engine(database_url)
    upgrade(engine, "0023")
    with Session(engine) as session, session.begin():
        dataset_id = datasets.create(session, owner="lab", name="up", author="t").id
        for upload_id, blob, received in (
            ("behind", "a" * 64, 10),
            ("ahead", "a" * 64, 20),
            ("other", "b" * 64, 0),
        ):
            session.execute(
                text(
                    "INSERT INTO upload_sessions (id, dataset_id, blob, size, received, parts, created_by,"
                    " created_at) VALUES (:id, :dataset, :blob, 30, :received, 1, 'lab', CURRENT_TIMESTAMP)"
                ),
                {"id": upload_id, "dataset": dataset_id, "blob": blob, "received": received},
            )
    assert upgrade(engine).up_to_date
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT id FROM upload_sessions ORDER BY id")).scalars().all()
    assert kept == ["ahead", "other"]
    engine.dispose()
