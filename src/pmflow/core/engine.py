"""The workflow engine: create governed subjects, fire triggers atomically, answer what is possible.

One ``fire`` is one database transaction: lock the subject, check roles, conditions and plugin
vetoes (every reason collected), let the cached machine work out the path, run the actions,
write the new state with ``version + 1`` (only if nobody else did), the history event and the
outbox rows, call the after-transition hooks, commit. Any failure before commit leaves nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pluggy
from jsonschema import Draft202012Validator
from sqlalchemy import Connection, Row, bindparam, func, insert, select, update

from pmflow.core.database import Database
from pmflow.core.definitions import Ref, TransitionDef, WorkflowDefinition
from pmflow.core.errors import (
    Conflict,
    GuardFailed,
    InvalidInput,
    InvalidTransition,
    NotAllowed,
    NotFound,
    PluginError,
    PmflowError,
)
from pmflow.core.fields import check_fields
from pmflow.core.machines import MachineCache
from pmflow.core.outbox import pending_row
from pmflow.core.plugins import Catalog
from pmflow.core.problems import did_you_mean
from pmflow.core.registry import WorkflowRegistry
from pmflow.core.tables import events, outbox, subjects
from pmflow.core.timers import after_step, arm_initial
from pmflow.core.types import Actor, HistoryEvent, OutboxMessage, Subject, TransitionContext

CREATE_TRIGGER = "create"
EVENT_TOPIC = "event"
MAX_COMMENT = 10_000
MAX_ID = 2**63  # ids are BIGINT on PostgreSQL

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FireResult:
    subject: Subject
    event: HistoryEvent


@dataclass(frozen=True, slots=True)
class AvailableTransition:
    """A trigger out of the subject's current state, as the given actor sees it."""

    trigger: str
    label: str
    description: str | None
    dest: str | None
    roles: frozenset[str]
    allowed: bool
    blocked_by: tuple[str, ...]


_select_subject = select(subjects).where(subjects.c.id == bindparam("sid"))
_lock_subject = _select_subject.with_for_update()
_move = (
    update(subjects)
    .where(subjects.c.id == bindparam("sid"), subjects.c.version == bindparam("old_version"))
    .values(state=bindparam("new_state"), version=bindparam("new_version"), updated_at=bindparam("now"))
)
_move_with_data = _move.values(data=bindparam("new_data"))
_insert_event = insert(events).returning(events.c.id)
_insert_outbox = insert(outbox)


