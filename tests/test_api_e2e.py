"""End to end: a real uvicorn server on a real socket, driven by the Python `gql` client over HTTP
and over WebSocket (graphql-transport-ws), the way an external frontend or script talks to pmflow.

The server runs in a background thread of this process on a temporary SQLite file with the demo
data; the client never touches the app object except to wait until a subscription is registered.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from gql import Client, GraphQLRequest
from gql import gql as document
from gql.transport.exceptions import TransportError, TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport, HTTPXTransport
from gql.transport.websockets import WebsocketsTransport
from starlette.applications import Starlette

from api_helpers import WORKFLOWS, app_state, global_id, prepare
from pmflow.api.app import Settings, create_app
from pmflow.domain.demo import DemoData

TIMEOUT = 10.0


@dataclass
class Server:
    app: Starlette
    http: str
    ws: str
    demo: DemoData
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def http_client(self, who: str) -> Client:
        return Client(transport=HTTPXTransport(url=self.http, headers=self.headers(who), timeout=TIMEOUT))

    def ws_transport(self, authorization: str | None) -> WebsocketsTransport:
        return WebsocketsTransport(
            url=self.ws,
            init_payload={"Authorization": authorization} if authorization is not None else {},
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],  # graphql-transport-ws
            connect_timeout=TIMEOUT,
            ack_timeout=TIMEOUT,
        )

    def subscribers(self, project: str) -> int:
        broker = app_state(self.app)["broker"]
        return int(broker.subscriber_count(self.demo.projects[project]))


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('e2e')) / 'pmflow.db'}"
    demo, tokens = prepare(url)
    # no outbox worker: the demo's overdue timers would stream events of their own
    app = create_app(Settings(database_url=url, workflows=WORKFLOWS, graphiql=False, worker=False))
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")  # as `pmflow serve` runs it
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not become healthy"
        time.sleep(0.05)
    try:
        yield Server(app, f"http://{base}/graphql", f"ws://{base}/graphql", demo, tokens)
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def request(query: GraphQLRequest, variables: dict[str, Any]) -> GraphQLRequest:
    return GraphQLRequest(query, variable_values=variables)


async def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


EVENTS = document(
    """
    subscription Events($projectId: ID!) {
      events(projectId: $projectId) { trigger fromState toState subjectId actorName comment eventId }
    }
    """
)
FIRE = document(
    """
    mutation Fire($input: FireTransitionInput!) {
      fireTransition(input: $input) {
        subject { state version }
        event { trigger toState eventId }
        errors { code message field }
      }
    }
    """
)


def test_healthz(server: Server) -> None:
    response = httpx.get(server.http.replace("/graphql", "/healthz"), timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_query_and_fire_transition_over_http(server: Server) -> None:
    with server.http_client("mia") as session:
        result = session.execute(
            document(
                "{ viewer { name } projects(first: 10) { totalCount edges { node { id name state } } } }"
            )
        )
        assert result["viewer"]["name"] == "Mia Manager"
        projects = {e["node"]["name"]: e["node"] for e in result["projects"]["edges"]}
        fleet = projects["Fleet tracking app"]
        assert fleet["state"] == "requirements.confirmation"

        fired = session.execute(request(FIRE, {"input": {"id": fleet["id"], "trigger": "remind_customer"}}))[
            "fireTransition"
        ]
        assert fired["errors"] == []
        assert fired["event"]["trigger"] == "remind_customer"
        assert fired["subject"]["state"] == "requirements.confirmation"  # an internal transition

        refused = session.execute(request(FIRE, {"input": {"id": fleet["id"], "trigger": "close"}}))
        assert refused["fireTransition"]["errors"][0]["code"] == "INVALID_TRANSITION"


def test_anonymous_http_query_is_refused_with_unauthenticated(server: Server) -> None:
    with Client(transport=HTTPXTransport(url=server.http, timeout=TIMEOUT)) as session:
        with pytest.raises(TransportQueryError) as error:
            session.execute(document("{ projects(first: 1) { totalCount } }"))
        assert error.value.errors is not None
        assert error.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert session.execute(document("{ __typename }")) == {"__typename": "Query"}


@asynccontextmanager
async def subscribed(server: Server, who: str, project: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """A live subscription to ``events(projectId:)`` as ``who``; what it receives lands in the queue."""
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    before = server.subscribers(project)
    async with Client(transport=server.ws_transport(f"Bearer {server.tokens[who]}")) as session:

        async def listen() -> None:
            variables = {"projectId": global_id("Project", server.demo.projects[project])}
            async for result in session.subscribe(request(EVENTS, variables)):
                await received.put(result["events"])

        task = asyncio.create_task(listen())
        try:
            await wait_for(
                lambda: server.subscribers(project) > before or task.done(), "the subscription to start"
            )
            if task.done():
                task.result()  # raises what the server answered
            yield received
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def fire_over_http(server: Server, who: str, given: dict[str, Any]) -> dict[str, Any]:
    transport = HTTPXAsyncTransport(url=server.http, headers=server.headers(who), timeout=TIMEOUT)
    async with Client(transport=transport) as session:
        result = await session.execute(request(FIRE, {"input": given}))
    payload: dict[str, Any] = result["fireTransition"]
    assert payload["errors"] == [], payload["errors"]
    return payload


def test_a_transition_fired_over_http_reaches_a_websocket_subscriber(server: Server) -> None:
    async def scenario() -> None:
        portal = global_id("Project", server.demo.projects["portal"])
        fleet = global_id("Project", server.demo.projects["fleet"])
        async with subscribed(server, "carla", "portal") as received:
            # An event of another project does not reach this subscriber; the project's own does.
            await fire_over_http(server, "mia", {"id": fleet, "trigger": "remind_customer"})
            fired = await fire_over_http(
                server,
                "mia",
                {"id": portal, "trigger": "put_on_hold", "comment": "e2e", "payload": {"reason": "e2e"}},
            )
            event = await asyncio.wait_for(received.get(), TIMEOUT)
            assert event["trigger"] == "put_on_hold"
            assert (event["fromState"], event["toState"]) == ("execution", "on_hold")
            assert event["subjectId"] == portal
            assert event["actorName"] == "Mia Manager" and event["comment"] == "e2e"
            assert event["eventId"] == fired["event"]["eventId"]

            await fire_over_http(server, "mia", {"id": portal, "trigger": "resume_execution"})
            event = await asyncio.wait_for(received.get(), TIMEOUT)
            assert (event["trigger"], event["toState"]) == ("resume_execution", "execution")
            assert received.empty()

    asyncio.run(scenario())


def close_code(error: BaseException) -> int | None:
    """The WebSocket close code behind a gql transport error, if the chain holds one."""
    cause: BaseException | None = error
    while cause is not None:
        received = getattr(cause, "rcvd", None)
        if received is not None:
            return int(received.code)
        cause = cause.__cause__ or cause.__context__
    return None


@pytest.mark.parametrize("authorization", ["Bearer pmf_not-a-real-token", "Bearer nonsense", "pmf_abc"])
def test_an_invalid_token_on_websocket_is_rejected(server: Server, authorization: str) -> None:
    async def scenario() -> None:
        variables = {"projectId": global_id("Project", server.demo.projects["portal"])}
        with pytest.raises(TransportError) as error:
            async with Client(transport=server.ws_transport(authorization)) as session:
                async for _ in session.subscribe(request(EVENTS, variables)):
                    pytest.fail("an event reached a subscriber with an invalid token")
        assert close_code(error.value) == 4403  # graphql-transport-ws: Forbidden at connection_init
        assert server.subscribers("portal") == 0

    asyncio.run(scenario())


async def subscription_error(server: Server, authorization: str | None, project_pk: int) -> dict[str, Any]:
    """The error the server answers a refused subscription with (no event may arrive)."""
    variables = {"projectId": global_id("Project", project_pk)}
    async with Client(transport=server.ws_transport(authorization)) as session:
        with pytest.raises(TransportQueryError) as error:
            async for _ in session.subscribe(request(EVENTS, variables)):
                pytest.fail("a refused subscriber received an event")
    assert error.value.errors
    found: dict[str, Any] = error.value.errors[0]
    return found


def test_websocket_without_a_token_is_refused(server: Server) -> None:
    error = asyncio.run(subscription_error(server, None, server.demo.projects["portal"]))
    assert "Bearer" in error["message"]


def test_a_customer_cannot_subscribe_to_another_customers_project(server: Server) -> None:
    carla = f"Bearer {server.tokens['carla']}"
    hidden = asyncio.run(subscription_error(server, carla, server.demo.projects["scheduling"]))
    missing = asyncio.run(subscription_error(server, carla, 999_999))
    assert hidden == missing
    assert "Bluebird" not in hidden["message"] and "scheduling" not in hidden["message"].lower()


def test_subscription_errors_carry_their_code(server: Server) -> None:
    anonymous = asyncio.run(subscription_error(server, None, server.demo.projects["portal"]))
    carla = f"Bearer {server.tokens['carla']}"
    hidden = asyncio.run(subscription_error(server, carla, server.demo.projects["scheduling"]))
    assert anonymous.get("extensions", {}).get("code") == "UNAUTHENTICATED"
    assert hidden.get("extensions", {}).get("code") == "NOT_FOUND"
