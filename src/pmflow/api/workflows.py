"""Workflow definitions as frontends need them: states, transitions and a diagram."""

from __future__ import annotations

import strawberry

from pmflow.core.definitions import WorkflowDefinition
from pmflow.core.diagram import to_dot, to_mermaid
from pmflow.core.durations import format_duration


@strawberry.type
class WorkflowTimeout:
    after: str = strawberry.field(description="ISO-8601 duration, e.g. P3D.")
    after_text: str = strawberry.field(description="The same for people: '3 days'.")
    trigger: str


@strawberry.type
class WorkflowState:
    path: str = strawberry.field(description="Dotted path: requirements.confirmation.")
    name: str
    label: str
    description: str | None
    parent: str | None
    initial_child: str | None
    final: bool
    timeout: WorkflowTimeout | None


@strawberry.type
class WorkflowTransition:
    trigger: str
    label: str
    description: str | None
    sources: list[str]
    dest: str | None
    internal: bool
    roles: list[str]
    conditions: list[str]
    unless: list[str]
    actions: list[str]


@strawberry.type(description="A lifecycle from workflows/: what subjects of its kind go through.")
class Workflow:
    name: str
    version: int
    subject: str
    label: str
    description: str | None
    initial: str
    states: list[WorkflowState]
    transitions: list[WorkflowTransition]
    _definition: strawberry.Private[WorkflowDefinition]

    @strawberry.field(description="A Mermaid stateDiagram-v2, ready to paste into Markdown.")
    def mermaid(self) -> str:
        return to_mermaid(self._definition)

    @strawberry.field(description="The same diagram in Graphviz DOT.")
    def dot(self) -> str:
        return to_dot(self._definition)

    @classmethod
    def of(cls, d: WorkflowDefinition) -> Workflow:
        return cls(
            name=d.name,
            version=d.version,
            subject=d.subject,
            label=d.label,
            description=d.description,
            initial=d.initial,
            states=[
                WorkflowState(
                    path=s.path,
                    name=s.name,
                    label=s.label,
                    description=s.description,
                    parent=s.parent,
                    initial_child=s.initial,
                    final=s.final,
                    timeout=WorkflowTimeout(
                        after=s.timeout.after_text,
                        after_text=format_duration(s.timeout.after),
                        trigger=s.timeout.trigger,
                    )
                    if s.timeout
                    else None,
                )
                for s in d.states.values()
            ],
            transitions=[
                WorkflowTransition(
                    trigger=t.trigger,
                    label=t.label,
                    description=t.description,
                    sources=list(t.sources),
                    dest=t.dest,
                    internal=t.dest is None,
                    roles=sorted(t.roles),
                    conditions=[str(r) for r in t.conditions],
                    unless=[str(r) for r in t.unless],
                    actions=[str(r) for r in t.actions],
                )
                for t in d.transitions
            ],
            _definition=d,
        )