def subject_of_row(row: Row[Any]) -> Subject:
    """A ``subjects`` row as the ``Subject`` the engine and plugins see."""
    return Subject(
        id=row.id,
        kind=row.kind,
        workflow=row.workflow,
        workflow_version=row.workflow_version,
        state=row.state,
        version=row.version,
        data=row.data,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _event(row: Row[Any]) -> HistoryEvent:
    return HistoryEvent(
        id=row.id,
        event_id=row.event_id,
        subject_id=row.subject_id,
        subject_version=row.subject_version,
        trigger=row.trigger,
        from_state=row.from_state,
        to_state=row.to_state,
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        comment=row.comment,
        payload=row.payload,
        occurred_at=row.occurred_at,
    )


class WorkflowEngine:
    """Runs subjects through their lifecycles. Thread-safe; share one per process."""

    def __init__(
        self,
        database: Database,
        registry: WorkflowRegistry,
        plugins: pluggy.PluginManager,
        *,
        catalog: Catalog | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.database = database
        self.registry = registry
        self.plugins = plugins
        self.catalog = catalog if catalog is not None else Catalog.from_plugins(plugins)
        self.machines = MachineCache()
        self.clock = clock
        self._payload_validators: dict[int, Draft202012Validator] = {}

    # ---- reading -----------------------------------------------------------------------
    def get(self, subject_id: int, *, connection: Connection | None = None) -> Subject:
        if connection is None:
            with self.database.read() as conn:
                return self._load(conn, subject_id, lock=False)
        return self._load(connection, subject_id, lock=False)

    def definition_of(self, subject: Subject) -> WorkflowDefinition:
        definition = self.registry.get(subject.workflow, subject.workflow_version)
        if definition is None:
            raise NotFound(
                f"workflow '{subject.workflow}' version {subject.workflow_version} is not loaded; "
                "it must stay in workflows/ while subjects run on it",
                field="workflow",
            )
        return definition

    def history(
        self,
        subject_id: int,
        *,
        limit: int | None = None,
        after_id: int | None = None,
        connection: Connection | None = None,
    ) -> list[HistoryEvent]:
        """Events of a subject, oldest first (creation included)."""
        query = select(events).where(events.c.subject_id == subject_id).order_by(events.c.id)
        if after_id is not None:
            query = query.where(events.c.id > after_id)
        if limit is not None:
            query = query.limit(limit)
        with self._connection(connection, write=False) as conn:
            self._load(conn, subject_id, lock=False)
            return [_event(row) for row in conn.execute(query)]

    def history_count(self, subject_id: int, *, connection: Connection | None = None) -> int:
        query = select(func.count()).select_from(events).where(events.c.subject_id == subject_id)
        with self._connection(connection, write=False) as conn:
            return int(conn.execute(query).scalar_one())

    def available_transitions(
        self, subject_id: int, actor: Actor, *, connection: Connection | None = None
    ) -> list[AvailableTransition]:
        """Each trigger out of the current state with ``allowed`` and every ``blocked_by`` reason.

        Runs roles, conditions and before-hooks in dry-run mode; writes nothing.
        """
        with self._connection(connection, write=False) as conn:
            subject = self._load(conn, subject_id, lock=False)
            definition = self.definition_of(subject)
            _check_state(definition, subject)
            roles = self._roles(subject, actor, conn)
            out = []
            for transition in definition.transitions_from(subject.state).values():
                reasons = []
                role_reason = self._role_problem(transition, actor, roles)
                if role_reason:
                    reasons.append(role_reason)
                context = TransitionContext(
                    subject=subject,
                    definition=definition,
                    transition=transition,
                    trigger=transition.trigger,
                    actor=actor,
                    roles=roles or actor.roles,
                    connection=conn,
                    now=self.clock(),
                    dry_run=True,
                )
                try:
                    reasons.extend(self._blocking_reasons(context))
                except PluginError as error:
                    reasons.append(f"could not be checked: {error.message}")
                out.append(
                    AvailableTransition(
                        trigger=transition.trigger,
                        label=transition.label,
                        description=transition.description,
                        dest=transition.dest,
                        roles=transition.roles,
                        allowed=not reasons,
                        blocked_by=tuple(reasons),
                    )
                )
            return out

    # ---- writing -----------------------------------------------------------------------
    def create(
        self,
        subject: str,
        actor: Actor,
        *,
        workflow: str | None = None,
        data: Mapping[str, Any] | None = None,
        comment: str | None = None,
        connection: Connection | None = None,
    ) -> FireResult:
        """Create a subject of kind ``subject`` in the initial state of the latest workflow version.

        ``workflow`` names the lifecycle when several govern the same kind of subject.
        """
        definition = self._definition_for_new(subject, workflow)
        values = dict(data or {})
        check_fields(definition, values, complete=True)
        _check_comment(comment)
        now = self.clock()
        with self._connection(connection, write=True) as conn:
            subject_id = conn.execute(
                insert(subjects).returning(subjects.c.id),
                {
                    "kind": definition.subject,
                    "workflow": definition.name,
                    "workflow_version": definition.version,
                    "state": definition.initial_leaf,
                    "version": 1,
                    "data": values,
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
            created = Subject(
                id=subject_id,
                kind=definition.subject,
                workflow=definition.name,
                workflow_version=definition.version,
                state=definition.initial_leaf,
                version=1,
                data=values,
                created_at=now,
                updated_at=now,
            )
            arm_initial(conn, definition, created, now)
            event = self._record(conn, created, CREATE_TRIGGER, None, actor, comment, {}, now, [])
            return FireResult(subject=created, event=event)

    def fire(
        self,
        subject: int | Subject,
        trigger: str,
        actor: Actor,
        *,
        expected_version: int | None = None,
        comment: str | None = None,
        payload: Mapping[str, Any] | None = None,
        connection: Connection | None = None,
    ) -> FireResult:
        """Fire ``trigger`` on a subject, atomically. Raises a ``PmflowError`` subclass on refusal.

        With ``connection`` the transition joins the caller's transaction (the caller commits).
        """
        subject_id = subject.id if isinstance(subject, Subject) else subject
        if not isinstance(trigger, str):
            raise InvalidInput(f"a trigger is a name, got {trigger!r}", field="trigger")
        _check_comment(comment)
        payload = _check_payload(payload)
        with self._connection(connection, write=True) as conn:
            return self._fire(conn, subject_id, trigger, actor, expected_version, comment, payload)

    def _fire(
        self,
        conn: Connection,
        subject_id: int,
        trigger: str,
        actor: Actor,
        expected_version: int | None,
        comment: str | None,
        payload: Mapping[str, Any],
    ) -> FireResult:
        current = self._load(conn, subject_id, lock=True)
        if expected_version is not None and current.version != expected_version:
            raise Conflict(subject_id, current.version, current.state)
        definition = self.definition_of(current)
        _check_state(definition, current)
        transition = definition.transition_for(current.state, trigger)
        if transition is None:
            raise _invalid_trigger(definition, current.state, trigger)
        roles = self._roles(current, actor, conn)
        role_problem = self._role_problem(transition, actor, roles)
        if role_problem:
            raise NotAllowed(role_problem, field="trigger")
        if transition.payload_schema is not None:
            self._check_payload_schema(transition, payload)
        now = self.clock()
        context = TransitionContext(
            subject=current,
            definition=definition,
            transition=transition,
            trigger=trigger,
            actor=actor,
            roles=roles,
            connection=conn,
            now=now,
            comment=comment,
            payload=payload,
        )
        reasons = self._blocking_reasons(context)
        if reasons:
            raise GuardFailed(trigger, reasons)
        context.nested = self._nested_fire(conn, actor)

        step = self.machines.step(definition, current.state, trigger)
        context.dest_state = step.dest
        for path in step.exited:
            self._run_actions(definition.states[path].on_exit, context, f"on_exit of '{path}'")
        for path in step.entered:
            self._run_actions(definition.states[path].on_enter, context, f"on_enter of '{path}'")
        self._run_actions(transition.actions, context, f"'{trigger}'")

        data: Mapping[str, Any] = current.data
        params: dict[str, Any] = {
            "sid": subject_id,
            "old_version": current.version,
            "new_state": step.dest,
            "new_version": current.version + 1,
            "now": now,
        }
        statement = _move
        if context.changes:
            check_fields(definition, context.changes, complete=False)
            data = {**current.data, **context.changes}
            params["new_data"] = data
            statement = _move_with_data
        if conn.execute(statement, params).rowcount != 1:
            # Only reachable where the row lock is not taken; the version check still holds.
            latest = self._load(conn, subject_id, lock=False)
            raise Conflict(subject_id, latest.version, latest.state)
        moved = Subject(
            id=subject_id,
            kind=current.kind,
            workflow=current.workflow,
            workflow_version=current.workflow_version,
            state=step.dest,
            version=current.version + 1,
            data=data,
            created_at=current.created_at,
            updated_at=now,
        )
        context.before, context.subject = current, moved
        after_step(conn, definition, moved, trigger, step.exited, step.entered, now)  # state timeouts
        queued = len(context.outbox)
        event = self._record(
            conn, moved, trigger, current.state, actor, comment, payload, now, context.outbox
        )
        try:
            self.plugins.hook.pmflow_after_transition(context=context, event=event)
        except PmflowError:
            raise
        except Exception as error:
            raise PluginError("an after-transition hook", error) from error
        late = context.outbox[queued:]  # emitted by after-transition hooks: same transaction, same event
        if late:
            conn.execute(_insert_outbox, _outbox_rows(event.event_id, moved.id, now, late))
        return FireResult(subject=moved, event=event)

    # ---- pieces ------------------------------------------------------------------------
    def _nested_fire(self, conn: Connection, actor: Actor) -> Callable[..., HistoryEvent]:
        on_behalf = Actor(id=actor.id, roles=actor.roles, name=actor.name, system=True)

        def nested(
            subject_id: int, trigger: str, *, comment: str | None, payload: Mapping[str, Any] | None
        ) -> HistoryEvent:
            _check_comment(comment)
            result = self._fire(conn, subject_id, trigger, on_behalf, None, comment, _check_payload(payload))
            return result.event

        return nested

    def _record(
        self,
        conn: Connection,
        subject: Subject,
        trigger: str,
        from_state: str | None,
        actor: Actor,
        comment: str | None,
        payload: Mapping[str, Any],
        now: datetime,
        extra: Iterable[OutboxMessage],
    ) -> HistoryEvent:
        event_id = str(uuid.uuid4())
        values: dict[str, Any] = {
            "event_id": event_id,
            "subject_id": subject.id,
            "subject_version": subject.version,
            "trigger": trigger,
            "from_state": from_state,
            "to_state": subject.state,
            "actor_id": actor.id,
            "actor_name": actor.name,
            "comment": comment,
            "payload": dict(payload),
            "occurred_at": now,
        }
        row_id = conn.execute(_insert_event, values).scalar_one()
        event = HistoryEvent(id=row_id, **values)
        message = {
            "event_id": event_id,
            "subject_id": subject.id,
            "kind": subject.kind,
            "workflow": subject.workflow,
            "trigger": trigger,
            "from_state": from_state,
            "to_state": subject.state,
            "version": subject.version,
            "actor_id": actor.id,
        }
        conn.execute(
            _insert_outbox,
            _outbox_rows(event_id, subject.id, now, [OutboxMessage(EVENT_TOPIC, message), *extra], own=1),
        )
        try:
            self.plugins.hook.pmflow_event_recorded(event=event, subject=subject, connection=conn)
        except PmflowError:
            raise
        except Exception as error:
            raise PluginError("an event-recorded hook", error) from error
        return event

    def _load(self, conn: Connection, subject_id: int, *, lock: bool) -> Subject:
        if not isinstance(subject_id, int) or isinstance(subject_id, bool):
            raise InvalidInput(f"a subject id is an integer, got {subject_id!r}", field="id")
        if not 0 < subject_id < MAX_ID:
            raise NotFound(f"no subject with id {subject_id}", field="id")
        row = conn.execute(_lock_subject if lock else _select_subject, {"sid": subject_id}).first()
        if row is None:
            raise NotFound(f"no subject with id {subject_id}", field="id")
        return subject_of_row(row)

    def _definition_for_new(self, subject: str, workflow: str | None) -> WorkflowDefinition:
        if workflow is not None:
            definition = self.registry.get(workflow)
            if definition is None:
                raise NotFound(f"no workflow named '{workflow}'", field="workflow")
            if definition.subject != subject:
                raise InvalidInput(
                    f"workflow '{workflow}' governs '{definition.subject}', not '{subject}'",
                    field="workflow",
                )
            return definition
        candidates = self.registry.for_subject(subject)
        if not candidates:
            raise NotFound(f"no workflow governs '{subject}'", field="subject")
        if len(candidates) > 1:
            names = ", ".join(d.name for d in candidates)
            raise InvalidInput(
                f"several workflows govern '{subject}' ({names}); say which one", field="workflow"
            )
        return candidates[0]

    def _roles(self, subject: Subject, actor: Actor, conn: Connection) -> frozenset[str]:
        extra = self.plugins.hook.pmflow_subject_roles(subject=subject, actor=actor, connection=conn)
        return actor.roles.union(*(set(r) for r in extra if r))

    @staticmethod
    def _role_problem(transition: TransitionDef, actor: Actor, roles: frozenset[str]) -> str | None:
        if not transition.roles or actor.system or roles & transition.roles:
            return None
        needed = " or ".join(sorted(transition.roles))
        held = ", ".join(sorted(roles)) or "none"
        return f"'{transition.trigger}' is for the {needed} role; your roles here: {held}"

    def _blocking_reasons(self, context: TransitionContext) -> list[str]:
        transition = context.transition
        reasons = [
            reason for ref in transition.conditions if (reason := self._check(ref, context)) is not None
        ]
        for ref in transition.unless:
            if self._check(ref, context) is None:
                condition = self.catalog.conditions[ref.name]
                reasons.append(condition.negated or f"blocked while '{ref.name}' holds")
        try:
            vetoes = self.plugins.hook.pmflow_before_transition(context=context)
        except PmflowError:
            raise
        except Exception as error:
            raise PluginError("a before-transition hook", error) from error
        reasons.extend(str(v) for v in vetoes if v)
        return reasons

    def _check(self, ref: Ref, context: TransitionContext) -> str | None:
        try:
            result = self.catalog.conditions[ref.name].check(context, ref.argument)
        except PmflowError:
            raise
        except Exception as error:
            raise PluginError(f"condition '{ref.name}'", error) from error
        return result or None

    def _run_actions(self, refs: Iterable[Ref], context: TransitionContext, where: str) -> None:
        for ref in refs:
            try:
                self.catalog.actions[ref.name].run(context, ref.argument)
            except PmflowError:
                raise
            except Exception as error:
                raise PluginError(f"action '{ref.name}' ({where})", error) from error

    def _check_payload_schema(self, transition: TransitionDef, payload: Mapping[str, Any]) -> None:
        assert transition.payload_schema is not None
        validator = self._payload_validators.get(id(transition))
        if validator is None:
            validator = Draft202012Validator(
                dict(transition.payload_schema), format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            self._payload_validators[id(transition)] = validator
        error = next(iter(validator.iter_errors(dict(payload))), None)
        if error is not None:
            path = [str(p) for p in error.absolute_path]
            if error.validator == "required" and isinstance(error.instance, Mapping):
                # "required" reports at the object; name the missing property, where it belongs
                path += [next(p for p in error.validator_value if p not in error.instance)]
            where = ".".join(path)
            raise InvalidInput(
                f"payload of '{transition.trigger}'{' at ' + where if where else ''}: {error.message}",
                field="payload" + (f".{where}" if where else ""),
            )

    def _connection(self, connection: Connection | None, *, write: bool) -> Any:
        if connection is not None:
            return _Borrowed(connection)
        return self.database.write() if write else self.database.read()


class _Borrowed:
    """The caller's connection: used as is, never committed or closed here."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def __enter__(self) -> Connection:
        return self.connection

    def __exit__(self, *_: object) -> None:
        return None


def _invalid_trigger(definition: WorkflowDefinition, state: str, trigger: str) -> InvalidTransition:
    label = definition.states[state].label
    possible = list(definition.transitions_from(state))
    known = {t.trigger for t in definition.transitions}
    if trigger in known:
        message = f"'{trigger}' is not possible from state '{state}' ({label})"
    else:
        message = f"'{trigger}' is not a trigger of workflow '{definition.name}'"
        hint = did_you_mean(trigger, known)
        message += f" ({hint})" if hint else ""
    message += f"; possible now: {', '.join(possible)}" if possible else "; no trigger leaves this state"
    return InvalidTransition(message, field="trigger")


def _check_state(definition: WorkflowDefinition, subject: Subject) -> None:
    if subject.state not in definition.states:
        raise InvalidTransition(
            f"subject {subject.id} is in state '{subject.state}', which workflow '{definition.name}' "
            f"version {definition.version} ({definition.source_file}) no longer has: restore the state "
            "in that file (running subjects keep their version) or move the subject with a new version",
            field="state",
        )


def _check_comment(comment: str | None) -> None:
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        raise InvalidInput(f"a comment is text of at most {MAX_COMMENT} characters", field="comment")
    if comment is not None and "\x00" in comment:
        raise InvalidInput("a comment cannot contain the NUL character", field="comment")


def _check_payload(payload: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise InvalidInput("the payload must be a JSON object", field="payload")
    try:
        text = json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidInput(
            f"the payload must be JSON (no NaN or Infinity): {error}", field="payload"
        ) from error
    if "\\u0000" in text:
        raise InvalidInput("the payload cannot contain the NUL character", field="payload")
    return payload


def _outbox_rows(
    event_id: str, subject_id: int, now: datetime, messages: Iterable[OutboxMessage], own: int = 0
) -> list[dict[str, Any]]:
    """Outbox rows of one event; the first ``own`` messages are the engine's own (their payload as
    is), the rest a workflow's or plugin's (their payload gains the event id)."""
    return [
        pending_row(
            event_id,
            message.topic,
            subject_id,
            dict(message.payload) if index < own else {**message.payload, "event_id": event_id},
            now,
        )
        for index, message in enumerate(messages)
    ]
