"""On PostgreSQL every committed history event is announced with NOTIFY, and only committed ones."""

from __future__ import annotations

import json

import psycopg
import pytest
from sqlalchemy.engine import make_url

from pmflow import Actor
from pmflow.core.engine import WorkflowEngine
from pmflow.core.live import CHANNEL

MANAGER = Actor("u-mia", frozenset({"manager"}))


def listener(engine: WorkflowEngine) -> psycopg.Connection:
    url = engine.database.url
    conninfo = make_url(url.render_as_string(hide_password=False)).set(drivername="postgresql")
    connection = psycopg.connect(conninfo.render_as_string(hide_password=False), autocommit=True)
    connection.execute(f"LISTEN {CHANNEL}")
    return connection


def announcements(connection: psycopg.Connection) -> list[dict[str, object]]:
    return [json.loads(n.payload) for n in connection.notifies(timeout=0.5, stop_after=10)]


def test_committed_events_are_announced_and_rolled_back_ones_are_not(engine: WorkflowEngine) -> None:
    if engine.database.dialect != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    with listener(engine) as conn:
        project = engine.create("project", MANAGER).subject
        result = engine.fire(project.id, "put_on_hold", MANAGER, payload={"reason": "budget"})
        ours = {e.event_id for e in engine.history(project.id)}
        heard = [a for a in announcements(conn) if a["event_id"] in ours]  # other schemas may talk too
        assert [(a["event_id"], a["subject_id"], a["kind"]) for a in heard] == [
            (engine.history(project.id)[0].event_id, project.id, "project"),
            (result.event.event_id, project.id, "project"),
        ]
        with pytest.raises(RuntimeError), engine.database.write() as tx:
            attempt = engine.fire(project.id, "resume_initiation", MANAGER, connection=tx)
            raise RuntimeError("the caller's unit of work fails")
        assert [a for a in announcements(conn) if a["event_id"] == attempt.event.event_id] == []
        assert engine.history_count(project.id) == 2
