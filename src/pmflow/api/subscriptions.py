"""Live history events of a project, as they commit."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from pmflow.api.context import Info
from pmflow.api.errors import graphql_error
from pmflow.api.governed import HistoryEvent
from pmflow.api.ids import expect_id
from pmflow.api.node import visible
from pmflow.core.errors import NotFound, PmflowError
from pmflow.domain import tables as t


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every history event of the project and what it holds, as it commits."
    )
    async def events(self, info: Info, project_id: strawberry.ID) -> AsyncGenerator[HistoryEvent, None]:
        context = info.context
        try:
            context.actor  # noqa: B018
            pk = expect_id(project_id, "Project", field="projectId")
            row = await context.loaders.by_id(t.projects).load(pk)
            if row is None or not await visible(info, "Project", row):
                raise NotFound("no Project with this id", field="projectId")
        except PmflowError as error:
            # subscription errors do not pass through ErrorPolicy: give them their code here
            raise graphql_error(error) from error
        broker = context.extra["broker"]
        async for published in broker.subscribe(pk):
            # one object for every subscriber, so that their executions can be shared
            views = published.views
            if "event" not in views:
                views["event"] = HistoryEvent.from_row(published.row, published.subject_type)
            yield views["event"]
