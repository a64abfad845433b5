"""Ratio benchmark: ``WorkflowEngine.fire`` against a hand-written SQLAlchemy Core floor.

Run from the repository root (or anywhere)::

    python benchmarks/bench_fire.py [--fires N] [--rounds R] [--database-url URL] [--profile]

The floor is what a transition minimally costs with SQLAlchemy Core: per fire one transaction
through the same ``Database.write()`` (same pool, same SQLite ``BEGIN IMMEDIATE`` and pragmas,
same column types) running SELECT subject (FOR UPDATE on PostgreSQL), UPDATE subjects ... WHERE
id AND version, INSERT event RETURNING id, INSERT outbox. It replays exactly the rows the engine
writes (recorded from one engine pass first: destination state, changed fields, extra outbox
messages) and checks afterwards that both sides left the same state, data and outbox topics.
The engine adds what makes it an engine: definition lookup, roles, payload schema, conditions,
hooks, the machine step, actions, field validation (and any statement those run).

Rounds are interleaved (engine, floor, engine, floor ...) so drift of the machine hits both sides
alike; the figure that matters is the median ratio engine_time / floor_time, not the absolute
speed. Runs on a fresh SQLite file (WAL) and, when ``PMFLOW_TEST_DATABASE_URL`` or
``--database-url`` is a PostgreSQL URL, also on PostgreSQL in a fresh schema dropped afterwards.
The last line printed is always ``RESULT fire_vs_core_floor=<ratio>`` for SQLite. The exit status
is 0 whatever the figures: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Entry-point plugins installed on the machine must not change what is measured.
os.environ["PMFLOW_DISABLE_PLUGIN_AUTOLOAD"] = "1"

import sqlalchemy
import transitions
from sqlalchemy import Connection, bindparam, create_engine, event, func, insert, select, update
from sqlalchemy.engine import make_url

from pmflow.core import migrate
from pmflow.core.database import Database, normalise_url
from pmflow.core.definitions import WorkflowDefinition
from pmflow.core.engine import EVENT_TOPIC, WorkflowEngine
from pmflow.core.plugins import DEFAULT_PLUGINS, Catalog, make_plugin_manager
from pmflow.core.registry import WorkflowRegistry
from pmflow.core.tables import events, outbox, subjects
from pmflow.core.types import Actor

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
PG_ENV = "PMFLOW_TEST_DATABASE_URL"
WORKFLOW = "customer-project"
SUBJECT = "project"

ACTOR = Actor("bench", frozenset({"manager"}))
HOLD_PAYLOAD: Mapping[str, Any] = {"reason": "x"}

# Targets from the issue.
MAX_RATIO = 2.0
MIN_FIRES_PER_SECOND = 1_000.0
COMMITS_PER_FIRE = 1.0
MAX_MACHINE_SHARE = 0.10

Payload = Mapping[str, Any]


# ---- what is fired --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """A cycle of triggers fired over and over on one subject."""

    name: str
    description: str
    place: str | None  # state the subject is put into first (setup); None: where create leaves it
    cycle: tuple[tuple[str, Payload], ...]


@dataclass(frozen=True)
class Fire:
    """One fire as the engine wrote it, for the floor to replay."""

    trigger: str
    payload: Payload
    dest: str
    changes: Payload  # custom fields the fire writes (the UPDATE then sets ``data`` too)
    extra: tuple[tuple[str, Payload], ...]  # outbox messages besides the event, without event_id


def variants(definition: WorkflowDefinition) -> list[Variant]:
    """hold/resume (the main figure) and remind_customer, resolved against the workflow file."""
    start = definition.initial_leaf
    hold = definition.transition_for(start, "put_on_hold")
    if hold is None or hold.dest is None:
        raise SystemExit(f"workflow '{definition.name}' has no put_on_hold out of '{start}'")
    on_hold = definition.resolve_initial(hold.dest)
    back = _resume(definition, on_hold, start)
    resume = definition.transition_for(on_hold, back)
    assert resume is not None
    guards = ", ".join(str(ref) for ref in resume.conditions) or "no conditions"
    found = [
        Variant(
            name="hold/resume",
            description=(f"put_on_hold {{reason}} (roles, payload schema, copy_payload) / {back} ({guards})"),
            place=None,
            cycle=(("put_on_hold", HOLD_PAYLOAD), (back, {})),
        )
    ]
    remind = next((t for t in definition.transitions if t.trigger == "remind_customer"), None)
    if remind is not None and remind.leaf_sources:
        actions = ", ".join(str(ref) for ref in remind.actions) or "no actions"
        found.append(
            Variant(
                name="remind",
                description=f"remind_customer: internal, {actions}; no field change",
                place=sorted(remind.leaf_sources)[0],
                cycle=(("remind_customer", {}),),
            )
        )
    return found


def _resume(definition: WorkflowDefinition, on_hold: str, start: str) -> str:
    """The trigger that brings a subject on hold back to ``start``: ``resume`` or ``resume_<x>``."""
    out = definition.transitions_from(on_hold)
    if "resume" in out:
        return "resume"
    for trigger, transition in out.items():
        if transition.dest is not None and definition.resolve_initial(transition.dest) == start:
            return trigger
    raise SystemExit(f"workflow '{definition.name}': no trigger leads from '{on_hold}' back to '{start}'")


def place_subject(engine: WorkflowEngine, variant: Variant) -> int:
    """A new subject, put where the variant starts (untimed setup; the way there needs domain records)."""
    subject_id = engine.create(SUBJECT, ACTOR, workflow=WORKFLOW).subject.id
    if variant.place is not None:
        with engine.database.write() as conn:
            conn.execute(update(subjects).where(subjects.c.id == subject_id).values(state=variant.place))
    return subject_id


def calibrate(engine: WorkflowEngine, variant: Variant) -> tuple[Fire, ...]:
    """Fire one cycle through the engine and record what it wrote, for the floor to replay."""
    subject_id = place_subject(engine, variant)
    recorded = []
    for trigger, payload in variant.cycle:
        before = engine.get(subject_id)
        result = engine.fire(subject_id, trigger, ACTOR, payload=payload)
        after = result.subject.data
        changes = {k: v for k, v in after.items() if k not in before.data or before.data[k] != v}
        with engine.database.read() as conn:
            rows = conn.execute(
                select(outbox.c.topic, outbox.c.payload)
                .where(outbox.c.event_id == result.event.event_id, outbox.c.topic != EVENT_TOPIC)
                .order_by(outbox.c.id)
            ).all()
        extra = tuple((r.topic, {k: v for k, v in r.payload.items() if k != "event_id"}) for r in rows)
        recorded.append(Fire(trigger, payload, result.subject.state, changes, extra))
    return tuple(recorded)


# ---- the floor: the same statements, written by hand ---------------------------------------------
_floor_select = select(subjects).where(subjects.c.id == bindparam("sid")).with_for_update()
_floor_move = (
    update(subjects)
    .where(subjects.c.id == bindparam("sid"), subjects.c.version == bindparam("old_version"))
    .values(state=bindparam("new_state"), version=bindparam("new_version"), updated_at=bindparam("now"))
)
_floor_move_data = _floor_move.values(data=bindparam("new_data"))
_floor_event = insert(events).returning(events.c.id)
_floor_outbox = insert(outbox)


def floor_fire(database: Database, subject_id: int, fire: Fire, actor: Actor) -> None:
    """What a transition minimally costs in SQLAlchemy Core: the engine's writes, no engine."""
    now = datetime.now(UTC)
    with database.write() as conn:
        row = conn.execute(_floor_select, {"sid": subject_id}).one()
        version = row.version + 1
        params: dict[str, Any] = {
            "sid": subject_id,
            "old_version": row.version,
            "new_state": fire.dest,
            "new_version": version,
            "now": now,
        }
        statement = _floor_move
        if fire.changes:
            params["new_data"] = {**row.data, **fire.changes}
            statement = _floor_move_data
        if conn.execute(statement, params).rowcount != 1:
            raise RuntimeError("the floor lost an update")
        event_id = str(uuid.uuid4())
        conn.execute(
            _floor_event,
            {
                "event_id": event_id,
                "subject_id": subject_id,
                "subject_version": version,
                "trigger": fire.trigger,
                "from_state": row.state,
                "to_state": fire.dest,
                "actor_id": actor.id,
                "actor_name": actor.name,
                "comment": None,
                "payload": dict(fire.payload),
                "occurred_at": now,
            },
        ).scalar_one()
        message = {
            "event_id": event_id,
            "subject_id": subject_id,
            "kind": row.kind,
            "workflow": row.workflow,
            "trigger": fire.trigger,
            "from_state": row.state,
            "to_state": fire.dest,
            "version": version,
            "actor_id": actor.id,
        }
        common = {
            "event_id": event_id,
            "subject_id": subject_id,
            "status": "pending",
            "attempts": 0,
            "available_at": now,
            "created_at": now,
        }
        rows = [{**common, "topic": EVENT_TOPIC, "payload": message}]
        for topic, payload in fire.extra:
            body = {**payload, "event_id": event_id}
            if "subject_id" in body:
                body["subject_id"] = subject_id
            rows.append({**common, "topic": topic, "payload": body})
        conn.execute(_floor_outbox, rows)


