"""Alembic environment: runs on the connection pmflow hands over (see ``pmflow.core.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from pmflow.core.tables import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # plain `alembic` command line: use the configured URL
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///pmflow.db")
        with engine.begin() as connection:
            _migrate(connection)
        return
    _migrate(connection)


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
