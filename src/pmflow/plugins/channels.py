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

from pmflow.core.outbox import pending_row
from pmflow.core.tables import outbox
from pmflow.core.types import HistoryEvent, Subject

ALL_EVENTS = "*"

CUSTOMER, TEAM = "customer", "team"

# Who hears what by default (docs/plugins.md, "Who hears what"): event type -> (title, audiences).
# ``customer``: the users and contacts of the project's customer; ``team``: the project's members. The
# email and in-app channels share it; preferences (pmflow.plugins.preferences) override it.
NOTIFIED: Mapping[str, tuple[str, frozenset[str]]] = {
    "project.request_confirmation": (
        "Please confirm the requirements of {project}",
        frozenset({CUSTOMER, TEAM}),
    ),
    "project.remind_customer": ("Reminder: {project} is waiting for you", frozenset({CUSTOMER, TEAM})),
    "project.request_acceptance": ("Please review the delivery of {project}", frozenset({CUSTOMER, TEAM})),
    "requirement.submit_for_review": (
        "A requirement of {project} is ready for your review",
        frozenset({CUSTOMER, TEAM}),
    ),
    "deliverable.pass_qa": ("A deliverable of {project} awaits your acceptance", frozenset({CUSTOMER, TEAM})),
    "deliverable.remind_customer": (
        "Reminder: a deliverable of {project} awaits your acceptance",
        frozenset({CUSTOMER, TEAM}),
    ),
    "change_request.submit_assessment": (
        "A change request for {project} awaits your decision",
        frozenset({CUSTOMER, TEAM}),
    ),
    # a review invitation and a progress report: the in-app channel only (not in MAILED)
    "iteration.finish_work": (
        "An iteration of {project} is ready for its review",
        frozenset({CUSTOMER, TEAM}),
    ),
    "iteration.close": ("Progress report: an iteration of {project} is closed", frozenset({CUSTOMER, TEAM})),
}


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
        pending_row(event.event_id, topic, event.subject_id, payload, event.occurred_at)
        for payload in payloads
    ]
    if rows:
        connection.execute(insert(outbox), rows)
    return len(rows)
