"""The viewer's in-app notifications and who-hears-what preferences (signed in; one's own only).

Rows come from the in-app channel (``pmflow.plugins.inapp``). A viewer sees their own notifications,
and only those of projects they may still see (``pmflow.api.access.project_clause``): a customer
never learns about another customer's project, a member removed from a project stops seeing its.

The subscription polls the viewer's rows (``POLL_SECONDS``): the worker that writes them may run in
another process, and an indexed query per subscriber per poll is cheap. Each subscriber gets
objects of its own, so the shared executions of ``pmflow.api.fanout`` never mix two users.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy import ColumnElement, and_, func, or_, select, update

from pmflow.api.access import project_clause
from pmflow.api.context import Context, Info
from pmflow.api.errors import Error, attempt, graphql_error
from pmflow.api.ids import expect_id, to_global_id
from pmflow.api.listen import TYPE_OF_KIND
from pmflow.api.loaders import in_thread
from pmflow.api.node import visible
from pmflow.api.notifications.store import event_types
from pmflow.api.pagination import Connection, connection, window
from pmflow.core.database import Database
from pmflow.core.errors import InvalidInput, NotFound, PmflowError
from pmflow.domain import tables as t
from pmflow.plugins.channels import ALL_EVENTS
from pmflow.plugins.preferences import CHANNELS

POLL_SECONDS = 1.0
MAX_IDS = 500

n = t.notifications
p = t.notification_preferences


@strawberry.type(description="Something that happened in a project, for the viewer (the in-app channel).")
class Notification:
    id: strawberry.ID
    event_id: str = strawberry.field(description="The history event's id.")
    event_type: str = strawberry.field(
        description="'<subject kind>.<trigger>', e.g. 'project.request_acceptance'."
    )
    project_id: strawberry.ID | None
    subject_id: strawberry.ID = strawberry.field(description="The requirement, iteration... it is about.")
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None

    @strawberry.field(description="Whether the viewer has marked it read.")
    def read(self) -> bool:
        return self.read_at is not None

    @classmethod
    def from_row(cls, row: Any) -> Notification:
        type_name = TYPE_OF_KIND.get(str(row.event_type).split(".")[0], "Subject")
        return cls(
            id=strawberry.ID(to_global_id("Notification", row.id)),
            event_id=row.event_id,
            event_type=row.event_type,
            project_id=None
            if row.project_id is None
            else strawberry.ID(to_global_id("Project", row.project_id)),
            subject_id=strawberry.ID(to_global_id(type_name, row.subject_id)),
            title=row.title,
            body=row.body,
            created_at=row.created_at,
            read_at=row.read_at,
        )


@strawberry.type(description="One of the viewer's rules: whether an event type reaches them on a channel.")
class NotificationPreference:
    id: strawberry.ID
    project_id: strawberry.ID | None = strawberry.field(description="Null: every project.")
    event_type: str = strawberry.field(description="'<subject kind>.<trigger>' or '*' for every type.")
    channel: str = strawberry.field(description="'in_app' or 'email'.")
    enabled: bool

    @classmethod
    def from_row(cls, row: Any) -> NotificationPreference:
        return cls(
            id=strawberry.ID(to_global_id("NotificationPreference", row.id)),
            project_id=None
            if row.project_id is None
            else strawberry.ID(to_global_id("Project", row.project_id)),
            event_type=row.event_type,
            channel=row.channel,
            enabled=bool(row.enabled),
        )


@strawberry.input
class MarkNotificationsReadInput:
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="The viewer's notifications."
    )
    all: bool = strawberry.field(default=False, description="Every unread notification of the viewer.")


@strawberry.input
class SetNotificationPreferenceInput:
    project_id: strawberry.ID | None = strawberry.field(default=None, description="Null: every project.")
    event_type: str = strawberry.field(description="'<subject kind>.<trigger>' of the workflows, or '*'.")
    channel: str = strawberry.field(description="'in_app' or 'email'.")
    enabled: bool


@strawberry.type
class MarkNotificationsReadPayload:
    marked: int = strawberry.field(description="How many notifications this call marked read.")
    unread_count: int
    errors: list[Error]


@strawberry.type
class NotificationPreferencePayload:
    preference: NotificationPreference | None
    errors: list[Error]


def _user_id(context: Context) -> int:
    context.actor  # noqa: B018  (Unauthenticated when nobody is signed in)
    assert context.user is not None
    return int(context.user.id)


def _mine(context: Context) -> ColumnElement[bool]:
    """The viewer's notifications of projects they may see."""
    own = n.c.user_id == _user_id(context)
    clause = project_clause(context)
    if clause is None:
        return own
    visible = select(t.projects.c.id).where(clause)
    return and_(own, or_(n.c.project_id.is_(None), n.c.project_id.in_(visible)))