# ---- running the sides ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    variant: Variant
    fires: tuple[Fire, ...]  # one cycle, as recorded from the engine


def run_engine(engine: WorkflowEngine, plan: Plan, fires: int) -> float:
    """Seconds for ``fires`` engine fires on a new subject (its setup untimed)."""
    subject_id = place_subject(engine, plan.variant)
    cycle = plan.variant.cycle
    steps = [cycle[i % len(cycle)] for i in range(fires)]
    fire = engine.fire
    before = _version(engine.database, subject_id)
    settle(engine.database)
    start = time.perf_counter()
    for trigger, payload in steps:
        fire(subject_id, trigger, ACTOR, payload=payload)
    elapsed = time.perf_counter() - start
    _check(engine.database, subject_id, before, fires)
    return elapsed


def run_floor(engine: WorkflowEngine, plan: Plan, fires: int) -> float:
    """Seconds for ``fires`` floor fires on a new subject, set up the same way (untimed)."""
    subject_id = place_subject(engine, plan.variant)
    database = engine.database
    steps = [plan.fires[i % len(plan.fires)] for i in range(fires)]
    before = _version(database, subject_id)
    settle(database)
    start = time.perf_counter()
    for step in steps:
        floor_fire(database, subject_id, step, ACTOR)
    elapsed = time.perf_counter() - start
    _check(database, subject_id, before, fires)
    return elapsed


