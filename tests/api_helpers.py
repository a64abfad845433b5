"""Shared setup for the API tests: the real starlette app on a fresh database with the demo data.

A plain module (not a conftest): each API test module declares its fixture on ``database_url`` so it
runs on SQLite and, with PMFLOW_TEST_DATABASE_URL set, PostgreSQL::

    @pytest.fixture
    def api(database_url: str) -> Iterator[Api]:
        with running_api(database_url) as running:
            yield running

Every request goes through HTTP and the app's lifespan (``TestClient`` as a context manager), the
same path a frontend takes.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # starlette >= 1.x suggests httpx2 for its TestClient; httpx is what is installed and works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from pmflow import app as pmflow_app
from pmflow.api.app import PmflowGraphQL, Settings, create_app
from pmflow.api.limits import Limits
from pmflow.core.types import Actor
from pmflow.domain.demo import DemoData, load_demo
from pmflow.domain.identity import issue_token
from pmflow.domain.people import actor_for
from pmflow.domain.services import Domain
from pmflow.domain.tables import users

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
SIGNED_IN = ("admin", "mia", "sam", "carla", "ben")  # sam: a member (analyst) of every demo project


def global_id(type_name: str, pk: int) -> str:
    """A Relay global id as the API writes it (opaque to clients; the tests know its recipe)."""
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def gql(
    client: TestClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    status: int | None = 200,
) -> dict[str, Any]:
    """POST one GraphQL operation; the parsed JSON response. The HTTP status is checked first
    (``status=None``: any status but a server error)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    response = client.post("/graphql", json=body, headers=headers)
    if status is None:
        assert response.status_code < 500, f"HTTP {response.status_code}: {response.text[:2000]}"
    else:
        assert response.status_code == status, f"HTTP {response.status_code}: {response.text[:2000]}"
    result: dict[str, Any] = response.json()
    return result


def data_of(result: dict[str, Any]) -> dict[str, Any]:
    """``data`` of a response that must not carry any top-level error."""
    assert not result.get("errors"), result.get("errors")
    data: dict[str, Any] = result["data"]
    return data


def codes(result: dict[str, Any]) -> list[str]:
    """``extensions.code`` of each top-level error."""
    return [(e.get("extensions") or {}).get("code") for e in result.get("errors") or []]


def app_state(app: Starlette) -> dict[str, Any]:
    """What the lifespan built: ``app`` (pmflow.app.App), ``domain``, ``broker``."""
    for route in app.routes:
        endpoint = getattr(route, "endpoint", None)
        if isinstance(endpoint, PmflowGraphQL):
            return endpoint.state
    raise AssertionError("no GraphQL route in the app")


@dataclass
class Api:
    """A running app (lifespan entered), the demo data in it and sign-in tokens."""

    client: TestClient
    app: Starlette
    demo: DemoData
    tokens: dict[str, str]
    database_url: str

    def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_: str | None = "admin",
        status: int | None = 200,
    ) -> dict[str, Any]:
        """``gql`` as one of the signed-in demo users (``as_=None``: anonymous)."""
        return gql(self.client, query, variables, token=self.tokens[as_] if as_ else None, status=status)

    def data(self, query: str, variables: dict[str, Any] | None = None, *, as_: str | None = "admin") -> Any:
        return data_of(self.gql(query, variables, as_=as_))

    @property
    def built(self) -> pmflow_app.App:
        built: pmflow_app.App = app_state(self.app)["app"]
        return built

    @property
    def domain(self) -> Domain:
        domain: Domain = app_state(self.app)["domain"]
        return domain

    def actor(self, key: str) -> Actor:
        """The engine actor of a demo user, to set things up through the domain services."""
        with self.built.database.read() as conn:
            row = conn.execute(select(users).where(users.c.id == self.demo.users[key])).one()
        return actor_for(row)

    def project_id(self, key: str) -> str:
        return global_id("Project", self.demo.projects[key])

    def user_id(self, key: str) -> str:
        return global_id("User", self.demo.users[key])

    def customer_id(self, key: str) -> str:
        return global_id("Customer", self.demo.customers[key])


def prepare(database_url: str) -> tuple[DemoData, dict[str, str]]:
    """Migrate, load the demo data and issue tokens, with an engine of its own (then disposed)."""
    built = pmflow_app.build(database_url=database_url, workflows=WORKFLOWS)
    try:
        demo = load_demo(built.engine)
        tokens = {key: issue_token(built.engine, demo.users[key], name="test").token for key in SIGNED_IN}
    finally:
        built.database.dispose()
    return demo, tokens


@contextmanager
def running_api(database_url: str, *, worker: bool = False) -> Iterator[Api]:
    """The app on ``database_url`` with the demo data, its lifespan entered for the duration."""
    demo, tokens = prepare(database_url)
    # No outbox worker unless asked (its polling would mix its statements into the requests' counts;
    # the worker has tests of its own) and no rate limit (a test sends more than a minute's worth of requests;
    # tests/test_api_limits.py covers it).
    settings = Settings(
        database_url=database_url,
        workflows=WORKFLOWS,
        worker=worker,
        limits=replace(Limits.from_env({}, development=True), rate_limit=0),
    )
    app = create_app(settings)
    with TestClient(app) as client:
        yield Api(client=client, app=app, demo=demo, tokens=tokens, database_url=database_url)


NODE_TYPES = (
    "Project",
    "Requirement",
    "ChangeRequest",
    "Iteration",
    "WorkItem",
    "Deliverable",
    "Risk",
    "Meeting",
    "Feedback",
    "Customer",
    "Contact",
    "User",
)
GOVERNED_TYPES = ("Project", "Requirement", "ChangeRequest", "Iteration", "Deliverable", "Risk")

_EVERYTHING = """
query Everything($id: ID!) {
  node(id: $id) {
    ... on Project {
      id
      customer { id contacts { id } }
      members { user { id } }
      requirements(first: 100) { nodes { id } }
      changeRequests(first: 100) { nodes { id } }
      iterations(first: 100) { nodes { id } }
      workItems(first: 100) { nodes { id } }
      deliverables(first: 100) { nodes { id } }
      risks(first: 100) { nodes { id } }
      meetings(first: 100) { nodes { id } }
      feedback(first: 100) { nodes { id } }
    }
  }
}
"""


def ids_in_project(api: Api, key: str) -> dict[str, list[str]]:
    """Global ids of everything in one demo project, by node type (read as admin)."""
    project = api.data(_EVERYTHING, {"id": api.project_id(key)})["node"]
    found: dict[str, list[str]] = {
        "Project": [project["id"]],
        "Customer": [project["customer"]["id"]],
        "Contact": [c["id"] for c in project["customer"]["contacts"]],
        "User": [m["user"]["id"] for m in project["members"]],
    }
    for type_name, field in (
        ("Requirement", "requirements"),
        ("ChangeRequest", "changeRequests"),
        ("Iteration", "iterations"),
        ("WorkItem", "workItems"),
        ("Deliverable", "deliverables"),
        ("Risk", "risks"),
        ("Meeting", "meetings"),
        ("Feedback", "feedback"),
    ):
        found[type_name] = [n["id"] for n in project[field]["nodes"]]
    return found
