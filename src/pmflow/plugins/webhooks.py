"""The webhook channel: every event POSTed, signed, to each active webhook that wants its type.

Fan-out: inside the transaction that records an event, one outbox row (topic ``webhook``) per matching
webhook, carrying the webhook's url and secret as they are at that moment; the worker's consumer
``webhooks`` then POSTs each row on its own, so each webhook is its own delivery in the delivery log.
The worker has no handle on the database, hence url and secret travel in the row (the same database
holds them in ``webhooks`` anyway); deleting a webhook cancels its undelivered rows
(``cancel_deliveries``). docs/decisions.md ("Webhooks: one outbox row per webhook").

Contract (checked by receivers): ``X-Pmflow-Event-Id: <event id>`` and
``X-Pmflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.
2xx is delivered; 408, 429, 5xx and connection errors raise (the worker retries with backoff); any
other status is a refusal: dead at once (``PermanentFailure``), not retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from sqlalchemy import Connection, select

from pmflow.core.hookspecs import hookimpl
from pmflow.core.outbox import OutboxConsumer, OutboxDelivery, PermanentFailure
from pmflow.core.types import HistoryEvent, Subject
from pmflow.domain.tables import webhooks
from pmflow.plugins.channels import event_body, matches, queue

log = logging.getLogger("pmflow.webhooks")

TOPIC = "webhook"
CONSUMER = "webhooks"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
RETRIED_STATUSES = frozenset({408, 429})
EVENT_HEADER = "X-Pmflow-Event-Id"
SIGNATURE_HEADER = "X-Pmflow-Signature"
USER_AGENT = "pmflow-webhooks/1"

Clock = Callable[[], float]


class WebhookFailed(Exception):
    """A delivery to retry: the receiver is unreachable, timed out, or answered 408, 429 or 5xx."""


def body_bytes(body: Mapping[str, Any]) -> bytes:
    """The raw body exactly as signed and sent."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Pmflow-Signature`` value: ``t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@hookimpl
def pmflow_event_recorded(event: HistoryEvent, subject: Subject, connection: Connection) -> None:
    body = event_body(event, subject)
    wanted = [
        row
        for row in connection.execute(
            select(webhooks.c.id, webhooks.c.url, webhooks.c.secret, webhooks.c.events).where(
                webhooks.c.active.is_(True)
            )
        )
        if matches(row.events, body["type"])
    ]
    queue(
        connection,
        event,
        TOPIC,
        ({"webhook_id": row.id, "url": row.url, "secret": row.secret, "body": body} for row in wanted),
    )


def send(delivery: OutboxDelivery, *, clock: Clock = time.time) -> None:
    """POST one outbox row to its webhook; raises ``WebhookFailed`` when it should be retried."""
    payload = delivery.payload
    url = str(payload["url"])
    body = body_bytes(payload["body"])
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: delivery.event_id,
        SIGNATURE_HEADER: signature(str(payload["secret"]), int(clock()), body),
    }
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as error:  # refused, reset, timed out, bad TLS...
        raise WebhookFailed(
            f"webhook {payload['webhook_id']} at {url}: {type(error).__name__}: {error}"
        ) from None
    status = response.status_code
    if 200 <= status < 300:
        return
    where = f"webhook {payload['webhook_id']} at {url} answered HTTP {status}"
    if status in RETRIED_STATUSES or status >= 500:
        raise WebhookFailed(where)
    # A refusal (400, 401, 404, 410, or a redirect) will not change by asking again: not retried,
    # recorded as dead with the answer (the delivery log shows it; retryDelivery sends it again).
    raise PermanentFailure(f"{where}: refused, not retried")


@hookimpl
def pmflow_outbox_consumers() -> list[OutboxConsumer]:
    return [
        OutboxConsumer(
            CONSUMER,
            send,
            topics=frozenset({TOPIC}),
            description="POSTs events to the registered webhooks, signed (X-Pmflow-Signature)",
        )
    ]
