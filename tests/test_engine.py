"""The engine on real databases: transitions, guards, roles, atomicity, history, typed errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from sqlalchemy import func, select

from pmflow import Action, Actor, Condition, TransitionContext, hookimpl
from pmflow.core.database import Database
from pmflow.core.engine import WorkflowEngine
from pmflow.core.errors import (
    Conflict,
    ErrorCode,
    GuardFailed,
    InvalidInput,
    InvalidTransition,
    NotAllowed,
    NotFound,
    PluginError,
)
from pmflow.core.plugins import Catalog, make_plugin_manager
from pmflow.core.registry import WorkflowRegistry
from pmflow.core.tables import events, outbox, subjects
from pmflow.core.types import HistoryEvent

MANAGER = Actor("u-mia", frozenset({"manager"}), name="Mia")
CUSTOMER = Actor("u-carl", frozenset({"customer"}), name="Carl")
DEVELOPER = Actor("u-dev", frozenset({"developer"}))

TICKET = """
workflow: ticket
version: 1
subject: ticket
initial: open
fields:
  priority: {type: integer, minimum: 1, maximum: 5}
  reviewer: {type: string}
states:
  - name: open
  - name: work
    initial: doing
    on_enter: [{record: enter-work}]
    on_exit: [{record: exit-work}]
    states:
      - name: doing
        on_enter: [{record: enter-doing}]
        on_exit: [{record: exit-doing}]
      - name: review
  - name: done
    final: true
transitions:
  - trigger: start
    source: open
    dest: work
    roles: [developer, manager]
    actions: [{record: start}]
  - trigger: submit
    source: work.doing
    dest: work.review
    conditions: [switch_on, {fields_set: [reviewer]}]
    unless: [frozen]
  - trigger: approve
    source: work.review
    dest: done
    roles: [customer]
    actions: [explode_when_asked, {set_fields: {priority: 1}}]
  - trigger: bump
    source: [open, work]
    internal: true
    payload:
      type: object
      required: [priority]
      properties:
        priority: {type: integer, minimum: 1, maximum: 5}
    actions: [{copy_payload: [priority]}]
  - trigger: corrupt
    source: open
    internal: true
    actions: [corrupt_priority]
