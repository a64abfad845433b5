"""Built-in conditions and actions: generic ones any lifecycle can use. An ordinary plugin."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, or_, select

from pmflow.core.definitions import SEPARATOR
from pmflow.core.hookspecs import hookimpl
from pmflow.core.tables import events
from pmflow.core.types import Action, ArgumentScope, Condition, TransitionContext

_NAMES = {"type": "array", "items": {"type": "string"}, "minItems": 1}


def _comment_given(context: TransitionContext, _argument: Any) -> str | None:
    if context.comment and context.comment.strip():
        return None
    return f"'{context.trigger}' needs a comment saying why"


def _fields_set(context: TransitionContext, names: list[str]) -> str | None:
    missing = [name for name in names if context.field(name) in (None, "", [], {})]
    if not missing:
        return None
    labels = [context.definition.fields[n].label if n in context.definition.fields else n for n in missing]
    return f"{', '.join(labels)} must be filled in first"


# The newest event that *entered* the current state (internal transitions and field edits, which
# also move the version, do not count); the unique (subject_id, subject_version) index serves it.
_entered_from = (
    select(events.c.from_state)
    .where(
        events.c.subject_id == bindparam("sid"),
        events.c.to_state == bindparam("state"),
        or_(events.c.from_state.is_(None), events.c.from_state != events.c.to_state),
    )
    .order_by(events.c.subject_version.desc())
    .limit(1)
)


def _came_from(context: TransitionContext, state: str) -> str | None:
    """The subject entered its current state from ``state`` (or a state nested in it)."""
    last = context.connection.execute(
        _entered_from, {"sid": context.subject.id, "state": context.subject.state}
    ).scalar()
    if last is not None and (last == state or last.startswith(state + SEPARATOR)):
        return None
    label = context.definition.states[state].label if state in context.definition.states else state
    return f"this {context.definition.subject.replace('_', ' ')} did not come here from {label}"


def _set_fields(context: TransitionContext, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        context.set_field(name, value)


def _copy_payload(context: TransitionContext, names: list[str] | Mapping[str, str]) -> None:
    pairs = names.items() if isinstance(names, Mapping) else ((n, n) for n in names)
    for key, field in pairs:
        if key in context.payload:
            context.set_field(field, context.payload[key])


# Checked at load (``check_argument``): names of states and fields must be declared by the file.
def _known_state(scope: ArgumentScope, state: str) -> list[str]:
    message = scope.unknown_state(state)
    return [message] if message else []


def _known_fields(scope: ArgumentScope, names: list[str]) -> list[str]:
    return [message for name in names if (message := scope.unknown_field(name))]


def _settable_fields(scope: ArgumentScope, values: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    for name, value in values.items():
        message = scope.unknown_field(name) or scope.bad_value(name, value)
        if message:
            problems.append(message)
    return problems


def _payload_targets(scope: ArgumentScope, names: list[str] | Mapping[str, str]) -> list[str]:
    return _known_fields(scope, list(names.values()) if isinstance(names, Mapping) else names)


def _emit(context: TransitionContext, topic: str) -> None:
    context.emit(topic, {"subject_id": context.subject.id, "trigger": context.trigger})


@hookimpl(trylast=True)
def pmflow_conditions() -> Iterable[Condition]:
    return [
        Condition(
            name="comment_given",
            check=_comment_given,
            description="the person firing the trigger wrote a comment",
            negated="this trigger must be fired without a comment",
        ),
        Condition(
            name="came_from",
            check=_came_from,
            description="the subject entered its current state from the given state (e.g. to resume)",
            argument={"type": "string", "minLength": 1},
            check_argument=_known_state,
        ),
        Condition(
            name="fields_set",
            check=_fields_set,
            description="the listed custom fields are filled in",
            argument=_NAMES,
            check_argument=_known_fields,
        ),
    ]


@hookimpl(trylast=True)
def pmflow_actions() -> Iterable[Action]:
    return [
        Action(
            name="set_fields",
            run=_set_fields,
            description="set custom fields to fixed values",
            argument={"type": "object", "minProperties": 1},
            check_argument=_settable_fields,
        ),
        Action(
            name="copy_payload",
            run=_copy_payload,
            description=(
                "copy keys of the transition payload into custom fields: a list of names, "
                "or a mapping payload key -> field"
            ),
            argument={
                "oneOf": [
                    _NAMES,
                    {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}},
                ]
            },
            check_argument=_payload_targets,
        ),
        Action(
            name="emit",
            run=_emit,
            description="queue an outbox message with this topic, delivered after commit",
            argument={"type": "string", "minLength": 1},
        ),
    ]
