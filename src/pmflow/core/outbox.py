"""The outbox worker: delivers what transitions queued after commit, at least once, to the consumers.

Each (outbox row, consumer) pair is one *delivery* with its own attempts, status and error in the
``deliveries`` table (the delivery log), so a failing consumer is retried alone and never makes the
others receive a message twice. A worker claims due outbox rows by moving them to ``in_flight`` with a
lease (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so several workers never claim the same row); a
worker killed mid-delivery leaves rows whose lease runs out, and the next claim takes them again.
Consumers come from plugins (``pmflow_outbox_consumers``, ``pmflow_after_commit``). See
docs/decisions.md ("The outbox worker") and docs/plugins.md.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import pluggy
from sqlalchemy import Connection, Row, insert, select, update

from pmflow.core.database import Database
from pmflow.core.tables import deliveries, outbox

if TYPE_CHECKING:
    from pmflow.core.timers import TimerRunner

log = logging.getLogger("pmflow.outbox")

Clock = Callable[[], datetime]

# Outbox row states. ``in_flight`` rows whose lease (``available_at``) has passed are due again.
PENDING, IN_FLIGHT, DELIVERED, DEAD = "pending", "in_flight", "delivered", "dead"
_PERMANENT = "\x00permanent:"  # marks a PermanentFailure's reason between _deliver and _record
# Delivery states (the delivery log).
FAILED = "failed"
DONE = frozenset({DELIVERED, DEAD})
MAX_ERROR = 2000
AFTER_COMMIT_PREFIX = "after_commit:"


@dataclass(frozen=True, slots=True)
class OutboxDelivery:
    """One message as one consumer receives it.

    ``event_id`` is the history event's stable id (shared by every outbox row of one transition);
    ``delivery_id`` is stable across retries of this message to this consumer: use it to de-duplicate.
    ``attempt`` counts from 1.
    """

    delivery_id: int
    outbox_id: int
    event_id: str
    topic: str
    subject_id: int
    payload: Mapping[str, Any]
    consumer: str
    attempt: int
    created_at: datetime


# Returns None, or an awaitable the worker runs to completion (async consumers).
Deliver = Callable[[OutboxDelivery], object]


def pending_row(
    event_id: str,
    topic: str,
    subject_id: int,
    payload: Mapping[str, Any],
    now: datetime,
    *,
    available_at: datetime | None = None,
) -> dict[str, Any]:
    """A new ``outbox`` row, due at ``available_at`` (default: at once). Every writer of the outbox
    (the engine, the channels, plugins) builds its rows here, so they agree on the pending state."""
    return {
        "event_id": event_id,
        "topic": topic,
        "subject_id": subject_id,
        "payload": dict(payload),
        "status": PENDING,
        "attempts": 0,
        "available_at": now if available_at is None else available_at,
        "created_at": now,
    }


@dataclass(frozen=True, slots=True)
class OutboxConsumer:
    """A named receiver of outbox messages. ``deliver`` raising means "failed, retry later".

    ``topics`` limits it to those topics (``None``: every topic). The name identifies its deliveries
    in the log across restarts: keep it stable.
    """

    name: str
    deliver: Deliver
    topics: frozenset[str] | None = None
    description: str = ""

    def wants(self, topic: str) -> bool:
        return self.topics is None or topic in self.topics


class PermanentFailure(Exception):
    """Raised by a consumer when asking again cannot help (a receiver refused the message): the
    delivery ends dead at once, with this reason, instead of being retried."""


class OutboxConsumerError(Exception):
    """A plugin's consumer cannot be used: not an ``OutboxConsumer``, a bad or duplicate name."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: attempt n failed -> wait ``min(max_delay, base * factor**(n-1))`` seconds,
    less up to ``jitter`` of it at random (so retries of many rows spread out); dead after
    ``max_attempts`` failed attempts."""

    max_attempts: int = 10
    base: float = 5.0
    factor: float = 2.0
    max_delay: float = 3600.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        problems = []
        if self.max_attempts < 1:
            problems.append(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base <= 0 or self.max_delay <= 0:
            problems.append(f"base and max_delay must be positive, got {self.base} and {self.max_delay}")
        if self.factor < 1:
            problems.append(f"factor must be at least 1, got {self.factor}")
        if not 0 <= self.jitter < 1:
            problems.append(f"jitter must be in [0, 1), got {self.jitter}")
        if problems:
            raise ValueError("retry policy: " + "; ".join(problems))

    def delay(self, attempt: int, chance: Callable[[], float] = random.random) -> timedelta:
        """How long to wait after failed attempt number ``attempt`` (1-based)."""
        raw = min(self.max_delay, self.base * self.factor ** max(0, attempt - 1))
        return timedelta(seconds=raw * (1 - self.jitter * chance()))


def consumers_from_plugins(pm: pluggy.PluginManager) -> list[OutboxConsumer]:
    """Every consumer the plugins provide: ``pmflow_outbox_consumers`` results, plus one consumer per
    ``pmflow_after_commit`` implementation (named ``after_commit:<module>.<function>``) so that each
    after-commit hook is retried on its own."""
    found: list[OutboxConsumer] = []
    for impl in reversed(pm.hook.pmflow_outbox_consumers.get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            continue
        module = getattr(impl.function, "__module__", None) or impl.plugin_name
        for item in cast("Iterable[object]", impl.function() or ()):
            if not isinstance(item, OutboxConsumer):
                raise OutboxConsumerError(
                    f"pmflow_outbox_consumers in module '{module}' returned {item!r}, not an OutboxConsumer"
                )
            if not isinstance(item.name, str) or not item.name.strip() or len(item.name) > 200:
                raise OutboxConsumerError(
                    f"outbox consumer name {item.name!r} (from module '{module}') must be 1-200 characters"
                )
            found.append(item)
    for impl in reversed(pm.hook.pmflow_after_commit.get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            continue
        function = impl.function
        name = f"{AFTER_COMMIT_PREFIX}{function.__module__}.{function.__qualname__}"[:200]
        found.append(OutboxConsumer(name=name, deliver=_hook_caller(function, impl.argnames)))
    seen: set[str] = set()
    for consumer in found:
        if consumer.name in seen:
            raise OutboxConsumerError(f"outbox consumer '{consumer.name}' is provided twice")
        seen.add(consumer.name)
    return found


def _hook_caller(function: Callable[..., object], argnames: Sequence[str]) -> Deliver:
    def deliver(delivery: OutboxDelivery) -> object:
        # pluggy's rule: an implementation asks for any subset of the spec's arguments
        return function(**{name: delivery for name in argnames if name == "delivery"})

    return deliver


@dataclass(frozen=True, slots=True)
class _Pending:
    """A delivery still to make, as claimed."""

    id: int
    consumer: str
    attempts: int
    status: str
    next_attempt_at: datetime


@dataclass(frozen=True, slots=True)
class _Claimed:
    row: Row[Any]
    deliveries: tuple[_Pending, ...]


class Worker:
    """Drains the outbox of one database. ``run_once`` for one batch, ``run`` until stopped.

    Delivery happens outside any transaction (a consumer may call a slow webhook); the result of all
    consumers of one outbox row is recorded in one short transaction afterwards. Thread-safe enough
    to run in one background thread beside the API; run several processes for more throughput.
    """

    def __init__(
        self,
        database: Database,
        consumers: Iterable[OutboxConsumer],
        *,
        policy: RetryPolicy | None = None,
        batch: int = 100,
        lease: timedelta = timedelta(seconds=60),
        clock: Clock | None = None,
        chance: Callable[[], float] = random.random,
        timers: TimerRunner | None = None,
    ) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        if lease <= timedelta(0):
            raise ValueError(f"lease must be positive, got {lease}")
        self.database = database
        self.consumers = {c.name: c for c in consumers}
        self.policy = policy or RetryPolicy()
        self.batch = batch
        self.lease = lease
        self.clock: Clock = clock or _utc_now
        self.chance = chance
        self.timers = timers  # state timeouts due, fired after each outbox batch (pmflow.core.timers)

    @classmethod
    def for_plugins(cls, database: Database, pm: pluggy.PluginManager, **options: Any) -> Worker:
        return cls(database, consumers_from_plugins(pm), **options)

    # ---- running ---------------------------------------------------------------------------
    def run_once(self, stop: threading.Event | None = None) -> int:
        """Claim one batch of due outbox rows and deliver them, then fire the due timers (when given
        ``timers``); the number of rows claimed and timers handled.

        When ``stop`` is set mid-batch, the rows not yet handled are handed back at once.
        """
        claimed = self._claim()
        for index, item in enumerate(claimed):
            if stop is not None and stop.is_set():
                self._release([c.row.id for c in claimed[index:]])
                break
            self._deliver(item)
        handled = len(claimed)
        if self.timers is not None and not (stop is not None and stop.is_set()):
            handled += self.timers.run_once()
        return handled

    def drain(self, stop: threading.Event | None = None) -> int:
        """Run batches until nothing is due (or ``stop`` is set); the number of rows handled."""
        total = 0
        while not (stop is not None and stop.is_set()):
            handled = self.run_once(stop)
            total += handled
            if handled == 0:
                break
        return total

    def run(self, stop: threading.Event, poll: float = 1.0) -> None:
        """Deliver until ``stop`` is set, waiting ``poll`` seconds whenever nothing is due.

        A database error is logged and retried after ``poll``: the worker outlives a database restart.
        """
        while not stop.is_set():
            try:
                handled = self.run_once(stop)
            except Exception:
                log.exception("the outbox worker failed; retrying in %s s", poll)
                handled = 0
            if handled == 0:
                stop.wait(poll)

    # ---- claiming --------------------------------------------------------------------------
    def _claim(self) -> list[_Claimed]:
        now = self.clock()
        due = outbox.c.status.in_((PENDING, IN_FLIGHT)) & (outbox.c.available_at <= now)
        # A cheap read first: on SQLite every claim takes the single write lock.
        with self.database.read() as conn:
            if conn.execute(select(outbox.c.id).where(due).limit(1)).first() is None:
                return []
        with self.database.write() as conn:
            query = select(outbox.c.id).where(due).order_by(outbox.c.id).limit(self.batch)
            if self.database.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(conn.execute(query).scalars())
            if not ids:
                return []
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids))
                .values(status=IN_FLIGHT, available_at=now + self.lease, attempts=outbox.c.attempts + 1)
            )
            rows = conn.execute(select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.id)).all()
            owed = self._deliveries_of(conn, rows, now)
            return [_Claimed(row, owed.get(row.id, ())) for row in rows]

    def _deliveries_of(
        self, conn: Connection, rows: Sequence[Row[Any]], now: datetime
    ) -> dict[int, tuple[_Pending, ...]]:
        """Each row's deliveries to the installed consumers that want its topic; missing ones are
        written now as ``pending``, so the log shows every consumer a message is owed to."""
        wanted = {row.id: [n for n, c in self.consumers.items() if c.wants(row.topic)] for row in rows}
        ids = [row_id for row_id, names in wanted.items() if names]
        if not ids:
            return {}
        query = select(deliveries).where(deliveries.c.outbox_id.in_(ids))
        found = {(d.outbox_id, d.consumer): d for d in conn.execute(query)}
        missing = [
            {
                "outbox_id": row.id,
                "event_id": row.event_id,
                "consumer": name,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for row in rows
            for name in wanted[row.id]
            if (row.id, name) not in found
        ]
        if missing:
            conn.execute(insert(deliveries), missing)
            found = {(d.outbox_id, d.consumer): d for d in conn.execute(query)}
        return {
            row_id: tuple(
                _Pending(d.id, d.consumer, d.attempts, d.status, d.next_attempt_at)
                for d in (found[(row_id, name)] for name in wanted[row_id])
            )
            for row_id in ids
        }

    def _release(self, ids: list[int]) -> None:
        with self.database.write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids), outbox.c.status == IN_FLIGHT)
                .values(status=PENDING, available_at=self.clock())
            )

    # ---- delivering ------------------------------------------------------------------------
    def _deliver(self, item: _Claimed) -> None:
        row = item.row
        now = self.clock()
        results: list[tuple[_Pending, str | None]] = []
        for pending in item.deliveries:
            if pending.status in DONE or pending.next_attempt_at > now:
                continue  # delivered, dead, or this consumer is still backing off
            message = OutboxDelivery(
                delivery_id=pending.id,
                outbox_id=row.id,
                event_id=row.event_id,
                topic=row.topic,
                subject_id=row.subject_id,
                payload=row.payload,
                consumer=pending.consumer,
                attempt=pending.attempts + 1,
                created_at=row.created_at,
            )
            try:
                outcome = self.consumers[pending.consumer].deliver(message)
                if inspect.isawaitable(outcome):  # an async consumer: this thread has no event loop
                    asyncio.run(_awaited(outcome))
                results.append((pending, None))
            except PermanentFailure as error:
                log.warning("delivery %s to %s refused for good: %s", pending.id, pending.consumer, error)
                results.append((pending, _PERMANENT + _describe(error)))
            except Exception as error:  # recorded against this delivery and retried; others unaffected
                log.warning("delivery %s to %s failed: %r", pending.id, pending.consumer, error)
                results.append((pending, _describe(error)))
        self._record(row, item.deliveries, results)

    def _record(
        self, row: Row[Any], claimed: Sequence[_Pending], results: Sequence[tuple[_Pending, str | None]]
    ) -> None:
        now = self.clock()
        state: dict[int, tuple[str, datetime, str | None]] = {
            p.id: (p.status, p.next_attempt_at, None) for p in claimed
        }
        errors: list[str] = []
        with self.database.write() as conn:
            for pending, error in results:
                attempt = pending.attempts + 1
                values: dict[str, Any] = {"attempts": attempt}
                if error is None:
                    values.update(status=DELIVERED, delivered_at=now)
                elif error.startswith(_PERMANENT):
                    error = error[len(_PERMANENT) :]
                    values.update(status=DEAD, last_error=error)
                elif attempt >= self.policy.max_attempts:
                    values.update(status=DEAD, last_error=error)
                else:
                    retry_at = now + self.policy.delay(attempt, self.chance)
                    values.update(status=FAILED, last_error=error, next_attempt_at=retry_at)
                conn.execute(update(deliveries).where(deliveries.c.id == pending.id).values(**values))
                state[pending.id] = (values["status"], values.get("next_attempt_at", now), error)
                if error is not None:
                    errors.append(f"{pending.consumer}: {error}")
            statuses = [status for status, _, _ in state.values()]
            outbox_values: dict[str, Any]
            if all(status in DONE for status in statuses):
                dead = DEAD in statuses
                outbox_values = {"status": DEAD if dead else DELIVERED, "delivered_at": None if dead else now}
            else:
                # due again when the earliest waiting consumer is
                waiting = [at for status, at, _ in state.values() if status not in DONE]
                outbox_values = {"status": PENDING, "available_at": max(now, min(waiting))}
            if errors:
                outbox_values["last_error"] = "; ".join(errors)[:MAX_ERROR]
            conn.execute(update(outbox).where(outbox.c.id == row.id).values(**outbox_values))


async def _awaited(outcome: Awaitable[object]) -> None:
    await outcome


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    return text[:MAX_ERROR]