def settle(database: Database) -> None:
    """Start each timed side from the same place: no garbage pending and, on SQLite, an empty WAL.

    Without the checkpoint, whichever side happens to cross SQLite's auto-checkpoint threshold
    (1000 WAL pages; a few ms with its fsync) pays for pages the other side wrote.
    """
    if database.is_sqlite:
        raw = database.engine.raw_connection()  # outside any transaction (pysqlite autocommit)
        try:
            cursor = raw.cursor()
            busy, _, _ = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            cursor.close()
        finally:
            raw.close()
        if busy:
            raise RuntimeError("the SQLite checkpoint was blocked")
    gc.collect()


def _version(database: Database, subject_id: int) -> int:
    with database.read() as conn:
        return int(conn.execute(select(subjects.c.version).where(subjects.c.id == subject_id)).scalar_one())


def _check(database: Database, subject_id: int, before: int, fires: int) -> None:
    """Every fire moved the version by one and left one history event."""
    with database.read() as conn:
        stored = conn.execute(
            select(func.count()).select_from(events).where(events.c.subject_id == subject_id)
        ).scalar_one()
    version = _version(database, subject_id)
    if version != before + fires or stored != version:
        raise RuntimeError(
            f"subject {subject_id}: version {before} -> {version} with {stored} events after {fires} fires"
        )


@dataclass
class Counts:
    statements: int = 0
    commits: int = 0
    per_fire: list[list[str]] = field(default_factory=list)


