"""No lost update: concurrent fires from the same version, on real connections, one winner."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from pmflow import Actor
from pmflow.core.engine import FireResult, WorkflowEngine
from pmflow.core.errors import Conflict, PmflowError

MANAGER = Actor("u-mia", frozenset({"manager"}))
WORKERS = 8
ROUNDS = 5


def fire_together(engine: WorkflowEngine, subject_id: int, version: int) -> list[FireResult | PmflowError]:
    """WORKERS threads, each with its own connection, fire the same trigger at the same moment."""
    barrier = threading.Barrier(WORKERS)

    def attempt(n: int) -> FireResult | PmflowError:
        barrier.wait()
        try:
            return engine.fire(
                subject_id,
                "put_on_hold",
                MANAGER,
                expected_version=version,
                payload={"reason": f"worker {n}"},
            )
        except PmflowError as error:
            return error

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(attempt, range(WORKERS)))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_eight_concurrent_fires_one_success_seven_conflicts(engine: WorkflowEngine, round_: int) -> None:
    project = engine.create("project", MANAGER).subject

    outcomes = fire_together(engine, project.id, version=1)

    successes = [o for o in outcomes if isinstance(o, FireResult)]
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(successes) == 1, outcomes
    assert len(conflicts) == WORKERS - 1, outcomes
    winner = successes[0]
    # every loser is told what the subject is now
    assert {(c.current_version, c.current_state) for c in conflicts} == {(2, "on_hold")}
    # and exactly one state change is in the history
    history = engine.history(project.id)
    assert [e.trigger for e in history] == ["create", "put_on_hold"]
    assert history[-1].event_id == winner.event.event_id
    assert engine.get(project.id).data["on_hold_reason"] == winner.event.payload["reason"]


def test_concurrent_fires_on_different_subjects_all_succeed(engine: WorkflowEngine) -> None:
    ids = [engine.create("project", MANAGER).subject.id for _ in range(WORKERS)]
    barrier = threading.Barrier(WORKERS)

    def attempt(subject_id: int) -> str:
        barrier.wait()
        return engine.fire(subject_id, "put_on_hold", MANAGER, payload={"reason": "r"}).subject.state

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        assert list(pool.map(attempt, ids)) == ["on_hold"] * WORKERS
    assert all(engine.get(i).version == 2 for i in ids)