def _unread(database: Database, mine: ColumnElement[bool]) -> int:
    with database.read() as conn:
        query = select(func.count()).select_from(n).where(mine, n.c.read_at.is_(None))
        return int(conn.execute(query).scalar_one())


def _mark_read(database: Database, mine: ColumnElement[bool], ids: list[int] | None, now: datetime) -> int:
    with database.write() as conn:
        where = and_(mine, n.c.read_at.is_(None))
        if ids is not None:
            found = set(conn.execute(select(n.c.id).where(mine, n.c.id.in_(ids))).scalars())
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFound(
                    f"no Notification with id {to_global_id('Notification', missing[0])}", field="ids"
                )
            where = and_(where, n.c.id.in_(ids))
        return int(conn.execute(update(n).where(where).values(read_at=now)).rowcount)


def _set_preference(
    database: Database, user_id: int, project_id: int | None, event_type: str, channel: str, enabled: bool
) -> Any:
    with database.write() as conn:
        same = and_(
            p.c.user_id == user_id,
            p.c.role.is_(None),
            p.c.project_id.is_(None) if project_id is None else p.c.project_id == project_id,
            p.c.event_type == event_type,
            p.c.channel == channel,
        )
        found = conn.execute(select(p.c.id).where(same)).scalar()
        if found is None:
            values = {
                "user_id": user_id,
                "role": None,
                "project_id": project_id,
                "event_type": event_type,
                "channel": channel,
                "enabled": enabled,
            }
            found = conn.execute(p.insert().values(**values).returning(p.c.id)).scalar_one()
        else:
            conn.execute(update(p).where(p.c.id == found).values(enabled=enabled))
        return conn.execute(select(p).where(p.c.id == found)).one()


@strawberry.type
class InboxQuery:
    @strawberry.field(description="The viewer's notifications, newest first; at most 100 a page.")
    async def notifications(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        unread_only: Annotated[bool, strawberry.argument(description="Only those not marked read.")] = False,
    ) -> Connection[Notification]:
        context = info.context
        mine = _mine(context)
        if unread_only:
            mine = and_(mine, n.c.read_at.is_(None))
        database = context.app.database

        def load() -> tuple[list[Any], Any]:
            with database.read() as conn:
                total = int(conn.execute(select(func.count()).select_from(n).where(mine)).scalar_one())
                page = window(total, first=first, after=after)
                query = select(n).where(mine).order_by(n.c.id.desc())
                rows = list(conn.execute(query.offset(page.start).limit(page.end - page.start)))
            return rows, page

        rows, page = await in_thread(load)
        return connection(rows, page, Notification.from_row, offset=page.start)

    @strawberry.field(description="How many of the viewer's notifications are not marked read.")
    async def unread_notification_count(self, info: Info) -> int:
        mine = _mine(info.context)
        return await in_thread(lambda: _unread(info.context.app.database, mine))

    @strawberry.field(
        description="The viewer's own rules; without a rule the defaults by role apply (docs/plugins.md)."
    )
    async def notification_preferences(self, info: Info) -> list[NotificationPreference]:
        user_id = _user_id(info.context)
        database = info.context.app.database

        def load() -> list[Any]:
            with database.read() as conn:
                return list(conn.execute(select(p).where(p.c.user_id == user_id).order_by(p.c.id)))

        return [NotificationPreference.from_row(row) for row in await in_thread(load)]