"""


class Switches:
    """A test plugin: conditions and actions whose outcome the test controls."""

    def __init__(self) -> None:
        self.on = True
        self.frozen = False
        self.explode = False
        self.raise_in_condition = False
        self.veto: str | None = None
        self.raise_after = False
        self.emit_after = False
        self.trace: list[str] = []
        self.after: list[HistoryEvent] = []
        self.extra_roles: dict[str, set[str]] = {}
        self.recorded: list[tuple[str, str, int]] = []
        self.raise_recorded = False

    def _switch(self, context: TransitionContext, _argument: Any) -> str | None:
        if self.raise_in_condition:
            raise RuntimeError("sensor offline")
        return None if self.on else "the switch is off"

    def _frozen(self, context: TransitionContext, _argument: Any) -> str | None:
        return None if self.frozen else "not frozen"

    def _explode(self, context: TransitionContext, _argument: Any) -> None:
        if self.explode:
            raise RuntimeError("boom")

    def _record(self, context: TransitionContext, argument: Any) -> None:
        self.trace.append(str(argument))
        context.emit("recorded", {"what": argument})

    @hookimpl
    def pmflow_conditions(self) -> list[Condition]:
        return [
            Condition("switch_on", self._switch, "the switch is on"),
            Condition("frozen", self._frozen, "the ticket is frozen", negated="the ticket is frozen"),
        ]

    @hookimpl
    def pmflow_actions(self) -> list[Action]:
        return [
            Action("explode_when_asked", self._explode),
            Action("record", self._record, argument={"type": "string"}),
            # validation rejects {set_fields: {priority: 99}}: only code can write a bad value
            Action("corrupt_priority", lambda context, _argument: context.set_field("priority", 99)),
        ]

    @hookimpl
    def pmflow_before_transition(self, context: TransitionContext) -> str | None:
        return self.veto

    @hookimpl
    def pmflow_after_transition(self, context: TransitionContext, event: HistoryEvent) -> None:
        if self.raise_after:
            raise RuntimeError("after-hook failed")
        if self.emit_after:
            context.emit("after", {"what": event.trigger})
        self.after.append(event)

    @hookimpl
    def pmflow_subject_roles(self, subject: Any, actor: Actor) -> set[str] | None:
        return self.extra_roles.get(actor.id)

    @hookimpl
    def pmflow_event_recorded(self, event: HistoryEvent, subject: Any) -> None:
        if self.raise_recorded:
            raise RuntimeError("recorder down")
        self.recorded.append((event.trigger, subject.state, subject.version))


@pytest.fixture
def switches() -> Switches:
    return Switches()


@pytest.fixture
def ticket_engine(
    database: Database, switches: Switches, write_workflow: Callable[[str], Path]
) -> Iterator[WorkflowEngine]:
    pm: pluggy.PluginManager = make_plugin_manager()
    pm.register(switches, name="switches")
    try:
        registry = WorkflowRegistry.load([write_workflow(TICKET)], Catalog.from_plugins(pm))
        yield WorkflowEngine(database, registry, pm)
    finally:
        pm.unregister(switches)


def snapshot(db: Database, subject_id: int) -> tuple[Any, ...]:
    """Everything a transition may write, to prove that a refused one wrote nothing."""
    with db.read() as conn:
        row = conn.execute(select(subjects).where(subjects.c.id == subject_id)).one()
        n_events = conn.execute(select(func.count()).select_from(events)).scalar_one()
        n_outbox = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
    return (row.state, row.version, dict(row.data), n_events, n_outbox)


def at_review(engine: WorkflowEngine) -> int:
    ticket = engine.create("ticket", DEVELOPER, data={"reviewer": "ann"}).subject
    engine.fire(ticket.id, "start", DEVELOPER)
    engine.fire(ticket.id, "submit", DEVELOPER)
    return ticket.id


# ---- happy path and history ---------------------------------------------------------------


def test_fire_moves_state_bumps_version_and_records_history(ticket_engine: WorkflowEngine) -> None:
    created = ticket_engine.create("ticket", DEVELOPER, data={"priority": 3})
    assert created.subject.state == "open" and created.subject.version == 1

    result = ticket_engine.fire(
        created.subject.id, "start", DEVELOPER, expected_version=1, comment="on it", payload={"x": 1}
    )

    # entering the compound state 'work' lands in its initial child
    assert result.subject.state == "work.doing"
    assert result.subject.version == 2
    assert ticket_engine.get(created.subject.id).state == "work.doing"
    event = result.event
    assert (event.trigger, event.from_state, event.to_state) == ("start", "open", "work.doing")
    assert (event.actor_id, event.actor_name, event.comment) == ("u-dev", None, "on it")
    assert event.payload == {"x": 1} and event.subject_version == 2
    assert event.occurred_at.tzinfo is not None


def test_history_is_complete_and_in_order(ticket_engine: WorkflowEngine) -> None:
    ticket_id = at_review(ticket_engine)
    ticket_engine.fire(ticket_id, "approve", CUSTOMER, comment="looks good")

    history = ticket_engine.history(ticket_id)

    assert [(e.trigger, e.from_state, e.to_state, e.subject_version) for e in history] == [
        ("create", None, "open", 1),
        ("start", "open", "work.doing", 2),
        ("submit", "work.doing", "work.review", 3),
        ("approve", "work.review", "done", 4),
    ]
    assert [e.actor_id for e in history] == ["u-dev", "u-dev", "u-dev", "u-carl"]
    assert history[-1].comment == "looks good"
    assert len({e.event_id for e in history}) == 4
    assert [e.occurred_at for e in history] == sorted(e.occurred_at for e in history)
    assert ticket_engine.history_count(ticket_id) == 4
    assert [e.trigger for e in ticket_engine.history(ticket_id, after_id=history[1].id, limit=1)] == [
        "submit"
    ]


def test_each_event_has_an_outbox_row_with_its_event_id(ticket_engine: WorkflowEngine) -> None:
    ticket_id = at_review(ticket_engine)
    with ticket_engine.database.read() as conn:
        rows = conn.execute(select(outbox).order_by(outbox.c.id)).all()
    history = ticket_engine.history(ticket_id)
    topic_event = [r for r in rows if r.topic == "event"]
    assert [r.event_id for r in topic_event] == [e.event_id for e in history]
    assert all(r.status == "pending" and r.attempts == 0 for r in rows)
    # actions' emit() calls commit with the transition, tagged with its event id
    recorded = [(r.payload["what"], r.event_id) for r in rows if r.topic == "recorded"]
    start, submit = history[1].event_id, history[2].event_id
    assert recorded == [
        ("enter-work", start),
        ("enter-doing", start),
        ("start", start),
        ("exit-doing", submit),
    ]


def test_exit_enter_and_transition_actions_run_in_order(
    ticket_engine: WorkflowEngine, switches: Switches
) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER, data={"reviewer": "ann"}).subject
    ticket_engine.fire(ticket.id, "start", DEVELOPER)
    assert switches.trace == ["enter-work", "enter-doing", "start"]
    switches.trace.clear()
    ticket_engine.fire(ticket.id, "submit", DEVELOPER)
    # moving inside 'work' leaves 'doing' but not 'work'
    assert switches.trace == ["exit-doing"]


def test_internal_transition_keeps_state_and_records_event(ticket_engine: WorkflowEngine) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    result = ticket_engine.fire(ticket.id, "bump", DEVELOPER, payload={"priority": 4})
    assert result.subject.state == "open" and result.subject.version == 2
    assert result.subject.data == {"priority": 4}
    assert ticket_engine.get(ticket.id).data == {"priority": 4}
    assert (result.event.from_state, result.event.to_state) == ("open", "open")


def test_after_transition_hook_sees_the_committed_event(
    ticket_engine: WorkflowEngine, switches: Switches
) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    result = ticket_engine.fire(ticket.id, "start", DEVELOPER)
    assert switches.after == [result.event]


# ---- refusals are typed and change nothing -----------------------------------------------------


def test_guard_failure_lists_every_reason_and_changes_nothing(
    ticket_engine: WorkflowEngine, switches: Switches
) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    ticket_engine.fire(ticket.id, "start", DEVELOPER)
    switches.on = False
    switches.frozen = True
    switches.veto = "the release train has left"
    before = snapshot(ticket_engine.database, ticket.id)

    with pytest.raises(GuardFailed) as caught:
        ticket_engine.fire(ticket.id, "submit", DEVELOPER)

    assert caught.value.code == ErrorCode.GUARD_FAILED
    assert caught.value.reasons == [
        "the switch is off",
        "Reviewer must be filled in first",
        "the ticket is frozen",
        "the release train has left",
    ]
    assert snapshot(ticket_engine.database, ticket.id) == before


def test_role_not_held_is_not_allowed(ticket_engine: WorkflowEngine) -> None:
    ticket_id = at_review(ticket_engine)
    before = snapshot(ticket_engine.database, ticket_id)
    with pytest.raises(NotAllowed) as caught:
        ticket_engine.fire(ticket_id, "approve", DEVELOPER)
    assert "customer" in caught.value.message and "developer" in caught.value.message
    assert snapshot(ticket_engine.database, ticket_id) == before


def test_roles_from_plugins_and_system_actor_pass_role_checks(
    ticket_engine: WorkflowEngine, switches: Switches
) -> None:
    ticket_id = at_review(ticket_engine)
    switches.extra_roles["u-dev"] = {"customer"}  # e.g. a membership says so for this subject
    assert ticket_engine.fire(ticket_id, "approve", DEVELOPER).subject.state == "done"
    other = ticket_engine.create("ticket", DEVELOPER).subject
    assert ticket_engine.fire(other.id, "start", Actor.system_actor("timer")).subject.state == "work.doing"


def test_wrong_state_and_unknown_trigger_are_invalid_transitions(ticket_engine: WorkflowEngine) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    with pytest.raises(InvalidTransition) as wrong_state:
        ticket_engine.fire(ticket.id, "approve", CUSTOMER)
    assert "not possible from state 'open'" in wrong_state.value.message
    assert "start" in wrong_state.value.message  # what is possible instead
    with pytest.raises(InvalidTransition) as unknown:
        ticket_engine.fire(ticket.id, "strat", DEVELOPER)
    assert "did you mean 'start'?" in unknown.value.message


def test_unknown_subject_is_not_found(ticket_engine: WorkflowEngine) -> None:
    with pytest.raises(NotFound):
        ticket_engine.fire(424242, "start", DEVELOPER)
    with pytest.raises(NotFound):
        ticket_engine.history(424242)


def test_stale_expected_version_is_a_conflict_naming_current_state(ticket_engine: WorkflowEngine) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    ticket_engine.fire(ticket.id, "start", DEVELOPER, expected_version=1)
    with pytest.raises(Conflict) as caught:
        ticket_engine.fire(ticket.id, "bump", DEVELOPER, expected_version=1, payload={"priority": 2})
    assert (caught.value.current_version, caught.value.current_state) == (2, "work.doing")
    assert "version 2" in caught.value.message and "work.doing" in caught.value.message


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "payload.priority"),
        ({"priority": 9}, "payload.priority"),
        ({"priority": "high"}, "payload.priority"),
    ],
)
def test_payload_is_validated_against_the_transition_schema(
    ticket_engine: WorkflowEngine, payload: dict[str, Any], field: str
) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    before = snapshot(ticket_engine.database, ticket.id)
    with pytest.raises(InvalidInput) as caught:
        ticket_engine.fire(ticket.id, "bump", DEVELOPER, payload=payload)
    assert caught.value.field == field
    assert snapshot(ticket_engine.database, ticket.id) == before


def test_non_json_payload_and_huge_comment_are_rejected(ticket_engine: WorkflowEngine) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    with pytest.raises(InvalidInput) as bad_payload:
        ticket_engine.fire(ticket.id, "start", DEVELOPER, payload={"when": object()})
    assert bad_payload.value.field == "payload"
    with pytest.raises(InvalidInput) as bad_comment:
        ticket_engine.fire(ticket.id, "start", DEVELOPER, comment="x" * 10_001)
    assert bad_comment.value.field == "comment"


def test_custom_fields_are_validated_on_create_and_on_action_writes(ticket_engine: WorkflowEngine) -> None:
    with pytest.raises(InvalidInput) as unknown:
        ticket_engine.create("ticket", DEVELOPER, data={"priorty": 2})
    assert unknown.value.field == "priorty" and "did you mean 'priority'?" in unknown.value.message
    with pytest.raises(InvalidInput) as wrong:
        ticket_engine.create("ticket", DEVELOPER, data={"priority": 7})
    assert wrong.value.field == "priority"
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    before = snapshot(ticket_engine.database, ticket.id)
    with pytest.raises(InvalidInput):
        ticket_engine.fire(ticket.id, "corrupt", DEVELOPER)  # an action writing an invalid value
    assert snapshot(ticket_engine.database, ticket.id) == before


# ---- atomicity: a plugin failing mid-transition leaves everything as before -------------------------


def test_action_raising_mid_transition_leaves_everything_as_before(
    ticket_engine: WorkflowEngine, switches: Switches
) -> None:
    ticket_id = at_review(ticket_engine)
    switches.explode = True
    before = snapshot(ticket_engine.database, ticket_id)
    with pytest.raises(PluginError) as caught:
        ticket_engine.fire(ticket_id, "approve", CUSTOMER)
    assert "explode_when_asked" in caught.value.message and "boom" in caught.value.message
    assert snapshot(ticket_engine.database, ticket_id) == before
    assert len(ticket_engine.history(ticket_id)) == 3


def test_condition_raising_aborts_with_a_plugin_error(
    ticket_engine: WorkflowEngine, switches: Switches
) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER, data={"reviewer": "ann"}).subject
    ticket_engine.fire(ticket.id, "start", DEVELOPER)
    switches.raise_in_condition = True
    before = snapshot(ticket_engine.database, ticket.id)
    with pytest.raises(PluginError) as caught:
        ticket_engine.fire(ticket.id, "submit", DEVELOPER)
    assert caught.value.code == ErrorCode.PLUGIN_ERROR and "switch_on" in caught.value.message
    assert snapshot(ticket_engine.database, ticket.id) == before


def test_messages_emitted_by_after_transition_hooks_commit_with_the_event(
    ticket_engine: WorkflowEngine, switches: Switches
) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    switches.emit_after = True
    event = ticket_engine.fire(ticket.id, "start", DEVELOPER).event
    with ticket_engine.database.read() as conn:
        rows = conn.execute(select(outbox).where(outbox.c.topic == "after")).all()
    assert [(r.event_id, r.subject_id, r.payload, r.status) for r in rows] == [
        (event.event_id, ticket.id, {"what": "start", "event_id": event.event_id}, "pending")
    ]


def test_after_transition_hook_raising_rolls_back_state_history_and_outbox(
    ticket_engine: WorkflowEngine, switches: Switches
) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    switches.raise_after = True
    before = snapshot(ticket_engine.database, ticket.id)
    with pytest.raises(PluginError):
        ticket_engine.fire(ticket.id, "start", DEVELOPER)
    assert snapshot(ticket_engine.database, ticket.id) == before


def test_fire_joins_the_callers_transaction(ticket_engine: WorkflowEngine) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    before = snapshot(ticket_engine.database, ticket.id)
    with pytest.raises(RuntimeError), ticket_engine.database.write() as conn:
        ticket_engine.fire(ticket.id, "start", DEVELOPER, connection=conn)
        assert ticket_engine.get(ticket.id, connection=conn).state == "work.doing"
        raise RuntimeError("the caller's unit of work fails later")
    assert snapshot(ticket_engine.database, ticket.id) == before


# ---- what a frontend needs to draw buttons --------------------------------------------------------


def test_available_transitions_per_viewer_with_every_reason(
    ticket_engine: WorkflowEngine, switches: Switches
) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    ticket_engine.fire(ticket.id, "start", DEVELOPER)
    switches.on = False
    before = snapshot(ticket_engine.database, ticket.id)

    available = {t.trigger: t for t in ticket_engine.available_transitions(ticket.id, DEVELOPER)}

    assert set(available) == {"submit", "bump"}  # bump is declared on the parent 'work'
    assert available["bump"].allowed and available["bump"].blocked_by == ()
    assert not available["submit"].allowed
    assert available["submit"].blocked_by == ("the switch is off", "Reviewer must be filled in first")
    assert available["submit"].dest == "work.review"
    assert snapshot(ticket_engine.database, ticket.id) == before  # no side effects


def test_available_transitions_reflect_roles(ticket_engine: WorkflowEngine) -> None:
    ticket_id = at_review(ticket_engine)
    as_developer = ticket_engine.available_transitions(ticket_id, DEVELOPER)
    as_customer = ticket_engine.available_transitions(ticket_id, CUSTOMER)
    assert [(t.trigger, t.allowed) for t in as_developer] == [("approve", False), ("bump", True)]
    assert "customer role" in as_developer[0].blocked_by[0]
    assert [(t.trigger, t.allowed) for t in as_customer] == [("approve", True), ("bump", True)]


def test_available_transitions_report_a_broken_condition_instead_of_failing(
    ticket_engine: WorkflowEngine, switches: Switches
) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    ticket_engine.fire(ticket.id, "start", DEVELOPER)
    switches.raise_in_condition = True
    submit = next(
        t for t in ticket_engine.available_transitions(ticket.id, DEVELOPER) if t.trigger == "submit"
    )
    assert not submit.allowed and "could not be checked" in submit.blocked_by[0]


# ---- versions and machines -------------------------------------------------------------------------


SIMPLE = """
workflow: simple
version: {version}
subject: doc
initial: draft
states:
  - name: draft
  - name: published
    final: true
