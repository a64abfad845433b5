"""Live events across processes: on PostgreSQL every recorded history event is announced with
``pg_notify`` inside its transaction, so listeners hear of it exactly when (and only if) it commits.

A built-in plugin. On SQLite there is one process per database file in practice, and the API
publishes its own events in-process.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, text

from pmflow.core.hookspecs import hookimpl
from pmflow.core.types import HistoryEvent, Subject

CHANNEL = "pmflow_events"
_notify = text("SELECT pg_notify(:channel, :payload)")


def announcement(event: HistoryEvent, subject: Subject) -> str:
    # The event's UUID, not its row id: several databases or schemas on one server never collide.
    return json.dumps(
        {"event_id": event.event_id, "id": event.id, "subject_id": subject.id, "kind": subject.kind}
    )


@hookimpl
def pmflow_event_recorded(event: HistoryEvent, subject: Subject, connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(_notify, {"channel": CHANNEL, "payload": announcement(event, subject)})
