"""Storage: migrations create exactly the models, history refuses edits, SQLite runs in WAL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, inspect, update
from sqlalchemy.exc import DBAPIError, IntegrityError

import pmflow.domain.tables  # noqa: F401  (the domain's tables join the shared metadata)
from pmflow import Actor
from pmflow.app import MIGRATIONS
from pmflow.core.database import Database, database_url, normalise_url
from pmflow.core.engine import WorkflowEngine
from pmflow.core.migrate import current_revisions, ensure_schema, head_revisions
from pmflow.core.tables import events, metadata

ACTOR = Actor("u-1", frozenset({"manager"}))


def test_migrations_create_exactly_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []
    assert current_revisions(database) == head_revisions(MIGRATIONS)


def test_first_use_creates_and_migrates_then_is_a_no_op(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert ensure_schema(db, locations=MIGRATIONS) is True
        tables = set(inspect(db.engine).get_table_names())
        assert {"subjects", "events", "outbox", "projects", "requirements", "field_changes"} <= tables
        assert ensure_schema(db, locations=MIGRATIONS) is False
    finally:
        db.dispose()


def test_history_is_append_only_in_the_database(engine: WorkflowEngine) -> None:
    project = engine.create("project", ACTOR).subject
    engine.fire(project.id, "put_on_hold", ACTOR, payload={"reason": "budget"})
    for statement in (
        update(events).values(comment="rewritten"),
        delete(events).where(events.c.subject_id == project.id),
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.database.write() as conn:
            conn.execute(statement)
    assert [e.trigger for e in engine.history(project.id)] == ["create", "put_on_hold"]


def test_a_second_event_for_the_same_version_is_refused(engine: WorkflowEngine) -> None:
    project = engine.create("project", ACTOR).subject
    with pytest.raises(IntegrityError), engine.database.write() as conn:
        conn.execute(
            events.insert(),
            {
                "event_id": "forged",
                "subject_id": project.id,
                "subject_version": 1,
                "trigger": "forged",
                "from_state": None,
                "to_state": "closed",
                "actor_id": "x",
                "payload": {},
                "occurred_at": datetime.now(UTC),
            },
        )


def test_sqlite_file_runs_in_wal_mode(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()


def test_database_url_defaults_and_normalisation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PMFLOW_DATABASE_URL", raising=False)
    assert database_url() == "sqlite:///pmflow.db"
    monkeypatch.setenv("PMFLOW_DATABASE_URL", "postgresql://u@h/db")
    assert database_url() == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_times_come_back_aware_utc(engine: WorkflowEngine) -> None:
    project = engine.create("project", ACTOR).subject
    stored = engine.get(project.id)
    assert stored.created_at.tzinfo is not None and stored.created_at.utcoffset().total_seconds() == 0
    assert abs((stored.created_at - project.created_at).total_seconds()) < 0.001
