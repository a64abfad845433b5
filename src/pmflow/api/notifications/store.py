"""Webhooks and the delivery log in the database: validation, create, delete, retry.

Event type names (``<subject kind>.<trigger>``, ``*`` for all) are the ones the webhook channel
(``pmflow.plugins.webhooks``) matches; they are checked against the loaded workflows here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select, update

from pmflow.core.database import Database
from pmflow.core.errors import InvalidInput, NotFound
from pmflow.core.problems import did_you_mean
from pmflow.core.registry import WorkflowRegistry
from pmflow.core.tables import deliveries, outbox
from pmflow.domain.tables import webhooks

ALL_EVENTS = "*"
CREATE_TRIGGER = "create"
WEBHOOK_TOPIC = "webhook"
MAX_URL = 2000
MAX_SECRET = 500
MAX_EVENTS = 200
RETRYABLE = frozenset({"failed", "dead"})


def event_types(registry: WorkflowRegistry) -> set[str]:
    """Every event type the loaded workflows produce: ``<subject kind>.<trigger>``, creation included."""
    found: set[str] = set()
    for definition in registry:
        found.add(f"{definition.subject}.{CREATE_TRIGGER}")
        found.update(f"{definition.subject}.{t.trigger}" for t in definition.transitions)
    return found


def check_url(url: str) -> str:
    url = url.strip()
    if len(url) > MAX_URL:
        raise InvalidInput(f"the url is longer than {MAX_URL} characters", field="url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError as error:
        raise InvalidInput(f"'{url}' is not a valid URL: {error}", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"the url must be an http:// or https:// URL with a host, got '{url}'", field="url"
        )
    if parts.username or parts.password:
        raise InvalidInput(
            "the url cannot carry a user or password: the secret signs each request", field="url"
        )
    return url


def check_secret(secret: str) -> str:
    if not secret.strip():
        raise InvalidInput("the secret cannot be empty: it signs every delivery", field="secret")
    if len(secret) > MAX_SECRET:
        raise InvalidInput(f"the secret is longer than {MAX_SECRET} characters", field="secret")
    return secret


def check_events(events: Sequence[str], known: set[str]) -> list[str]:
    if not events:
        raise InvalidInput("name at least one event type, or '*' for all", field="events")
    if len(events) > MAX_EVENTS:
        raise InvalidInput(f"at most {MAX_EVENTS} event types", field="events")
    for index, name in enumerate(events):
        if name != ALL_EVENTS and name not in known:
            hint = did_you_mean(name, known)
            raise InvalidInput(
                f"unknown event type '{name}': event types are '<subject kind>.<trigger>' of the loaded "
                f"workflows (e.g. 'project.put_on_hold'), or '*'" + (f"; {hint}" if hint else ""),
                field=f"events.{index}",
            )
    return list(dict.fromkeys(events))  # once each, in the order given


def create_webhook(
    database: Database,
    registry: WorkflowRegistry,
    *,
    url: str,
    secret: str,
    events: Sequence[str],
    created_by: int | None,
    now: datetime,
) -> Any:
    values = {
        "url": check_url(url),
        "secret": check_secret(secret),
        "events": check_events(events, event_types(registry)),
        "active": True,
        "created_at": now,
        "created_by": created_by,
    }
    with database.write() as conn:
        webhook_id = conn.execute(insert(webhooks).returning(webhooks.c.id), values).scalar_one()
        return conn.execute(select(webhooks).where(webhooks.c.id == webhook_id)).one()


def delete_webhook(database: Database, webhook_id: int, now: datetime) -> Any:
    """Delete a webhook; its deliveries not yet made are dead-lettered and lose the secret."""
    with database.write() as conn:
        row = conn.execute(select(webhooks).where(webhooks.c.id == webhook_id)).first()
        if row is None:
            raise NotFound("no webhook with this id", field="id")
        waiting = conn.execute(
            select(outbox.c.id, outbox.c.payload).where(
                outbox.c.topic == WEBHOOK_TOPIC, outbox.c.status.in_(("pending", "in_flight"))
            )
        ).all()
        cancelled = [r.id for r in waiting if r.payload.get("webhook_id") == webhook_id]
        for outbox_id, payload in ((r.id, r.payload) for r in waiting if r.id in cancelled):
            scrubbed = {k: v for k, v in payload.items() if k != "secret"}
            conn.execute(
                update(outbox)
                .where(outbox.c.id == outbox_id)
                .values(status="dead", payload=scrubbed, last_error="the webhook was deleted")
            )
        if cancelled:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.outbox_id.in_(cancelled), deliveries.c.status.in_(("pending", "failed")))
                .values(status="dead", last_error="the webhook was deleted", next_attempt_at=now)
            )
        conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id))
        return row


def retry_delivery(database: Database, delivery_id: int, now: datetime) -> Any:
    """Make a failed or dead delivery due now, with a fresh count of attempts; the others of its outbox
    row are not repeated."""
    with database.write() as conn:
        row = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).first()
        if row is None:
            raise NotFound("no delivery with this id", field="id")
        if row.status not in RETRYABLE:
            raise InvalidInput(
                f"only a failed or dead delivery can be retried; this one is {row.status}", field="id"
            )
        source = conn.execute(
            select(outbox.c.topic, outbox.c.payload, outbox.c.status).where(outbox.c.id == row.outbox_id)
        ).one()
        if source.status == "in_flight":  # a worker holds it: its result would overwrite this retry
            raise InvalidInput("its message is being delivered right now; retry in a minute", field="id")
        if source.topic == WEBHOOK_TOPIC and "secret" not in source.payload:
            raise InvalidInput("its webhook was deleted: there is nothing to retry", field="id")
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(status="pending", attempts=0, next_attempt_at=now)
        )
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row.outbox_id)
            .values(status="pending", available_at=now, delivered_at=None)
        )
        return conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one()
