"""State timers: a state's ``timeout`` fires its trigger when due, even across restarts.

Arming and cancelling happen inside the transition that enters or leaves the state (the engine calls
``arm_initial`` and ``after_step`` in its transaction), so a timer exists exactly while its subject
is in its state. ``TimerRunner`` (run by the outbox ``Worker`` each loop) claims due timers and fires
each in one transaction with the timer's own status change: a timer is fired once or not at all.
The claim is the row lock (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite ``BEGIN IMMEDIATE``), held
for that one short transaction, so a killed worker's claim ends with its connection and nothing is
lost. See docs/workflows.md ("Timeouts") and docs/decisions.md ("State timers").
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, insert, select, update

from pmflow.core.database import Database
from pmflow.core.definitions import WorkflowDefinition
from pmflow.core.errors import GuardFailed, InvalidInput, InvalidTransition, NotAllowed, NotFound
from pmflow.core.tables import subjects, timers
from pmflow.core.types import SYSTEM_ROLE, Actor, Subject

if TYPE_CHECKING:
    from pmflow.core.engine import WorkflowEngine
    from pmflow.core.outbox import RetryPolicy

log = logging.getLogger("pmflow.timers")

PENDING, FIRED, CANCELLED, FAILED = "pending", "fired", "cancelled", "failed"
MAX_ERROR = 2000
TIMER_ACTOR = Actor(id="system:timer", roles=frozenset({SYSTEM_ROLE}), name="Timer", system=True)
# Refusals that asking again cannot change: the timer ends failed with the reason, not retried.
_FINAL_REFUSALS = (GuardFailed, InvalidTransition, NotAllowed, NotFound, InvalidInput)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Timer:
    id: int
    subject_id: int
    state: str
    subject_version: int
    trigger: str
    due_at: datetime
    status: str
    attempts: int
    last_error: str | None
    fired_at: datetime | None
    created_at: datetime


def _timer(row: Row[Any]) -> Timer:
    return Timer(**{column: getattr(row, column) for column in Timer.__slots__})


# ---- arming and cancelling (inside the engine's transaction) ---------------------------------------
def _arm(
    conn: Connection, definition: WorkflowDefinition, subject: Subject, paths: Iterable[str], now: datetime
) -> None:
    rows = []
    for path in paths:
        timeout = definition.states[path].timeout
        if timeout is None:
            continue
        rows.append(
            {
                "subject_id": subject.id,
                "state": path,
                "subject_version": subject.version,
                "trigger": timeout.trigger,
                "due_at": now + timeout.after,
                "status": PENDING,
                "attempts": 0,
                "created_at": now,
            }
        )
    if rows:
        conn.execute(insert(timers), rows)


def _cancel(conn: Connection, subject_id: int, paths: Iterable[str], why: str) -> None:
    states = list(paths)
    if states:
        conn.execute(
            update(timers)
            .where(timers.c.subject_id == subject_id, timers.c.status == PENDING, timers.c.state.in_(states))
            .values(status=CANCELLED, last_error=why)
        )


def has_timeouts(definition: WorkflowDefinition) -> bool:
    return any(state.timeout is not None for state in definition.states.values())


def arm_initial(conn: Connection, definition: WorkflowDefinition, subject: Subject, now: datetime) -> None:
    """A new subject enters its initial leaf and every ancestor of it: arm their timeouts."""
    if has_timeouts(definition):
        _arm(conn, definition, subject, reversed(definition.ancestors(subject.state)), now)


def after_step(
    conn: Connection,
    definition: WorkflowDefinition,
    subject: Subject,
    trigger: str,
    exited: Iterable[str],
    entered: Iterable[str],
    now: datetime,
) -> None:
    """Cancel the timers of the states left, arm those of the states entered.

    A transition that leaves and enters no state (internal) re-arms the timeout of each current
    state whose timeout trigger it is: a reminder then repeats every ``after`` until the subject
    moves on. Other internal transitions (a comment, a field edit) leave the timers alone.
    """
    if not has_timeouts(definition):
        return
    exited, entered = list(exited), list(entered)
    if not exited and not entered:
        again = [
            path
            for path in definition.ancestors(subject.state)
            if (timeout := definition.states[path].timeout) is not None and timeout.trigger == trigger
        ]
        _cancel(conn, subject.id, again, f"re-armed by '{trigger}'")
        _arm(conn, definition, subject, again, now)
        return
    timed = [path for path in exited if definition.states[path].timeout is not None]  # only these have timers
    _cancel(conn, subject.id, timed, f"left the state by '{trigger}'")
    _arm(conn, definition, subject, entered, now)


# ---- reading -----------------------------------------------------------------------------------------
def timers_of(conn: Connection, subject_id: int) -> list[Timer]:
    """Every timer of a subject, oldest first."""
    query = select(timers).where(timers.c.subject_id == subject_id).order_by(timers.c.id)
    return [_timer(row) for row in conn.execute(query)]


# ---- firing (the worker) -----------------------------------------------------------------------------
class TimerRunner:
    """Fires due timers through the engine, each in one transaction with its status change.

    A guard that blocks (or a trigger no longer possible) ends the timer ``failed`` with the reasons,
    and it is not retried: the subject waits for people. Any other error (database, a plugin's
    exception) is retried with the retry policy's backoff, and ends ``failed`` after its attempts.
    A timer whose subject is no longer in its state is ``cancelled`` (the engine cancels on leaving;
    this covers subjects moved by other means).
    """

    def __init__(
        self,
        engine: WorkflowEngine,
        *,
        policy: RetryPolicy | None = None,
        batch: int = 100,
        clock: Clock | None = None,
        chance: Callable[[], float] = random.random,
        actor: Actor = TIMER_ACTOR,
    ) -> None:
        from pmflow.core.outbox import RetryPolicy  # the outbox imports this module

        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        self.engine = engine
        self.database: Database = engine.database
        self.policy = policy or RetryPolicy()
        self.batch = batch
        self.clock: Clock = clock or engine.clock
        self.chance = chance
        self.actor = actor

    def run_once(self) -> int:
        """Fire (or settle) up to ``batch`` due timers; the number handled."""
        handled = 0
        skip: list[int] = []  # each timer once per batch: a retry or a busy subject waits for the next
        while handled < self.batch and len(skip) < 2 * self.batch:
            if not self._due_exists(skip):
                break
            outcome = self._fire_next(skip)
            if outcome is None:
                break
            timer_id, settled = outcome
            skip.append(timer_id)
            handled += settled
        return handled

    def drain(self) -> int:
        total = 0
        while handled := self.run_once():
            total += handled
        return total

    def _due(self, skip: list[int]) -> Any:
        due = (timers.c.status == PENDING) & (timers.c.due_at <= self.clock())
        return due & timers.c.id.not_in(skip) if skip else due

    def _due_exists(self, skip: list[int]) -> bool:
        # A cheap read first: on SQLite every claim takes the single write lock.
        with self.database.read() as conn:
            return conn.execute(select(timers.c.id).where(self._due(skip)).limit(1)).first() is not None

    def _fire_next(self, skip: list[int]) -> tuple[int, bool] | None:
        """Claim one due timer and fire it in the same transaction: its id and whether it was settled
        (fired, cancelled or failed; not when its subject was busy), or None if none is due."""
        failure: tuple[Timer, Exception] | None = None
        try:
            with self.database.write() as conn:
                query = select(timers).where(self._due(skip)).order_by(timers.c.due_at, timers.c.id).limit(1)
                if self.database.dialect == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                row = conn.execute(query).first()
                if row is None:
                    return None
                timer = _timer(row)
                try:
                    settled = self._fire(conn, timer)
                except Exception as error:
                    failure = (timer, error)
                    raise
        except Exception:
            if failure is None:
                raise  # claiming itself failed (database down): the worker logs and tries again
            failed, cause = failure
            self._record_failure(failed, cause)
            return failed.id, True
        return timer.id, settled

    def _fire(self, conn: Connection, timer: Timer) -> bool:
        if self.database.dialect == "postgresql":
            # A transition of this subject in progress holds its row and will cancel or re-arm this timer,
            # waiting on our lock of it: never wait for the subject while holding the timer (deadlock).
            lock = (
                select(subjects.c.id)
                .where(subjects.c.id == timer.subject_id)
                .with_for_update(skip_locked=True)
            )
            if conn.execute(lock).first() is None:
                return False  # busy: left pending, due again at the next loop
        subject = self.engine.get(timer.subject_id, connection=conn)
        definition = self.engine.definition_of(subject)
        if subject.state not in definition.states or timer.state not in definition.ancestors(subject.state):
            conn.execute(
                update(timers)
                .where(timers.c.id == timer.id)
                .values(
                    status=CANCELLED,
                    last_error=f"the subject is no longer in '{timer.state}' (now in '{subject.state}')",
                )
            )
            return True
        now = self.clock()
        # No comment and no payload: validation promised that a timeout's trigger needs neither.
        self.engine.fire(timer.subject_id, timer.trigger, self.actor, connection=conn)
        # After the fire: its own re-arm or cancel touched this row too; the fire is what happened to it.
        conn.execute(
            update(timers)
            .where(timers.c.id == timer.id)
            .values(status=FIRED, fired_at=now, attempts=timer.attempts + 1, last_error=None)
        )
        return True

    def _record_failure(self, timer: Timer, error: Exception) -> None:
        now = self.clock()
        attempt = timer.attempts + 1
        reason = _describe(error)
        values: dict[str, Any] = {"attempts": attempt, "last_error": reason}
        if isinstance(error, _FINAL_REFUSALS) or attempt >= self.policy.max_attempts:
            values["status"] = FAILED
            log.warning(
                "timer %s (%s on subject %s) failed: %s", timer.id, timer.trigger, timer.subject_id, reason
            )
        else:
            values["due_at"] = now + self.policy.delay(attempt, self.chance)
            log.warning("timer %s failed, retrying at %s: %s", timer.id, values["due_at"], reason)
        with self.database.write() as conn:
            # Only if nobody settled it meanwhile (another worker may have claimed it after our rollback).
            conn.execute(
                update(timers)
                .where(
                    timers.c.id == timer.id, timers.c.status == PENDING, timers.c.attempts == timer.attempts
                )
                .values(**values)
            )


def _describe(error: Exception) -> str:
    if isinstance(error, GuardFailed):
        text = "blocked: " + "; ".join(error.reasons)
    elif isinstance(error, _FINAL_REFUSALS):
        text = str(getattr(error, "message", error))
    else:
        text = f"{type(error).__name__}: {error}"
    return text.strip()[:MAX_ERROR]
