"""DataLoaders, made per request: rows by id and rows by project in one query per batch (no N+1).

Database work runs in worker threads (the engine is synchronous SQLAlchemy; see decisions.md), the
batches that are ready together in one hop and one read transaction (``ReadBatches``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from anyio import to_thread
from sqlalchemy import Connection, Row, Table, bindparam, select
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


class ReadBatches:
    """Runs the loaders' batches that become ready in the same turn of the event loop in one
    worker-thread hop and one read transaction.

    A nested query's loaders (a project's customer, requirements, iterations, risks, history)
    dispatch together; each in its own hop cost a pool check-out, a BEGIN and a thread hand-over
    (hundreds of microseconds of CPU on a busy 2-core machine, docs/performance.md). Together they
    also read one consistent snapshot.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._pending: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]] = []
        self._running: set[asyncio.Future[Any]] = set()  # the loop keeps only weak references

    async def read(self, work: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)  # after the other batches dispatched in this turn
        self._pending.append((work, future))
        return await future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        task = asyncio.ensure_future(in_thread(self._run, [work for work, _ in pending]))  # noqa: RUF006
        self._running.add(task)  # (the reference RUF006 asks for)
        task.add_done_callback(self._running.discard)
        task.add_done_callback(lambda done: _settle(done, [future for _, future in pending]))

    def _run(self, works: list[Callable[[Connection], Any]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        with self.database.read() as conn:
            for work in works:
                try:
                    outcomes.append((True, work(conn)))
                except Exception as error:  # that batch's failure, not its neighbours'
                    outcomes.append((False, error))
        return outcomes


def _settle(done: asyncio.Future[list[tuple[bool, Any]]], futures: list[asyncio.Future[Any]]) -> None:
    error = done.exception() if not done.cancelled() else asyncio.CancelledError()
    for index, future in enumerate(futures):
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
            continue
        ok, value = done.result()[index]
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class Loaders:
    """One set per request (never shared: a cached row must not outlive the request)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.batches = ReadBatches(database)
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
        def load(conn: Connection) -> list[Row[Any] | None]:
            found = {row.id: row for row in conn.execute(_by_id(table), {"keys": list(keys)})}
            return [found.get(key) for key in keys]

        return await self.batches.read(load)

    async def _load_by_column(self, table: Table, column: str, keys: Sequence[int]) -> list[list[Row[Any]]]:
        def load(conn: Connection) -> list[list[Row[Any]]]:
            grouped: dict[int, list[Row[Any]]] = defaultdict(list)
            for row in conn.execute(_by_column(table, column), {"keys": list(keys)}):
                grouped[row._mapping[column]].append(row)
            return [grouped.get(key, []) for key in keys]

        return await self.batches.read(load)

    def available_transitions(self, engine: WorkflowEngine, actor: Actor) -> DataLoader[int, Any]:
        """Each subject's transitions for the viewer, a whole list in one batch (a board asks this of
        every card). The guards themselves still run per subject: they are arbitrary functions of
        the subject, which no batch can replace."""
        if self._available is None:

            async def load(keys: Sequence[int]) -> list[Any]:
                def check(conn: Connection) -> list[Any]:
                    out: list[Any] = []
                    for key in keys:
                        try:
                            out.append(engine.available_transitions(key, actor, connection=conn))
                        except PmflowError as error:  # that subject's failure, not the batch's
                            out.append(error)
                    return out

                return await self.batches.read(check)

            self._available = DataLoader(load_fn=load)
        return self._available

    async def _load_history(self, keys: Sequence[int]) -> list[list[Row[Any]]]:
        def load(conn: Connection) -> list[list[Row[Any]]]:
            grouped: dict[int, list[Row[Any]]] = defaultdict(list)
            for row in conn.execute(_HISTORY, {"keys": list(keys)}):
                grouped[row.subject_id].append(row)
            return [grouped.get(key, []) for key in keys]

        return await self.batches.read(load)
