"""Alembic migrations run from code: on first use, by ``pmflow db upgrade``, and in tests."""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from pmflow.core.database import Database

SCRIPT_LOCATION = "pmflow.core:migrations"
# Each layer owning tables ships its own Alembic branch as a (package, folder) version location.
CORE_VERSIONS = ("pmflow.core.migrations", "versions")
Locations = Sequence[tuple[str, str]]
# A constant key for pg_advisory_xact_lock: two processes starting at once migrate one at a time.
_MIGRATION_LOCK = 7_305_510_042


def alembic_config(locations: Locations = ()) -> Config:
    """Alembic configuration for the core branch plus the branches in ``locations``."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    folders = [str(files(package) / folder) for package, folder in (CORE_VERSIONS, *locations)]
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_path_separator", "os")  # the name before Alembic 1.16
    config.set_main_option("version_locations", os.pathsep.join(folders))
    return config


class UnknownRevision(Exception):
    """The database was migrated by a pmflow that knows revisions this one does not."""


def head_revisions(locations: Locations = ()) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(locations)).get_heads())


def known_revisions(locations: Locations = ()) -> set[str]:
    return {
        script.revision for script in ScriptDirectory.from_config(alembic_config(locations)).walk_revisions()
    }


def check_known(database: Database, locations: Locations = ()) -> None:
    unknown = current_revisions(database) - known_revisions(locations)
    if unknown:
        raise UnknownRevision(
            f"the database is at schema revision {', '.join(sorted(unknown))}, which this pmflow does not "
            "know: it was migrated by a newer version; upgrade pmflow rather than the database"
        )


def current_revisions(database: Database) -> set[str]:
    with database.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def upgrade(database: Database, revision: str = "heads", *, locations: Locations = ()) -> None:
    """Bring the schema to ``revision`` in one transaction (DDL is transactional on both)."""
    check_known(database, locations)
    config = alembic_config(locations)
    with database.write() as connection:
        if database.dialect == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def ensure_schema(database: Database, *, locations: Locations = ()) -> bool:
    """Migrate when the schema is behind; True when something was done."""
    if current_revisions(database) == head_revisions(locations):
        return False
    upgrade(database, locations=locations)
    return True
