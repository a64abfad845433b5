"""Value types shared by the engine and plugins: who acts, on what, and what a plugin provides."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

from pmflow.core.definitions import SEPARATOR
from pmflow.core.problems import did_you_mean

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from pmflow.core.definitions import TransitionDef, WorkflowDefinition

SYSTEM_ROLE = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who fires a transition. ``roles`` are global; plugins add per-subject roles.

    A ``system`` actor (timers, migrations) passes every ``roles:`` check but never a condition.
    """

    id: str
    roles: frozenset[str] = frozenset()
    name: str | None = None
    system: bool = False

    @classmethod
    def system_actor(cls, name: str = "pmflow") -> Actor:
        return cls(id=f"system:{name}", roles=frozenset({SYSTEM_ROLE}), name=name, system=True)


@dataclass(frozen=True, slots=True)
class Subject:
    """A workflow-governed row: which lifecycle (workflow, version) it runs and where it is."""

    id: int
    kind: str
    workflow: str
    workflow_version: int
    state: str
    version: int
    data: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One committed state change. ``event_id`` is stable and unique: use it to de-duplicate."""

    id: int
    event_id: str
    subject_id: int
    subject_version: int
    trigger: str
    from_state: str
    to_state: str
    actor_id: str
    actor_name: str | None
    comment: str | None
    payload: Mapping[str, Any]
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """Something that must happen after commit (notification, webhook, timer...)."""

    topic: str
    payload: Mapping[str, Any]


@dataclass(slots=True)
class TransitionContext:
    """What conditions, actions and transition hooks see.

    ``connection`` is the transaction the transition runs in: read through it so guards see
    the same data the transition commits against, and never commit or roll back yourself.
    ``dry_run`` is true when pmflow only asks whether the trigger would be allowed
    (``available_transitions``); conditions and before-hooks must be side-effect free anyway.
    """

    subject: Subject
    definition: WorkflowDefinition
    transition: TransitionDef
    trigger: str
    actor: Actor
    roles: frozenset[str]
    connection: Connection
    now: datetime
    comment: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    dest_state: str | None = None
    outbox: list[OutboxMessage] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)
    nested: Callable[..., HistoryEvent] | None = None
    before: Subject | None = None  # the subject as it was, once `subject` shows the new state

    def emit(self, topic: str, payload: Mapping[str, Any] | None = None) -> None:
        """Queue an outbox message; it commits with the transition or not at all."""
        self.outbox.append(OutboxMessage(topic=topic, payload=dict(payload or {})))

    def set_field(self, name: str, value: Any) -> None:
        """Change a custom field of the subject; validated against the workflow's ``fields``
        and written with the new state."""
        self.changes[name] = value

    def fire(
        self,
        subject_id: int,
        trigger: str,
        *,
        comment: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> HistoryEvent:
        """Fire a trigger on another subject inside this transaction, on behalf of this actor.

        Roles are not checked (pmflow acts, a ``roles: [system]`` trigger is allowed) but the
        conditions are; a refusal aborts this transition too. Not available in a dry run.
        """
        if self.nested is None or self.dry_run:
            raise RuntimeError("context.fire is only available while a transition is being fired")
        return self.nested(subject_id, trigger, comment=comment, payload=payload)

    def field(self, name: str, default: Any = None) -> Any:
        """A custom field's value as it will be committed (pending changes included)."""
        if name in self.changes:
            return self.changes[name]
        return self.subject.data.get(name, default)


@dataclass(frozen=True, slots=True)
class ArgumentScope:
    """What a workflow file declares, for checking a condition's or action's argument at load.

    ``states`` are the state paths (``work.fixing``), ``fields`` the custom field names;
    ``field_schemas`` holds the JSON Schema of each field whose schema is valid and
    ``required_fields`` the fields marked ``required: true``. The helpers write the messages
    ``check_argument`` returns; a message ending in `` (...)`` shows that part as the suggestion.
    """

    states: frozenset[str] = frozenset()
    fields: frozenset[str] = frozenset()
    field_schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    required_fields: frozenset[str] = frozenset()

    def unknown_state(self, name: Any) -> str | None:
        """``None`` when ``name`` is a state path of the file, else the message saying it is not."""
        if not isinstance(name, str) or name in self.states:
            return None
        short = [p for p in self.states if p.rsplit(SEPARATOR, 1)[-1] == name]
        hint = f"did you mean '{short[0]}'?" if len(short) == 1 else did_you_mean(name, self.states)
        return f"unknown state '{name}'" + (f" ({hint})" if hint else "")

    def unknown_field(self, name: Any) -> str | None:
        """``None`` when ``name`` is a custom field of the file, else the message saying it is not."""
        if not isinstance(name, str) or name in self.fields:
            return None
        hint = did_you_mean(name, self.fields) or (
            f"the workflow declares: {', '.join(sorted(self.fields))}"
            if self.fields
            else "the workflow declares no fields: add it under 'fields:'"
        )
        return f"unknown field '{name}' ({hint})"

    def bad_value(self, name: str, value: Any) -> str | None:
        """``None`` when ``value`` may be written to the field (as the engine checks it), else why not."""
        schema = self.field_schemas.get(name)
        if schema is None or (value is None and name not in self.required_fields):
            return None
        validator = Draft202012Validator(dict(schema), format_checker=Draft202012Validator.FORMAT_CHECKER)
        error = next(iter(validator.iter_errors(value)), None)
        if error is None:
            return None
        message = f"value for field '{name}': {error.message}"
        if isinstance(value, date):  # YAML reads 2024-03-01 as a date, not as text
            message += f" (YAML reads {value.isoformat()} as a date: write '{value.isoformat()}' in quotes)"
        return message


ConditionCheck = Callable[[TransitionContext, Any], "str | None"]
ActionRun = Callable[[TransitionContext, Any], None]
ArgumentCheck = Callable[[ArgumentScope, Any], list[str]]


@dataclass(frozen=True, slots=True)
class Condition:
    """A named guard a workflow file can list under ``conditions:`` or ``unless:``.

    ``check(context, argument)`` returns ``None`` when the condition holds, otherwise the reason
    it does not, phrased for the person who tried ("the kickoff meeting has not been held").
    ``argument`` is a JSON Schema for the value given in the file (``{health_at_least: 60}``);
    ``None`` means the condition takes no argument. ``negated`` is the reason shown when the
    condition is used under ``unless:`` and holds. ``check_argument(scope, argument)``, when
    given, checks an argument that passed the schema against what the file declares (states,
    fields) and returns one message per mistake; validation reports them at the argument.
    """

    name: str
    check: ConditionCheck
    description: str = ""
    argument: Mapping[str, Any] | None = None
    negated: str | None = None
    check_argument: ArgumentCheck | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """A named effect a workflow file can list under ``actions:``, ``on_enter:`` or ``on_exit:``.

    ``run(context, argument)`` runs inside the transition's transaction; raising aborts the
    transition and nothing is written. Use ``context.emit`` for anything that must happen after
    commit (sending mail, calling webhooks). ``check_argument`` is as for ``Condition``.
    """

    name: str
    run: ActionRun
    description: str = ""
    argument: Mapping[str, Any] | None = None
    check_argument: ArgumentCheck | None = None
