"""One committed event, many subscribers: each gets its own answer, computed once per audience.

The count of subscription executions is the deterministic proxy for the fan-out benchmark
(benchmarks/bench_fanout.py): executing the same selection over the same event for every
subscriber was two thirds of its cost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from graphql import OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api_helpers import Api, app_state, running_api

SUBSCRIBE = """
subscription Events($project: ID!) {
  events(projectId: $project) { eventId trigger fromState toState actorName comment }
}
"""
SMALL = "subscription Events($project: ID!) { events(projectId: $project) { trigger } }"

FIRE = """
mutation Fire($input: FireTransitionInput!) {
  fireTransition(input: $input) { errors { code message } }
}
"""


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(database_url) as running:
        yield running


@pytest.fixture
def executions(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every execution of a subscription event (not the set-up of a subscription)."""
    seen: list[Any] = []
    original = StrawberryGraphQLCoreExecutionContext.execute_operation

    def counting(self: StrawberryGraphQLCoreExecutionContext, serially: bool | None = None) -> Any:
        if self.operation.operation is OperationType.SUBSCRIPTION and serially is False:
            seen.append(self.context_value.audience)
        return original(self, serially)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_operation", counting)
    return seen


def subscribe(stack: ExitStack, api: Api, who: str, query: str, project: str) -> Any:
    ws = stack.enter_context(api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]))
    ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {api.tokens[who]}"}})
    assert ws.receive_json()["type"] == "connection_ack"
    variables = {"project": project}
    ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
    return ws


def wait_for_subscribers(api: Api, project_pk: int, count: int) -> None:
    broker = app_state(api.app)["broker"]
    for _ in range(200):
        if broker.subscriber_count(project_pk) == count:
            return
        time.sleep(0.01)
    raise AssertionError(f"{broker.subscriber_count(project_pk)} subscribers, expected {count}")


def put_on_hold(api: Api, project: str) -> None:
    version = api.data("query($id: ID!) { node(id: $id) { ... on Project { version } } }", {"id": project})
    result = api.data(
        FIRE,
        {
            "input": {
                "id": project,
                "trigger": "put_on_hold",
                "expectedVersion": version["node"]["version"],
                "comment": "Budget review",
                "payload": {"reason": "Budget review at Northwind"},
            }
        },
        as_="mia",
    )
    assert result["fireTransition"]["errors"] == []


def test_subscribers_with_the_same_audience_share_one_execution(api: Api, executions: list[Any]) -> None:
    portal = api.project_id("portal")
    with ExitStack() as stack:
        team = [subscribe(stack, api, who, SUBSCRIBE, portal) for who in ("admin", "admin", "mia")]
        customer = subscribe(stack, api, "carla", SUBSCRIBE, portal)
        small = subscribe(stack, api, "admin", SMALL, portal)
        wait_for_subscribers(api, api.demo.projects["portal"], 5)

        put_on_hold(api, portal)

        answers = [ws.receive_json() for ws in [*team, customer, small]]
    for answer in answers:
        assert answer["type"] == "next" and answer["id"] == "1"
    full = [a["payload"]["data"]["events"] for a in answers[:4]]
    for event in full:
        assert event["trigger"] == "put_on_hold"
        assert (event["fromState"], event["toState"]) == ("execution", "on_hold")
        assert event["actorName"] == "Mia Manager" and event["comment"] == "Budget review"
    assert len({e["eventId"] for e in full}) == 1
    assert answers[4]["payload"]["data"] == {"events": {"trigger": "put_on_hold"}}
    # admin twice: one execution; mia (manager), carla (customer) and the smaller selection: one each
    assert sorted(executions, key=str) == sorted(
        [("admin", None), ("manager", None), ("customer", api.demo.customers["northwind"]), ("admin", None)],
        key=str,
    )


def test_each_event_is_executed_afresh(api: Api, executions: list[Any]) -> None:
    portal = api.project_id("portal")
    with ExitStack() as stack:
        subscribers = [subscribe(stack, api, "admin", SUBSCRIBE, portal) for _ in range(3)]
        wait_for_subscribers(api, api.demo.projects["portal"], 3)
        put_on_hold(api, portal)
        first = [ws.receive_json()["payload"]["data"]["events"] for ws in subscribers]
        version = api.data("query($id: ID!) { node(id: $id) { ... on Project { version } } }", {"id": portal})
        resumed = api.data(
            FIRE,
            {
                "input": {
                    "id": portal,
                    "trigger": "resume_execution",
                    "expectedVersion": version["node"]["version"],
                }
            },
            as_="mia",
        )
        assert resumed["fireTransition"]["errors"] == []
        second = [ws.receive_json()["payload"]["data"]["events"] for ws in subscribers]
    assert {e["trigger"] for e in first} == {"put_on_hold"}
    assert {e["trigger"] for e in second} == {"resume_execution"}
    assert len(executions) == 2


def test_next_messages_are_encoded_as_strawberry_would() -> None:
    import json

    from pmflow.api.fanout import NextMessageEncoder

    encoder = NextMessageEncoder(size=2)
    data = {"events": {"trigger": "put_on_hold", "comment": 'a "quoted" ü', "payload": {"n": 1.5}}}
    for operation_id in ("1", "op-2", 'we"ird'):
        message = {"id": operation_id, "type": "next", "payload": {"data": data}}
        assert encoder.encode(message) == json.dumps(message, separators=(",", ":"))
    with_errors = {"id": "1", "type": "next", "payload": {"data": None, "errors": [{"message": "x"}]}}
    assert encoder.encode(with_errors) is None
    assert encoder.encode({"type": "pong"}) is None
    changed = {"events": {"trigger": "resume"}}  # a new result object: encoded anew, never stale
    assert encoder.encode({"id": "1", "type": "next", "payload": {"data": changed}}) == (
        '{"id":"1","type":"next","payload":{"data":{"events":{"trigger":"resume"}}}}'
    )


CREATE_REQUIREMENT = """
mutation($input: CreateRequirementInput!) {
  createRequirement(input: $input) { requirement { id } errors { code message } }
}
"""


def test_every_committed_event_reaches_subscribers(api: Api) -> None:
    """Not only transitions fired through the API: creations, and what the domain fires directly."""
    portal = api.project_id("portal")
    with ExitStack() as stack:
        ws = subscribe(stack, api, "mia", SUBSCRIBE, portal)
        wait_for_subscribers(api, api.demo.projects["portal"], 1)

        created = api.data(
            CREATE_REQUIREMENT, {"input": {"projectId": portal, "title": "Export to CSV"}}, as_="mia"
        )["createRequirement"]
        assert created["errors"] == []
        creation = ws.receive_json()["payload"]["data"]["events"]
        assert creation["fromState"] is None and creation["actorName"] == "Mia Manager"

        # straight through the domain services, as the worker or the CLI would
        api.domain.fire(api.actor("mia"), api.demo.projects["portal"], "put_on_hold", payload={"reason": "x"})
        held = ws.receive_json()["payload"]["data"]["events"]
        assert (held["trigger"], held["toState"]) == ("put_on_hold", "on_hold")

        # a refused transition commits nothing and announces nothing: the next event is the next one
        refused = api.data(
            FIRE, {"input": {"id": portal, "trigger": "put_on_hold", "expectedVersion": 1}}, as_="mia"
        )
        assert refused["fireTransition"]["errors"]
        api.domain.fire(api.actor("mia"), api.demo.projects["portal"], "resume_execution")
        assert ws.receive_json()["payload"]["data"]["events"]["trigger"] == "resume_execution"
