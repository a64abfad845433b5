"""Database connections: SQLite (embedded default, WAL) or PostgreSQL, one write transaction at a time.

The engine is synchronous SQLAlchemy; see docs/decisions.md for why and how the API uses it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

DEFAULT_URL = "sqlite:///pmflow.db"
URL_ENV = "PMFLOW_DATABASE_URL"
_WRITE = "pmflow_write"
_AFTER_COMMIT = "pmflow_after_commit"
log = logging.getLogger("pmflow.database")


def database_url(url: str | None = None) -> str:
    """The URL to use: given, else ``PMFLOW_DATABASE_URL``, else ``./pmflow.db``."""
    return normalise_url(url or os.environ.get(URL_ENV) or DEFAULT_URL)


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3, the driver pmflow installs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """One SQLAlchemy engine plus pmflow's transaction discipline.

    ``write()`` on SQLite starts ``BEGIN IMMEDIATE`` so the guards of a transition read the same
    data it commits against (one writer at a time, no upgrade deadlock); on PostgreSQL the
    engine locks the subject row with ``FOR UPDATE``.
    """

    def __init__(self, url: str | None = None, *, echo: bool = False, **engine_args: Any) -> None:
        self.url: URL = make_url(database_url(url))
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine: Engine = create_engine(self.url, echo=echo, **engine_args)
        if self.is_sqlite:
            _configure_sqlite(self.engine, in_memory=self.url.database in (None, "", ":memory:"))

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that will write; commits on success, rolls back on any exception.

        Callbacks given to ``after_commit`` during it run once it has committed (never on rollback).
        """
        with self.engine.connect() as connection:
            connection.execution_options(**{_WRITE: True})
            callbacks: list[Callable[[], None]] = []
            connection.info[_AFTER_COMMIT] = callbacks
            try:
                with connection.begin():
                    yield connection
            finally:
                connection.info.pop(_AFTER_COMMIT, None)
        for callback in callbacks:  # reached only when the commit succeeded
            try:
                callback()
            except Exception:  # the transaction stands; a failing listener must not undo the caller's work
                log.exception("an after-commit callback failed")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (one consistent snapshot)."""
        with self.engine.connect() as connection, connection.begin():
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()


def _configure_sqlite(engine: Engine, *, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN out of pysqlite's hands so that we can say IMMEDIATE (SQLAlchemy's recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against application crashes in WAL mode; see docs/decisions.md.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def after_commit(connection: Connection, callback: Callable[[], None]) -> bool:
    """Run ``callback`` once the ``Database.write()`` transaction of ``connection`` commits.

    False (and nothing scheduled) when the connection is not inside ``Database.write()``.
    """
    callbacks = connection.info.get(_AFTER_COMMIT)
    if callbacks is None:
        return False
    callbacks.append(callback)
    return True
