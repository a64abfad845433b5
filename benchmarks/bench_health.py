"""Ratio benchmark: computing a project's health score against the database work it needs.

Run from the repository root (or anywhere)::

    python benchmarks/bench_health.py [--risks N] [--items N] [--runs N] [--rounds R]

**Data**: the demo (``load_demo``), then the biggest demo project gets ``--risks`` more scored risks
and ``--items`` more work items (a tenth of them blocked), on a SQLite file (WAL).

**pmflow side**: ``pmflow.plugins.health.score.compute`` with the app's plugin manager (every
plugin's ``pmflow_risk_signals``, the weights of the settings), in one read transaction per run —
what ``Project.health``, the guards and the worker's recorder run.

**Floor**: the same SQL statements with the same parameters, captured from one computation, replayed
on the raw DB-API cursor with every row fetched: the database work alone, without SQLAlchemy,
pluggy or the scoring.

**Reference** (printed, not gated): the same statements as SQLAlchemy executed them, captured as
Core objects with their parameters and replayed with ``connection.execute(...).all()`` — compiled
cache hit, bind and result types processed, rows fetched, and no pmflow code at all: what any
SQLAlchemy implementation of these statements costs at least.

ratio = pmflow_time / floor_time; the target is ``MAX_RATIO`` = 3.5. Rounds are interleaved
(pmflow, floor, reference, ...), each garbage collected first; the figure is the median. The last
line is ``RESULT health_vs_sql=<ratio>``; the exit status is 0 whatever the figures.

**Why 3.5** (measured 2026-11-26 on the 2-core development machine, SQLite, defaults, 7 statements
a computation, floor 0.17-0.28 ms depending on the load): one Core execution of a cached statement
costs about 20 us against 1-2 us for the raw cursor (a one-row SELECT by primary key), and 35-55 us
more than the raw cursor for these statements with their bind and result processing (datetimes,
JSON) — against about 25 us of SQLite work a statement. So the reference alone measures 2.4-2.5 x the
floor: a ratio of 2 cannot be met through SQLAlchemy Core at all (only by handing dialect-specific
SQL strings to the driver). pmflow's own Python on top — the pluggy hook, the project ``Subject``,
six signals from ~60 rows, the scoring — measures about 0.1 ms, 0.6-0.9 x the floor: compute came
out at 3.08, 3.28 and 3.35 x (0.55-0.86 ms; before the statements were built once and merged: 12
statements, 3.5-5.5 ms, 12.6-14.7 x). 3.5 leaves that spread for the load of a shared machine and
fails a regression to per-call construction. How many statements a computation sends is pinned
deterministically by tests/test_health.py, not here.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Entry-point plugins installed on the machine must not change what is measured.
os.environ["PMFLOW_DISABLE_PLUGIN_AUTOLOAD"] = "1"

from sqlalchemy import Executable, event, select

from pmflow.app import App, build
from pmflow.core.types import Actor
from pmflow.domain import tables as t
from pmflow.domain.demo import load_demo
from pmflow.domain.services import Domain
from pmflow.plugins.health.score import HealthConfig, compute

ROOT = Path(__file__).resolve().parent.parent
MAX_RATIO = 3.5  # see the docstring: SQLAlchemy Core alone is 2.4-2.5 x the floor
MANAGER = Actor("user:bench", frozenset({"manager"}), name="Bench")


def biggest_project(app: App) -> int:
    with app.database.read() as conn:
        rows = conn.execute(select(t.work_items.c.project_id)).all()
        counts: dict[int, int] = {}
        for (project_id,) in rows:
            counts[int(project_id)] = counts.get(int(project_id), 0) + 1
        if counts:
            return max(counts, key=lambda k: counts[k])
        return int(conn.execute(select(t.projects.c.id).order_by(t.projects.c.id).limit(1)).scalar_one())


def grow(app: App, project_id: int, risks: int, items: int) -> None:
    domain = Domain(app.engine)
    manager = Actor("system:bench", frozenset({"admin"}), name="Bench", system=True)
    for n in range(risks):
        domain.risks.create(
            manager,
            project_id,
            {"title": f"Risk {n}", "probability": 1 + n % 5, "impact": 1 + (n * 3) % 5},
        )
    for n in range(items):
        blocked = {"blocked_reason": "waiting"} if n % 10 == 0 else {}
        domain.work_items.create(manager, project_id, {"title": f"Item {n}", **blocked})


def capture(app: App, run: Callable[[], object]) -> list[tuple[str, Any]]:
    """The SQL statements (with their parameters) ``run`` sends to the database."""
    seen: list[tuple[str, Any]] = []

    def on_execute(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((statement, parameters))

    engine = app.database.engine
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    return [(s, p) for s, p in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]


def capture_core(app: App, run: Callable[[], object]) -> list[tuple[Executable, dict[str, Any]]]:
    """The SQLAlchemy statements (with their parameters) ``run`` executes: the Core reference."""
    seen: list[tuple[Executable, dict[str, Any]]] = []

    def on_execute(conn: Any, clause: Any, multiparams: Any, params: Any, options: Any) -> None:
        if getattr(clause, "is_select", False):
            seen.append((clause, dict(multiparams[0]) if multiparams else dict(params)))

    engine = app.database.engine
    event.listen(engine, "before_execute", on_execute)
    try:
        run()
    finally:
        event.remove(engine, "before_execute", on_execute)
    return seen


def timed(run: Callable[[], object], runs: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(runs):
        run()
    return (time.perf_counter() - start) / runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--risks", type=int, default=60)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        app = build(database_url=f"sqlite:///{tmp}/bench.db", workflows=ROOT / "workflows")
        load_demo(app.engine)
        project_id = biggest_project(app)
        grow(app, project_id, args.risks, args.items)
        config = HealthConfig.from_settings(app.plugin_settings.get("health"))
        now = app.engine.clock()

        def pmflow_side() -> object:
            with app.database.read() as conn:
                return compute(conn, project_id, now, plugins=app.plugins, config=config)

        statements = capture(app, pmflow_side)
        core_statements = capture_core(app, pmflow_side)
        assert len(core_statements) == len(statements)
        report = pmflow_side()
        assert not isinstance(report, BaseException)

        def floor_side() -> object:
            with app.database.read() as conn:
                cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                for statement, parameters in statements:
                    cursor.execute(statement, parameters)
                    cursor.fetchall()
                cursor.close()
            return None

        def core_side() -> object:
            with app.database.read() as conn:
                for statement, parameters in core_statements:
                    conn.execute(statement, parameters).all()
            return None

        ours, floor, core = [], [], []
        for _ in range(args.rounds):
            ours.append(timed(pmflow_side, args.runs))
            floor.append(timed(floor_side, args.runs))
            core.append(timed(core_side, args.runs))
        app.database.dispose()

    pm, fl, co = statistics.median(ours), statistics.median(floor), statistics.median(core)
    ratio = pm / fl
    n = len(statements)
    print(f"project {project_id}: score {report.score}, {len(report.signals)} signals")  # type: ignore[attr-defined]
    print(f"statements per computation: {n}")
    print(f"pmflow compute: {pm * 1e3:.3f} ms   floor (same SQL, raw cursor): {fl * 1e3:.3f} ms")
    print(
        f"reference (same statements through SQLAlchemy Core, rows fetched): {co * 1e3:.3f} ms = "
        f"{co / fl:.2f} x floor, {(co - fl) / n * 1e6:.0f} us a statement over the raw cursor"
    )
    print(f"ratio {ratio:.2f} (target <= {MAX_RATIO}) {'PASS' if ratio <= MAX_RATIO else 'FAIL'}")
    print(f"RESULT health_vs_sql={ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
