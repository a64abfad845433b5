"""Webhooks (never their secret) and deliveries as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from pmflow.api.ids import to_global_id


@strawberry.type(description="Where events are POSTed, signed with its secret (never shown again).")
class Webhook:
    id: strawberry.ID
    url: str
    events: list[str] = strawberry.field(
        description="Event types sent: '<subject kind>.<trigger>' (e.g. 'project.put_on_hold'), '*' for all."
    )
    active: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Webhook:
        return cls(
            id=strawberry.ID(to_global_id("Webhook", row.id)),
            url=row.url,
            events=list(row.events),
            active=bool(row.active),
            created_at=row.created_at,
        )


@strawberry.type(description="One outbox message to one consumer (a webhook, the mail, a plugin): the log.")
class Delivery:
    id: strawberry.ID
    event_id: str = strawberry.field(description="The history event's id (X-Pmflow-Event-Id).")
    consumer: str = strawberry.field(description="Who receives it, e.g. 'webhooks' or 'email'.")
    topic: str = strawberry.field(description="'event', 'webhook', 'email' or a workflow's emit topic.")
    webhook_id: strawberry.ID | None = strawberry.field(description="The webhook, for topic 'webhook'.")
    status: str = strawberry.field(description="pending, failed (retried later), delivered or dead.")
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Delivery:
        webhook = row.payload.get("webhook_id") if row.topic == "webhook" else None
        return cls(
            id=strawberry.ID(to_global_id("Delivery", row.id)),
            event_id=row.event_id,
            consumer=row.consumer,
            topic=row.topic,
            webhook_id=None if webhook is None else strawberry.ID(to_global_id("Webhook", int(webhook))),
            status=row.status,
            attempts=row.attempts,
            last_error=row.last_error,
            next_attempt_at=row.next_attempt_at,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
        )
