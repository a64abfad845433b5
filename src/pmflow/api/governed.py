"""What every workflow-governed type shares: state, version, workflow, what can be fired, history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from pmflow.api.access import hides, team_only
from pmflow.api.context import Info
from pmflow.api.ids import to_global_id
from pmflow.api.pagination import Connection, connection, window


@strawberry.type(description="The lifecycle a subject runs: a workflow file's name and version.")
class WorkflowRef:
    name: str
    version: int


@strawberry.type(description="A trigger out of the current state, as the viewer sees it.")
class AvailableTransition:
    trigger: str
    label: str
    description: str | None
    dest: str | None = strawberry.field(description="Where it leads; null for an internal transition.")
    roles: list[str]
    allowed: bool
    blocked_by: list[str] = strawberry.field(description="Every reason it is blocked for the viewer now.")


@strawberry.type(description="One committed state change: who, when, from where to where, and why.")
class HistoryEvent:
    id: strawberry.ID
    event_id: str = strawberry.field(description="Stable unique id; use it to de-duplicate deliveries.")
    subject_id: strawberry.ID
    subject_version: int
    trigger: str
    from_state: str | None
    to_state: str
    actor_id: str
    actor_name: str | None
    occurred_at: datetime
    _comment: strawberry.Private[str | None]
    _payload: strawberry.Private[Any]
    _subject_type: strawberry.Private[str]

    # Resolved per viewer: one HistoryEvent is shared by every subscriber of a project (fanout.py),
    # and what hides these depends only on the viewer's role (Context.audience).
    @strawberry.field(description=team_only(when="the event is a Risk's"))
    def comment(self, info: Info) -> str | None:
        return None if hides(info.context, "HistoryEvent", self) else self._comment

    @strawberry.field(description=team_only("What the transition was given.", when="the event is a Risk's"))
    def payload(self, info: Info) -> JSON | None:
        return None if hides(info.context, "HistoryEvent", self) else self._payload

    @classmethod
    def from_row(cls, row: Any, subject_type: str) -> HistoryEvent:
        return cls(
            id=strawberry.ID(to_global_id("HistoryEvent", row.id)),
            event_id=row.event_id,
            subject_id=strawberry.ID(to_global_id(subject_type, row.subject_id)),
            subject_version=row.subject_version,
            trigger=row.trigger,
            from_state=row.from_state,
            to_state=row.to_state,
            actor_id=row.actor_id,
            actor_name=row.actor_name,
            occurred_at=row.occurred_at,
            _comment=row.comment,
            _payload=row.payload,
            _subject_type=subject_type,
        )


@strawberry.interface(description="A thing whose lifecycle a workflow file governs.")
class Governed:
    id: strawberry.ID
    database_id: int
    state: str
    state_label: str
    version: int = strawberry.field(
        description="Changes with every transition and edit: send it as expectedVersion."
    )
    workflow: WorkflowRef

    @strawberry.field(description="Each trigger out of the current state, allowed or not, with every reason.")
    async def available_transitions(self, info: Info) -> list[AvailableTransition]:
        context = info.context
        actor = context.actor
        loader = context.loaders.available_transitions(context.app.engine, actor)
        options = await loader.load(self.database_id)
        return [
            AvailableTransition(
                trigger=o.trigger,
                label=o.label,
                description=o.description,
                dest=o.dest,
                roles=sorted(o.roles),
                allowed=o.allowed,
                blocked_by=list(o.blocked_by),
            )
            for o in options
        ]

    @strawberry.field(description="State changes, oldest first (creation included).")
    async def history(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[HistoryEvent]:
        rows = await info.context.loaders.history.load(self.database_id)
        page = window(len(rows), first=first, after=after, last=last, before=before)
        type_name = type(self).__name__
        return connection(rows, page, lambda row: HistoryEvent.from_row(row, type_name))


def governed_fields(row: Any, engine: Any) -> dict[str, Any]:
    """Values of the Governed fields from a row joined with its subject."""
    definition = engine.registry.get(row.workflow, row.workflow_version)
    label = definition.states[row.state].label if definition and row.state in definition.states else row.state
    return {
        "database_id": row.id,
        "state": row.state,
        "state_label": label,
        "version": row.version,
        "workflow": WorkflowRef(name=row.workflow, version=row.workflow_version),
    }