@contextmanager
def counting(database: Database) -> Iterator[Counts]:
    """Count statements (BEGIN/COMMIT excluded) and commits on the database's engine."""
    counts = Counts()

    def on_execute(
        _conn: Connection, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        words = statement.split(None, 1)
        word = words[0].upper() if words else ""
        if word in ("BEGIN", "COMMIT"):
            return
        counts.statements += 1
        if counts.per_fire:
            counts.per_fire[-1].append(word)

    def on_commit(_conn: Connection) -> None:
        counts.commits += 1

    event.listen(database.engine, "before_cursor_execute", on_execute)
    event.listen(database.engine, "commit", on_commit)
    try:
        yield counts
    finally:
        event.remove(database.engine, "before_cursor_execute", on_execute)
        event.remove(database.engine, "commit", on_commit)


@dataclass(frozen=True)
class Counted:
    statements: float  # per fire
    commits: float  # per fire
    shapes: str  # the statements of each fire of one cycle
    subject_id: int


def count_side(engine: WorkflowEngine, plan: Plan, fires: int, *, floor: bool) -> Counted:
    """Statements and commits per fire of one side (untimed: the listeners cost time)."""
    subject_id = place_subject(engine, plan.variant)
    cycle = plan.variant.cycle
    with counting(engine.database) as counts:
        for i in range(fires):
            counts.per_fire.append([])
            if floor:
                floor_fire(engine.database, subject_id, plan.fires[i % len(plan.fires)], ACTOR)
            else:
                trigger, payload = cycle[i % len(cycle)]
                engine.fire(subject_id, trigger, ACTOR, payload=payload)
    shapes = " | ".join(
        f"{trigger}: {' '.join(counts.per_fire[i])}" for i, (trigger, _) in enumerate(cycle) if i < fires
    )
    return Counted(counts.statements / fires, counts.commits / fires, shapes, subject_id)


def compare(database: Database, engine_subject: int, floor_subject: int) -> list[str]:
    """Differences between what the two sides left behind (state, data, version, outbox topics)."""
    with database.read() as conn:
        rows = {
            row.id: row
            for row in conn.execute(
                select(subjects.c.id, subjects.c.state, subjects.c.version, subjects.c.data).where(
                    subjects.c.id.in_([engine_subject, floor_subject])
                )
            )
        }
        topics = {
            sid: Counter(
                conn.execute(select(outbox.c.topic).where(outbox.c.subject_id == sid)).scalars().all()
            )
            for sid in (engine_subject, floor_subject)
        }
    e, f = rows[engine_subject], rows[floor_subject]
    problems = [
        f"{name}: engine {a!r}, floor {b!r}"
        for name, a, b in (
            ("state", e.state, f.state),
            ("version", e.version, f.version),
            ("data", e.data, f.data),
            ("outbox topics", dict(topics[engine_subject]), dict(topics[floor_subject])),
        )
        if a != b
    ]
    return problems


def time_machine(
    engine: WorkflowEngine, definition: WorkflowDefinition, plan: Plan, calls: int, *, fresh: bool
) -> float:
    """Seconds per ``engine.machines.step`` call over the plan's (state, trigger) pairs."""
    pairs = [(plan.fires[i - 1].dest, fire.trigger) for i, fire in enumerate(plan.fires)]
    steps = [pairs[i % len(pairs)] for i in range(calls)]
    step = engine.machines.step
    for state, trigger in pairs:  # build the machine and the memo outside the timing
        step(definition, state, trigger)
    gc.collect()
    start = time.perf_counter()
    for state, trigger in steps:
        step(definition, state, trigger, fresh=fresh)
    return (time.perf_counter() - start) / calls


# ---- one backend ---------------------------------------------------------------------------------
@dataclass
class Side:
    times: list[float]
    counted: Counted


@dataclass
class VariantFigures:
    plan: Plan
    engine: Side
    floor: Side
    mismatch: list[str]

    @property
    def ratios(self) -> list[float]:
        return [e / f for e, f in zip(self.engine.times, self.floor.times, strict=True)]


@dataclass
class BackendFigures:
    label: str
    fires: int
    variants: list[VariantFigures]
    machine_memo: float
    machine_fresh: float
    profile: str | None = None

    @property
    def main(self) -> VariantFigures:
        return self.variants[0]

    @property
    def ratio(self) -> float:
        return statistics.median(self.main.ratios)

    @property
    def fire_seconds(self) -> float:
        return statistics.median(self.main.engine.times) / self.fires

    @property
    def fires_per_second(self) -> float:
        return 1.0 / self.fire_seconds


def plugin_setup() -> tuple[Sequence[str | object], migrate.Locations]:
    """The plugins and migration branches the application ships (``pmflow.app``), else the core's."""
    try:
        from pmflow import app
    except ImportError:
        return DEFAULT_PLUGINS, ()
    return app.DEFAULT_PLUGINS, app.MIGRATIONS


def build_engine(url: str) -> WorkflowEngine:
    plugins, locations = plugin_setup()
    pm = make_plugin_manager(plugins)
    registry = WorkflowRegistry.load([WORKFLOWS], Catalog.from_plugins(pm))
    database = Database(url)
    migrate.upgrade(database, locations=locations)
    return WorkflowEngine(database, registry, pm)


def bench_backend(label: str, url: str, fires: int, rounds: int, *, profile: bool) -> BackendFigures:
    engine = build_engine(url)
    try:
        definition = engine.registry.get(WORKFLOW)
        if definition is None:
            raise SystemExit(f"no workflow '{WORKFLOW}' in {WORKFLOWS}")
        plans = [Plan(v, calibrate(engine, v)) for v in variants(definition)]
        warm = min(fires, 200)
        for plan in plans:  # warm caches: compiled SQL, machine paths, validators, pool
            run_engine(engine, plan, warm)
            run_floor(engine, plan, warm)
        times: dict[str, tuple[list[float], list[float]]] = {p.variant.name: ([], []) for p in plans}
        for _ in range(rounds):  # interleaved: engine, floor, engine, floor ...
            for plan in plans:
                engine_times, floor_times = times[plan.variant.name]
                engine_times.append(run_engine(engine, plan, fires))
                floor_times.append(run_floor(engine, plan, fires))
        figures = []
        counted = min(fires, 200)
        for plan in plans:
            engine_times, floor_times = times[plan.variant.name]
            e = count_side(engine, plan, counted, floor=False)
            f = count_side(engine, plan, counted, floor=True)
            figures.append(
                VariantFigures(
                    plan=plan,
                    engine=Side(engine_times, e),
                    floor=Side(floor_times, f),
                    mismatch=compare(engine.database, e.subject_id, f.subject_id),
                )
            )
        result = BackendFigures(
            label=label,
            fires=fires,
            variants=figures,
            machine_memo=time_machine(engine, definition, plans[0], fires, fresh=False),
            machine_fresh=time_machine(engine, definition, plans[0], fires, fresh=True),
        )
        if profile:
            result.profile = profile_engine(engine, plans[0], fires)
        return result
    finally:
        engine.database.dispose()


def profile_engine(engine: WorkflowEngine, plan: Plan, fires: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    run_engine(engine, plan, fires)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(25)
    return out.getvalue()


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema on the PostgreSQL server of ``url``; yields a URL using it, drops it after."""
    schema = f"bench_{uuid.uuid4().hex[:16]}"
    admin = create_engine(normalise_url(url))
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        scoped = make_url(normalise_url(url)).update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            yield scoped.render_as_string(hide_password=False)
        finally:
            with admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()


# ---- report --------------------------------------------------------------------------------------
def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(figures: BackendFigures, rounds: int) -> None:
    n = figures.fires
    print(f"== {figures.label}: {rounds} interleaved rounds x {n} fires per side ==")
    header = f"{'variant':<12} {'side':<7} {'fires/s':>9} {'per fire':>12} {'stmts':>6} {'commits':>8}"
    print(header)
    print("-" * len(header))
    for v in figures.variants:
        name = v.plan.variant.name
        for side, fig in (("engine", v.engine), ("floor", v.floor)):
            per_fire = statistics.median(fig.times) / n
            print(
                f"{name:<12} {side:<7} {1 / per_fire:>9,.0f} {_us(per_fire):>12} "
                f"{fig.counted.statements:>6.2f} {fig.counted.commits:>8.2f}"
            )
        ratios = " ".join(f"{r:.2f}" for r in v.ratios)
        print(f"{name:<12} ratio   {statistics.median(v.ratios):>9.2f}   (rounds: {ratios})")
        print(f"  fires:  {v.plan.variant.description}")
        print(f"  engine: {v.engine.counted.shapes}")
        print(f"  floor:  {v.floor.counted.shapes}")
        if v.mismatch:
            print(f"  WARNING the floor does not write what the engine writes: {'; '.join(v.mismatch)}")
    fire_s = figures.fire_seconds
    memo_share = figures.machine_memo / fire_s
    fresh_share = figures.machine_fresh / fire_s
    print(
        f"machine step, memoised (what fire pays): {_us(figures.machine_memo)}/call"
        f" = {memo_share:.2%} of an engine fire ({_us(fire_s)})"
    )
    print(
        f"machine step, fresh (add_model, trigger, remove_model): {_us(figures.machine_fresh)}/call"
        f" = {fresh_share:.2%} of an engine fire"
    )
    main = figures.main
    print(f"targets ({main.plan.variant.name}):")
    print(f"  [{_mark(figures.ratio <= MAX_RATIO)}] engine/floor ratio <= {MAX_RATIO}: {figures.ratio:.2f}")
    print(
        f"  [{_mark(figures.fires_per_second >= MIN_FIRES_PER_SECOND)}] engine >= "
        f"{MIN_FIRES_PER_SECOND:,.0f} fires/s: {figures.fires_per_second:,.0f}"
    )
    one_commit = all(v.engine.counted.commits == COMMITS_PER_FIRE for v in figures.variants)
    commits = ", ".join(f"{v.engine.counted.commits:.2f}" for v in figures.variants)
    print(f"  [{_mark(one_commit)}] exactly 1 commit per fire: {commits}")
    print(
        f"  [{_mark(memo_share < MAX_MACHINE_SHARE)}] machine dispatch < {MAX_MACHINE_SHARE:.0%} of fire"
        f" time: {memo_share:.2%} (memoised step; the raw machine would be {fresh_share:.2%})"
    )
    if figures.profile:
        print(f"-- cProfile of {n} engine fires ({main.plan.variant.name}) on {figures.label} --")
        print(figures.profile.rstrip())
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--fires", type=int, default=1000, help="fires per side and round (default 1000)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(PG_ENV),
        help=f"a PostgreSQL URL to measure as well (default: ${PG_ENV}); "
        "a sqlite URL replaces the fresh temporary SQLite file",
    )
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the engine side")
    args = parser.parse_args(argv)
    if args.fires < 1 or args.rounds < 1:
        parser.error("--fires and --rounds must be at least 1")

    extra = normalise_url(args.database_url) if args.database_url else None
    backend = make_url(extra).get_backend_name() if extra else None
    if extra and backend not in ("postgresql", "sqlite"):
        parser.error(f"--database-url: only sqlite and postgresql are measured, got {backend!r}")
    pg_url = extra if backend == "postgresql" else None
    sqlite_url = extra if backend == "sqlite" else None

    plugins, _ = plugin_setup()
    print("pmflow fire benchmark: WorkflowEngine.fire vs hand-written SQLAlchemy Core floor")
    print(
        f"python {sys.version.split()[0]}, SQLAlchemy {sqlalchemy.__version__}, "
        f"transitions {transitions.__version__}, {os.cpu_count()} CPUs; "
        f"{args.rounds} rounds x {args.fires} fires; actor {ACTOR.id} {sorted(ACTOR.roles)}"
    )
    print(f"plugins: {', '.join(str(p) for p in plugins)}; workflows: {WORKFLOWS}")
    print(f"load average at start: {_load()} (other processes on the machine skew single rounds)")
    print()

    with tempfile.TemporaryDirectory(prefix="pmflow-bench-") as tmp:
        url = sqlite_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        sqlite = bench_backend("sqlite (file, WAL)", url, args.fires, args.rounds, profile=args.profile)
    report(sqlite, args.rounds)

    pg: BackendFigures | None = None
    if pg_url:
        with postgres_schema(pg_url) as url:
            pg = bench_backend(
                "postgresql (fresh schema)", url, args.fires, args.rounds, profile=args.profile
            )
        report(pg, args.rounds)
    print(f"load average at end: {_load()}")
    if pg is not None:
        print(f"RESULT_PG fire_vs_core_floor={pg.ratio:.2f}")
    print(f"RESULT fire_vs_core_floor={sqlite.ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
