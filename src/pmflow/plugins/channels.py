"""What the notification channels share: event type names and queueing outbox messages.

An event's type is ``<subject kind>.<trigger>`` (``project.put_on_hold``, ``requirement.create`` for
a creation); ``*`` matches every type. The API checks webhook event types against the loaded
workflows (``pmflow.api.notifications.store.event_types``). A channel fans an event out inside the
transaction that records it (``pmflow_event_recorded``): one outbox row per receiver, so each
receiver's delivery is retried on its own by the worker and one receiver being down never
redelivers to another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, insert

from pmflow.core.tables import outbox
from pmflow.core.types import HistoryEvent, Subject

ALL_EVENTS = "*"


def event_type(kind: str, trigger: str) -> str:
    return f"{kind}.{trigger}"


def matches(patterns: Iterable[str], type_: str) -> bool:
    return any(p in (ALL_EVENTS, type_) for p in patterns)


def event_body(event: HistoryEvent, subject: Subject) -> dict[str, Any]:
    """The event as channels send it (JSON-ready)."""
    return {
        "event_id": event.event_id,
        "type": event_type(subject.kind, event.trigger),
        "subject_id": subject.id,
        "subject_kind": subject.kind,
        "workflow": subject.workflow,
        "trigger": event.trigger,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "version": event.subject_version,
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "occurred_at": event.occurred_at.isoformat(),
    }


def queue(
    connection: Connection, event: HistoryEvent, topic: str, payloads: Iterable[Mapping[str, Any]]
) -> int:
    """Write one pending outbox row per payload, in the event's transaction; how many."""
    rows = [
        {
            "event_id": event.event_id,
            "subject_id": event.subject_id,
            "topic": topic,
            "payload": dict(payload),
            "status": "pending",
            "attempts": 0,
            "available_at": event.occurred_at,
            "created_at": event.occurred_at,
        }
        for payload in payloads
    ]
    if rows:
        connection.execute(insert(outbox), rows)
    return len(rows)
