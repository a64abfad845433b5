"""Webhook and delivery-log queries and mutations (admins only: declared in pmflow.api.access)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from sqlalchemy import func, select

from pmflow.api.context import Info
from pmflow.api.errors import Error, attempt
from pmflow.api.ids import expect_id
from pmflow.api.loaders import in_thread
from pmflow.api.notifications import store
from pmflow.api.notifications.types import Delivery, Webhook
from pmflow.api.pagination import Connection, connection, window
from pmflow.core.errors import InvalidInput
from pmflow.core.tables import deliveries, outbox
from pmflow.domain.tables import webhooks

DELIVERY_STATUSES = ("pending", "failed", "delivered", "dead")


@strawberry.input
class CreateWebhookInput:
    url: str = strawberry.field(description="http:// or https://; events are POSTed here as JSON.")
    secret: str = strawberry.field(
        description="Signs each request (X-Pmflow-Signature); stored, never returned."
    )
    events: list[str] = strawberry.field(
        description="Event types: '<subject kind>.<trigger>' of the loaded workflows, or ['*'] for all."
    )


@strawberry.input
class DeleteWebhookInput:
    id: strawberry.ID


@strawberry.input
class RetryDeliveryInput:
    id: strawberry.ID = strawberry.field(description="A failed or dead Delivery's id.")


@strawberry.type
class WebhookPayload:
    webhook: Webhook | None
    errors: list[Error]


@strawberry.type
class RetryDeliveryPayload:
    delivery: Delivery | None
    errors: list[Error]


def _check_status(status: str | None) -> None:
    if status is not None and status not in DELIVERY_STATUSES:
        raise InvalidInput(f"status is one of {', '.join(DELIVERY_STATUSES)}, got '{status}'", field="status")


_delivery_rows = select(deliveries, outbox.c.topic, outbox.c.payload).join(
    outbox, outbox.c.id == deliveries.c.outbox_id
)


@strawberry.type
class NotificationQuery:
    @strawberry.field(description="Registered webhooks, oldest first (admins only).")
    async def webhooks(self, info: Info) -> list[Webhook]:
        database = info.context.app.database

        def load() -> list[Any]:
            with database.read() as conn:
                return list(conn.execute(select(webhooks).order_by(webhooks.c.id)))

        return [Webhook.from_row(row) for row in await in_thread(load)]

    @strawberry.field(description="The delivery log, newest first (admins only); at most 100 a page.")
    async def deliveries(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: Annotated[
            str | None, strawberry.argument(description="pending, failed, delivered or dead.")
        ] = None,
    ) -> Connection[Delivery]:
        _check_status(status)
        database = info.context.app.database
        query = _delivery_rows if status is None else _delivery_rows.where(deliveries.c.status == status)

        def load() -> tuple[list[Any], Any]:
            with database.read() as conn:
                total = int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())
                page = window(total, first=first, after=after)
                ordered = query.order_by(deliveries.c.id.desc())
                rows = list(conn.execute(ordered.offset(page.start).limit(page.end - page.start)))
            return rows, page

        rows, page = await in_thread(load)
        return connection(rows, page, Delivery.from_row, offset=page.start)


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(
        description="Register a webhook (admins only): matching events are POSTed to `url`, signed with "
        "`secret` (docs/api.md, 'Webhooks')."
    )
    async def create_webhook(self, info: Info, input: CreateWebhookInput) -> WebhookPayload:
        context = info.context

        async def act() -> Webhook:
            user = context.user
            row = await in_thread(
                lambda: store.create_webhook(
                    context.app.database,
                    context.app.registry,
                    url=input.url,
                    secret=input.secret,
                    events=input.events,
                    created_by=None if user is None else int(user.id),
                    now=context.app.engine.clock(),
                )
            )
            return Webhook.from_row(row)

        webhook, errors = await attempt(act)
        return WebhookPayload(webhook=webhook, errors=errors)

    @strawberry.mutation(description="Delete a webhook (admins only); its undelivered events are dropped.")
    async def delete_webhook(self, info: Info, input: DeleteWebhookInput) -> WebhookPayload:
        context = info.context

        async def act() -> Webhook:
            webhook_id = expect_id(input.id, "Webhook")
            row = await in_thread(
                lambda: store.delete_webhook(context.app.database, webhook_id, context.app.engine.clock())
            )
            return Webhook.from_row(row)

        webhook, errors = await attempt(act)
        return WebhookPayload(webhook=webhook, errors=errors)

    @strawberry.mutation(
        description="Deliver a failed or dead delivery again now, attempts counted afresh (admins only)."
    )
    async def retry_delivery(self, info: Info, input: RetryDeliveryInput) -> RetryDeliveryPayload:
        context = info.context

        async def act() -> Delivery:
            delivery_id = expect_id(input.id, "Delivery")
            database = context.app.database
            await in_thread(lambda: store.retry_delivery(database, delivery_id, context.app.engine.clock()))

            def load() -> Any:
                with database.read() as conn:
                    return conn.execute(_delivery_rows.where(deliveries.c.id == delivery_id)).one()

            return Delivery.from_row(await in_thread(load))

        delivery, errors = await attempt(act)
        return RetryDeliveryPayload(delivery=delivery, errors=errors)
