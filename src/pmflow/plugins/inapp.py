"""The in-app channel: notifications stored per user, read through the API (query, subscription, mark read).

Fan-out as for the other channels: inside the event's transaction, one outbox row (topic ``in_app``)
per recipient user whose preferences let the event through (``pmflow.plugins.preferences``); the
recipients are the active users of the project's customer and the project's active members. The
worker's consumer ``in_app`` then writes the ``notifications`` row; a message delivered twice (at
least once delivery) is a no-op: the row is unique per (user, event id).

The consumer needs the database, which consumers are not handed: at startup (``pmflow_startup``)
this module registers a ``NotificationStore`` bound to the app's database, which provides it.
"""

from __future__ import annotations

from typing import Any

import pluggy
from sqlalchemy import Connection, exists, insert, select
from sqlalchemy.exc import IntegrityError

from pmflow.core.database import Database
from pmflow.core.hookspecs import hookimpl
from pmflow.core.outbox import OutboxConsumer, OutboxDelivery
from pmflow.core.types import HistoryEvent, Subject
from pmflow.domain import tables as t
from pmflow.domain.guards import project_id_of
from pmflow.plugins.channels import ALL_EVENTS, NOTIFIED, event_type, queue
from pmflow.plugins.preferences import IN_APP, decide, rules_for

TOPIC = "in_app"
CONSUMER = "in_app"
STORE_PLUGIN = "pmflow.plugins.inapp.store"


def recipients(connection: Connection, project_id: int) -> list[tuple[int, str]]:
    """(user id, organisation role) of the customer's active users and the project's active members."""
    customer_users = (
        select(t.users.c.id, t.users.c.role)
        .join(t.projects, t.projects.c.customer_id == t.users.c.customer_id)
        .where(t.projects.c.id == project_id, t.users.c.role == "customer", t.users.c.active.is_(True))
    )
    team = (
        select(t.users.c.id, t.users.c.role)
        .join(t.memberships, t.memberships.c.user_id == t.users.c.id)
        .where(t.memberships.c.project_id == project_id, t.users.c.active.is_(True))
    )
    found = {
        int(row.id): str(row.role) for row in [*connection.execute(customer_users), *connection.execute(team)]
    }
    return sorted(found.items())


def _anyone_asked(connection: Connection, type_: str) -> bool:
    """Whether a rule switches this (unmapped) event type on for someone: most events need no query more."""
    p = t.notification_preferences
    query = select(
        exists().where(p.c.channel == IN_APP, p.c.enabled.is_(True), p.c.event_type.in_([type_, ALL_EVENTS]))
    )
    return bool(connection.execute(query).scalar())


def render(event: HistoryEvent, subject: Subject, type_: str, project: str) -> tuple[str, str]:
    """(title, body) of the notification."""
    kind = subject.kind.replace("_", " ").capitalize()
    entry = NOTIFIED.get(type_)
    title = (
        entry[0].format(project=project) if entry else f"{kind} {subject.id} of {project}: {event.trigger}"
    )
    body = (
        f"{kind} {subject.id} moved from {event.from_state} to {event.to_state} ({event.trigger}),"
        f" by {event.actor_name or event.actor_id}." + (f" Comment: {event.comment}" if event.comment else "")
    )
    return title, body


@hookimpl
def pmflow_event_recorded(event: HistoryEvent, subject: Subject, connection: Connection) -> None:
    type_ = event_type(subject.kind, event.trigger)
    if type_ not in NOTIFIED and not _anyone_asked(connection, type_):
        return
    project_id = project_id_of(connection, subject)
    if project_id is None:
        return
    users = recipients(connection, project_id)
    rules = rules_for(connection, IN_APP, [user_id for user_id, _ in users], project_id)
    wanted = [
        user_id
        for user_id, role in users
        if decide(rules, user_id=user_id, role=role, project_id=project_id, event_type=type_)
    ]
    if not wanted:
        return
    name = connection.execute(select(t.projects.c.name).where(t.projects.c.id == project_id)).scalar()
    title, body = render(event, subject, type_, str(name or f"project {project_id}"))
    queue(
        connection,
        event,
        TOPIC,
        (
            {
                "user_id": user_id,
                "type": type_,
                "project_id": project_id,
                "subject_id": subject.id,
                "title": title,
                "body": body,
            }
            for user_id in wanted
        ),
    )


class NotificationStore:
    """The ``in_app`` consumer of one app's database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def deliver(self, delivery: OutboxDelivery) -> None:
        payload = delivery.payload
        n = t.notifications
        user_id = int(payload["user_id"])
        row = {
            "user_id": user_id,
            "event_id": delivery.event_id,
            "event_type": str(payload["type"]),
            "project_id": payload.get("project_id"),
            "subject_id": int(payload["subject_id"]),
            "title": str(payload["title"]),
            "body": str(payload["body"]),
            "created_at": delivery.created_at,
            "read_at": None,
        }
        try:
            with self.database.write() as conn:
                seen = conn.execute(
                    select(n.c.id).where(n.c.user_id == user_id, n.c.event_id == delivery.event_id)
                ).first()
                if seen is None:
                    conn.execute(insert(n).values(**row))
        except IntegrityError:
            # another worker wrote the same row meanwhile: delivered, exactly once
            pass

    @hookimpl
    def pmflow_outbox_consumers(self) -> list[OutboxConsumer]:
        return [
            OutboxConsumer(
                CONSUMER, self.deliver, topics=frozenset({TOPIC}), description="stores in-app notifications"
            )
        ]


@hookimpl
def pmflow_startup(app: Any) -> None:
    plugins: pluggy.PluginManager = app.plugins
    # a plugin manager may outlive an app (the API rebuilds the app on each start): bind the newest
    previous = plugins.get_plugin(STORE_PLUGIN)
    if previous is not None:
        plugins.unregister(previous)
    plugins.register(NotificationStore(app.database), name=STORE_PLUGIN)
