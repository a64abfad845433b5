"""No N+1: a nested list query issues the same number of SQL statements for 10 projects as for 100.

Statements are counted on the app's own engine (``before_cursor_execute``), so everything a request
does is seen: authentication, the page query, and each DataLoader batch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from api_helpers import Api, running_api

PROJECTS = 100

NESTED = """
query Nested($n: Int!) {
  projects(first: $n) {
    edges {
      node {
        requirements(first: 20) { totalCount }
        iterations(first: 20) { totalCount }
        risks(first: 20) { totalCount }
        history(first: 10) { totalCount edges { node { trigger } } }
      }
    }
  }
}
"""


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(database_url) as running:
        add_projects(running, PROJECTS)
        yield running


def add_projects(api: Api, count: int) -> None:
    """``count`` more projects, each with a requirement, a risk and more than one history event."""
    mia = api.actor("mia")
    for i in range(count):
        project = api.domain.projects.create(
            mia, {"customer_id": api.demo.customers["northwind"], "name": f"Load {i:03d}"}
        )["id"]
        api.domain.requirements.create(mia, project, {"title": f"Requirement {i}"})
        api.domain.risks.create(mia, project, {"title": f"Risk {i}"})
        if i % 2:
            api.domain.fire(mia, project, "put_on_hold", payload={"reason": "waiting"})


# On PostgreSQL the app LISTENs for committed events (api/listen.py) and, per announcement, looks the
# event up by its id (and, for a child subject, its project by the child's id) on the same engine. The
# announcements come from this test's own set-up and from other databases on the server (other test
# runs), at any time: those statements are not the request's. Request statements load by ``IN (...)``.
LISTENER_STATEMENT = re.compile(
    r"^SELECT\b.*\bFROM events WHERE events\.event_id = "
    r"|^SELECT \w+\.project_id FROM \w+ WHERE \w+\.id = ",
    re.DOTALL,
)


def from_the_listener(statement: str) -> bool:
    return LISTENER_STATEMENT.search(" ".join(statement.split())) is not None


@contextmanager
def counting(api: Api) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not from_the_listener(statement):
            statements.append(statement)

    engine = api.built.database.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


LAST: dict[str, list[str]] = {}


def statements_for(api: Api, query: str, variables: dict[str, Any]) -> tuple[int, Any]:
    # Warm up: the token's last use is written at most once a minute, and the pool opens its
    # connections (a new PostgreSQL connection runs set-up statements of its own).
    api.data("{ viewer { id } }")
    api.data(query, variables)
    with counting(api) as statements:
        data = api.data(query, variables)
    LAST[str(variables)] = [" ".join(st.split())[:70] for st in statements]
    return len(statements), data


def summary(statements: int, n: int) -> str:
    return f"{statements} statements for {n}"


def test_nested_project_list_costs_the_same_for_10_and_100_projects(api: Api) -> None:
    ten, data = statements_for(api, NESTED, {"n": 10})
    assert len(data["projects"]["edges"]) == 10
    hundred, data = statements_for(api, NESTED, {"n": 100})
    edges = data["projects"]["edges"]
    assert len(edges) == 100
    assert sum(e["node"]["requirements"]["totalCount"] for e in edges) >= 97
    assert sum(e["node"]["risks"]["totalCount"] for e in edges) >= 97
    assert all(e["node"]["history"]["totalCount"] >= 1 for e in edges)
    assert any(e["node"]["history"]["totalCount"] >= 2 for e in edges)
    assert ten == hundred, f"{summary(ten, 10)}, {summary(hundred, 100)}: {LAST}"


def test_nested_children_are_batched(api: Api) -> None:
    """The children of the projects (requirements, iterations, risks, history) cost one batch each,
    whatever the project rows themselves cost: 10 or 100 projects add the same statements."""
    base = "query($n: Int!) { projects(first: $n) { edges { node { id } } } }"
    bare_ten, _ = statements_for(api, base, {"n": 10})
    bare_hundred, _ = statements_for(api, base, {"n": 100})
    nested_ten, _ = statements_for(api, NESTED, {"n": 10})
    nested_hundred, _ = statements_for(api, NESTED, {"n": 100})
    assert nested_ten - bare_ten == nested_hundred - bare_hundred, (
        f"children: {nested_ten - bare_ten} statements for 10, {nested_hundred - bare_hundred} for 100"
    )


def test_nodes_by_ids_costs_the_same_for_10_and_100_ids(api: Api) -> None:
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Project { name } } }"
    visible = api.data("{ projects(first: 100) { edges { node { id } } } }")["projects"]["edges"]
    project_ids = [e["node"]["id"] for e in visible]
    ten, data = statements_for(api, query, {"ids": project_ids[:10]})
    assert all(data["nodes"])
    hundred, data = statements_for(api, query, {"ids": project_ids[:100]})
    assert len(data["nodes"]) == 100 and all(data["nodes"])
    assert ten == hundred, f"{summary(ten, 10)}, {summary(hundred, 100)}"


@contextmanager
def checkouts(api: Api) -> Iterator[list[int]]:
    """Connections checked out of the pool: one per read or write transaction."""
    seen: list[int] = []

    def count(*_: Any) -> None:
        seen.append(1)

    pool = api.built.database.engine.pool
    event.listen(pool, "checkout", count)
    try:
        yield seen
    finally:
        event.remove(pool, "checkout", count)


BOARD = """
query Board($n: Int!) {
  projects(first: $n) { edges { node { name state availableTransitions { trigger allowed blockedBy } } } }
}
"""


def test_available_transitions_of_a_list_take_one_transaction(api: Api) -> None:
    """A board asks every card for its buttons: one read transaction for the whole list, not one per
    card (the guards still run per subject, inside it)."""
    transactions = {}
    for n in (10, 100):
        api.data(BOARD, {"n": n})  # warm up (token last use, pool connections)
        with checkouts(api) as seen:
            data = api.data(BOARD, {"n": n})
        transactions[n] = len(seen)
        edges = data["projects"]["edges"]
        assert len(edges) == n
    assert transactions[10] == transactions[100], transactions
    by_state: dict[str, set[str]] = {}
    for edge in edges:
        node = edge["node"]
        by_state.setdefault(node["state"], set()).update(t["trigger"] for t in node["availableTransitions"])
    assert "resume_initiation" in by_state["on_hold"] and "put_on_hold" not in by_state["on_hold"]
    assert "put_on_hold" in by_state["initiation"]
    # the same answer as asking for one project alone
    one = next(e["node"] for e in edges if e["node"]["state"] == "initiation")
    alone = api.data(
        "query($s: String) { projects(first: 1, filter: {search: $s}) { edges { node { availableTransitions "
        "{ trigger allowed blockedBy } } } } }",
        {"s": one["name"]},
    )["projects"]["edges"][0]["node"]
    assert alone["availableTransitions"] == one["availableTransitions"]