transitions:
  - trigger: publish
    source: draft
    dest: published
    conditions: {conditions}
"""


def test_running_subject_stays_on_its_workflow_version(
    database: Database, write_workflow: Callable[[str, str], Path]
) -> None:
    pm = make_plugin_manager()
    folder = write_workflow(SIMPLE.format(version=1, conditions="[]"), "v1.yaml").parent
    engine = WorkflowEngine(database, WorkflowRegistry.load([folder], Catalog.from_plugins(pm)), pm)
    old = engine.create("doc", DEVELOPER).subject

    # the organisation adds version 2, which requires a comment to publish
    write_workflow(SIMPLE.format(version=2, conditions="[comment_given]"), "v2.yaml")
    engine = WorkflowEngine(database, WorkflowRegistry.load([folder], Catalog.from_plugins(pm)), pm)
    new = engine.create("doc", DEVELOPER).subject

    assert (old.workflow_version, new.workflow_version) == (1, 2)
    assert engine.fire(old.id, "publish", DEVELOPER).subject.state == "published"
    with pytest.raises(GuardFailed):
        engine.fire(new.id, "publish", DEVELOPER)
    assert engine.fire(new.id, "publish", DEVELOPER, comment="ready").subject.state == "published"


def test_one_machine_per_workflow_version_not_per_subject(ticket_engine: WorkflowEngine) -> None:
    for _ in range(20):
        ticket = ticket_engine.create("ticket", DEVELOPER).subject
        ticket_engine.fire(ticket.id, "start", DEVELOPER)
    assert len(ticket_engine.machines) == 1
    # the memoised path equals what the machine itself answers
    definition = ticket_engine.registry.get("ticket")
    assert definition is not None
    fresh = ticket_engine.machines.step(definition, "work.review", "approve", fresh=True)
    assert fresh == ticket_engine.machines.step(definition, "work.review", "approve")
    assert fresh.exited == ("work.review", "work") and fresh.entered == ("done",)


def test_every_event_is_announced_to_event_recorded_hooks_creation_included(
    ticket_engine: WorkflowEngine, switches: Switches
) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    ticket_engine.fire(ticket.id, "start", DEVELOPER)
    assert switches.recorded == [("create", "open", 1), ("start", "work.doing", 2)]

    switches.raise_recorded = True
    before = snapshot(ticket_engine.database, ticket.id)
    with pytest.raises(PluginError, match="event-recorded hook"):
        ticket_engine.fire(ticket.id, "bump", DEVELOPER, payload={"priority": 2})
    assert snapshot(ticket_engine.database, ticket.id) == before


NAN = float("nan")


@pytest.mark.parametrize(
    ("call", "error", "field"),
    [
        (
            lambda e, i: e.fire(i, "bump", DEVELOPER, payload={"priority": float("nan")}),
            InvalidInput,
            "payload",
        ),
        (lambda e, i: e.fire(i, "start", DEVELOPER, payload={"note": "a\x00b"}), InvalidInput, "payload"),
        (lambda e, i: e.fire(i, "start", DEVELOPER, comment="a\x00b"), InvalidInput, "comment"),
        (lambda e, i: e.fire(2**70, "start", DEVELOPER), NotFound, "id"),
        (lambda e, i: e.fire(i, 123, DEVELOPER), InvalidInput, "trigger"),
    ],
    ids=["nan-payload", "nul-payload", "nul-comment", "huge-id", "trigger-not-text"],
)
def test_input_the_database_would_choke_on_is_refused_first(
    ticket_engine: WorkflowEngine, call: Callable[..., Any], error: type[Exception], field: str
) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    before = snapshot(ticket_engine.database, ticket.id)
    with pytest.raises(error) as caught:
        call(ticket_engine, ticket.id)
    assert caught.value.field == field  # type: ignore[attr-defined]
    assert snapshot(ticket_engine.database, ticket.id) == before


def test_a_subject_in_a_state_its_workflow_no_longer_has_gets_a_clear_error(
    ticket_engine: WorkflowEngine,
) -> None:
    ticket = ticket_engine.create("ticket", DEVELOPER).subject
    with ticket_engine.database.write() as conn:  # as if someone renamed 'open' in the file
        conn.execute(subjects.update().where(subjects.c.id == ticket.id).values(state="ghost"))
    for attempt in (
        lambda: ticket_engine.fire(ticket.id, "start", DEVELOPER),
        lambda: ticket_engine.available_transitions(ticket.id, DEVELOPER),
    ):
        with pytest.raises(InvalidTransition, match="'ghost', which workflow 'ticket' version 1"):
            attempt()


def test_machine_paths_equal_fresh_machine_answers_for_every_trigger_of_every_shipped_workflow(
    registry: WorkflowRegistry,
) -> None:
    from pmflow.core.machines import MachineCache

    cache = MachineCache()
    pairs = 0
    for definition in registry:
        for leaf in definition.leaves:
            for trigger in definition.transitions_from(leaf):
                memo = cache.step(definition, leaf, trigger)
                assert cache.step(definition, leaf, trigger) == memo
                assert cache.step(definition, leaf, trigger, fresh=True) == memo
                transition = definition.transition_for(leaf, trigger)
                assert transition is not None
                expected = definition.resolve_initial(transition.dest) if transition.dest else leaf
                assert memo.dest == expected
                pairs += 1
    assert pairs > 50