@strawberry.type
class InboxMutation:
    @strawberry.mutation(
        description="Mark some (`ids`) or all (`all: true`) of the viewer's notifications read."
    )
    async def mark_notifications_read(
        self, info: Info, input: MarkNotificationsReadInput
    ) -> MarkNotificationsReadPayload:
        context = info.context
        database = context.app.database

        async def act() -> int:
            mine = _mine(context)
            if input.all == (input.ids is not None):
                raise InvalidInput("give either ids or all: true", field="ids")
            if input.ids is not None and len(input.ids) > MAX_IDS:
                raise InvalidInput(f"at most {MAX_IDS} ids at once, got {len(input.ids)}", field="ids")
            ids = (
                None if input.ids is None else [expect_id(i, "Notification", field="ids") for i in input.ids]
            )
            now = context.app.engine.clock()
            return await in_thread(lambda: _mark_read(database, mine, ids, now))

        marked, errors = await attempt(act)
        unread = await in_thread(lambda: _unread(database, _mine(context)))
        return MarkNotificationsReadPayload(marked=marked or 0, unread_count=unread, errors=errors)

    @strawberry.mutation(
        description="Switch an event type (or '*') on or off for the viewer on a channel, in one project "
        "or all; the most specific rule wins (docs/plugins.md, 'Who hears what')."
    )
    async def set_notification_preference(
        self, info: Info, input: SetNotificationPreferenceInput
    ) -> NotificationPreferencePayload:
        context = info.context

        async def act() -> NotificationPreference:
            user_id = _user_id(context)
            if input.channel not in CHANNELS:
                raise InvalidInput(
                    f"channel is one of {', '.join(CHANNELS)}, got '{input.channel}'", field="channel"
                )
            known = event_types(context.app.registry)
            if input.event_type != ALL_EVENTS and input.event_type not in known:
                raise InvalidInput(
                    f"unknown event type '{input.event_type}': '<subject kind>.<trigger>' of the loaded "
                    "workflows, or '*'",
                    field="eventType",
                )
            project_id = None
            if input.project_id is not None:
                project_id = expect_id(input.project_id, "Project", field="projectId")
                row = await context.loaders.by_id(t.projects).load(project_id)
                if row is None or not await visible(info, "Project", row):
                    raise NotFound("no Project with this id", field="projectId")
            row = await in_thread(
                lambda: _set_preference(
                    context.app.database, user_id, project_id, input.event_type, input.channel, input.enabled
                )
            )
            return NotificationPreference.from_row(row)

        preference, errors = await attempt(act)
        return NotificationPreferencePayload(preference=preference, errors=errors)


@strawberry.type
class InboxSubscription:
    @strawberry.subscription(description="The viewer's new notifications, as the in-app channel stores them.")
    async def notifications(self, info: Info) -> AsyncGenerator[Notification, None]:
        context = info.context
        try:
            mine = _mine(context)
        except PmflowError as error:
            raise graphql_error(error) from error
        database = context.app.database

        def newest() -> int:
            with database.read() as conn:
                return int(conn.execute(select(func.coalesce(func.max(n.c.id), 0)).where(mine)).scalar_one())

        def since(last: int) -> list[Any]:
            with database.read() as conn:
                return list(conn.execute(select(n).where(mine, n.c.id > last).order_by(n.c.id)))

        last = await in_thread(newest)
        while True:
            await asyncio.sleep(POLL_SECONDS)
            for row in await in_thread(functools.partial(since, last)):
                last = int(row.id)
                yield Notification.from_row(row)  # a new object per subscriber: never shared
