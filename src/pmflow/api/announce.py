"""In-process live events (SQLite): every history event this process records reaches its subscribers
once its transaction commits — transitions, creations, and whatever the domain or a worker fires,
not only what the API's own mutations fire.

On PostgreSQL ``pmflow.core.live`` announces events with ``pg_notify`` and ``listen.py`` feeds the
broker of every process, this one included, so this plugin stays silent there. A SQLite file written
by another process (a second ``pmflow serve`` on the same file, the CLI) is not heard: SQLite has no
notification channel; use PostgreSQL to run several processes.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Connection

from pmflow.api.events import EventBroker, Published
from pmflow.api.listen import TYPE_OF_KIND
from pmflow.core.database import Database, after_commit
from pmflow.core.hookspecs import hookimpl
from pmflow.core.types import HistoryEvent, Subject
from pmflow.domain.guards import project_of


class LocalAnnouncer:
    """A plugin bound to one running app: its broker and the event loop the broker lives on."""

    def __init__(self, database: Database, broker: EventBroker, loop: asyncio.AbstractEventLoop) -> None:
        self.database = database
        self.broker = broker
        self.loop = loop

    @hookimpl
    def pmflow_event_recorded(self, event: HistoryEvent, subject: Subject, connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            return  # LISTEN/NOTIFY reaches every process, this one included
        type_name = TYPE_OF_KIND.get(subject.kind)
        if type_name is None:
            return
        project_id = project_of(connection, subject.kind, subject.id)
        after_commit(connection, lambda: self._announce(event, subject, type_name, project_id))

    def _announce(
        self, event: HistoryEvent, subject: Subject, type_name: str, project_id: int | None
    ) -> None:
        if project_id is None:
            # A new child: its domain row is written after the subject's creation event, in the same
            # transaction; now that it has committed, it can be read.
            with self.database.read() as conn:
                project_id = project_of(conn, subject.kind, subject.id)
            if project_id is None:
                return
        published = Published(project_id=project_id, subject_type=type_name, row=event)
        self.loop.call_soon_threadsafe(self._publish, published)

    def _publish(self, published: Published) -> None:
        self.broker.publish(published)
