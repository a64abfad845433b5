"""DataLoaders, made per request: rows by id and rows by project in one query per batch (no N+1).

Database work runs in worker threads (the engine is synchronous SQLAlchemy; see decisions.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from anyio import to_thread
from sqlalchemy import Row, Table, bindparam, select
from strawberry.dataloader import DataLoader

from pmflow.core.database import Database
from pmflow.core.engine import WorkflowEngine
from pmflow.core.errors import PmflowError
from pmflow.core.tables import events, subjects
from pmflow.core.types import Actor
from pmflow.domain import tables as t

T = TypeVar("T")

GOVERNED = {
    t.projects.name,
    t.requirements.name,
    t.change_requests.name,
    t.iterations.name,
    t.deliverables.name,
    t.risks.name,
}


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await to_thread.run_sync(partial(fn, *args))


def _build_select(table: Table) -> Any:
    if table.name in GOVERNED:
        return select(
            table,
            subjects.c.state,
            subjects.c.version,
            subjects.c.workflow,
            subjects.c.workflow_version,
            subjects.c.data.label("custom_fields"),
            subjects.c.created_at.label("subject_created_at"),
            subjects.c.updated_at.label("subject_updated_at"),
        ).join(subjects, subjects.c.id == table.c.id)
    return select(table)


_BY_ID: dict[str, Any] = {}
_BY_COLUMN: dict[tuple[str, str], Any] = {}
_HISTORY = (
    select(events).where(events.c.subject_id.in_(bindparam("keys", expanding=True))).order_by(events.c.id)
)


def _by_id(table: Table) -> Any:
    """Built once per table with an expanding IN parameter, so SQLAlchemy reuses its compiled form."""
    statement = _BY_ID.get(table.name)
    if statement is None:
        statement = _build_select(table).where(table.c.id.in_(bindparam("keys", expanding=True)))
        _BY_ID[table.name] = statement
    return statement


def _by_column(table: Table, column: str) -> Any:
    statement = _BY_COLUMN.get((table.name, column))
    if statement is None:
        statement = (
            _build_select(table)
            .where(table.c[column].in_(bindparam("keys", expanding=True)))
            .order_by(table.c.id)
        )
        _BY_COLUMN[(table.name, column)] = statement
    return statement


class Loaders:
    """One set per request (never shared: a cached row must not outlive the request)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._by_id: dict[str, DataLoader[int, Row[Any] | None]] = {}
        self._by_column: dict[tuple[str, str], DataLoader[int, list[Row[Any]]]] = {}
        self.history: DataLoader[int, list[Row[Any]]] = DataLoader(load_fn=self._load_history)
        self._available: DataLoader[int, Any] | None = None  # the viewer is fixed per request

    def by_id(self, table: Table) -> DataLoader[int, Row[Any] | None]:
        loader = self._by_id.get(table.name)
        if loader is None:
            loader = DataLoader(load_fn=partial(self._load_by_id, table))
            self._by_id[table.name] = loader
        return loader

    def by_column(self, table: Table, column: str = "project_id") -> DataLoader[int, list[Row[Any]]]:
        key = (table.name, column)
        loader = self._by_column.get(key)
        if loader is None:
            loader = DataLoader(load_fn=partial(self._load_by_column, table, column))
            self._by_column[key] = loader
        return loader

    async def _load_by_id(self, table: Table, keys: Sequence[int]) -> list[Row[Any] | None]:
        def load() -> list[Row[Any] | None]:
            with self.database.read() as conn:
                found = {row.id: row for row in conn.execute(_by_id(table), {"keys": list(keys)})}
            return [found.get(key) for key in keys]

        return await in_thread(load)

    async def _load_by_column(self, table: Table, column: str, keys: Sequence[int]) -> list[list[Row[Any]]]:
        def load() -> list[list[Row[Any]]]:
            grouped: dict[int, list[Row[Any]]] = defaultdict(list)
            with self.database.read() as conn:
                for row in conn.execute(_by_column(table, column), {"keys": list(keys)}):
                    grouped[row._mapping[column]].append(row)
            return [grouped.get(key, []) for key in keys]

        return await in_thread(load)

    def available_transitions(self, engine: WorkflowEngine, actor: Actor) -> DataLoader[int, Any]:
        """Each subject's transitions for the viewer: one worker-thread hop and one read transaction
        for a whole list (a board asks this of every card). The guards themselves still run per
        subject: they are arbitrary functions of the subject, which no batch can replace."""
        if self._available is None:

            async def load(keys: Sequence[int]) -> list[Any]:
                def check() -> list[Any]:
                    out: list[Any] = []
                    with self.database.read() as conn:
                        for key in keys:
                            try:
                                out.append(engine.available_transitions(key, actor, connection=conn))
                            except PmflowError as error:  # that subject's failure, not the batch's
                                out.append(error)
                    return out

                return await in_thread(check)

            self._available = DataLoader(load_fn=load)
        return self._available

    async def _load_history(self, keys: Sequence[int]) -> list[list[Row[Any]]]:
        def load() -> list[list[Row[Any]]]:
            grouped: dict[int, list[Row[Any]]] = defaultdict(list)
            with self.database.read() as conn:
                for row in conn.execute(_HISTORY, {"keys": list(keys)}):
                    grouped[row.subject_id].append(row)
            return [grouped.get(key, []) for key in keys]

        return await in_thread(load)
