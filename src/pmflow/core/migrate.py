"""Alembic migrations run from code: on first use, by ``pmflow db upgrade``, and in tests."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from pmflow.core.database import Database

SCRIPT_LOCATION = "pmflow.core:migrations"
# A constant key for pg_advisory_xact_lock: two processes starting at once migrate one at a time.
_MIGRATION_LOCK = 7_305_510_042


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(database: Database) -> set[str]:
    with database.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def upgrade(database: Database, revision: str = "heads") -> None:
    """Bring the schema to ``revision`` in one transaction (DDL is transactional on both)."""
    config = alembic_config()
    with database.write() as connection:
        if database.dialect == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def ensure_schema(database: Database) -> bool:
    """Migrate when the schema is behind; True when something was done."""
    if current_revisions(database) == head_revisions():
        return False
    upgrade(database)
    return True
