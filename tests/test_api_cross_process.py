"""Two `pmflow serve` processes on one PostgreSQL database: an event committed through one reaches
a subscriber of the other (LISTEN/NOTIFY), and a rolled-back attempt reaches nobody."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from pmflow.api.ids import to_global_id
from pmflow.app import build
from pmflow.domain.demo import load_demo
from pmflow.domain.identity import issue_token

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def two_servers(database_url: str) -> Iterator[tuple[str, str, str, int]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("cross-process events need PostgreSQL (LISTEN/NOTIFY)")
    built = build(database_url=database_url, workflows=ROOT / "workflows")
    data = load_demo(built.engine)
    token = issue_token(built.engine, data.users["mia"]).token
    built.database.dispose()
    env = {**os.environ, "PMFLOW_DISABLE_PLUGIN_AUTOLOAD": "1", "PMFLOW_WORKFLOWS": str(ROOT / "workflows")}
    servers, urls = [], []
    for _ in range(2):
        port = free_port()
        servers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pmflow.cli",
                    "serve",
                    "--port",
                    str(port),
                    "--database-url",
                    database_url,
                    # no outbox worker: the demo's overdue timers (its story happened weeks ago) would
                    # fire and stream events of their own into the subscription under test
                    "--no-worker",
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
        urls.append(f"127.0.0.1:{port}")
    try:
        for url, server in zip(urls, servers, strict=True):
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"http://{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    output = server.stdout.read().decode() if server.stdout else ""
                    pytest.fail(f"pmflow serve did not start:\n{output}")
                time.sleep(0.2)
        yield urls[0], urls[1], token, data.projects["portal"]
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)


async def subscribe_and_fire(a: str, b: str, token: str, project: int) -> list[dict[str, object]]:
    project_id = to_global_id("Project", project)
    received: list[dict[str, object]] = []
    async with websockets.connect(f"ws://{b}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": "subscription($p: ID!) "
                        "{ events(projectId: $p) { trigger fromState toState actorName } }",
                        "variables": {"p": project_id},
                    },
                }
            )
        )
        await asyncio.sleep(0.5)  # let server B register the subscriber
        async with httpx.AsyncClient() as client:
            headers = {"Authorization": f"Bearer {token}"}
            fire = (
                "mutation($i: FireTransitionInput!) { fireTransition(input: $i) { errors { code message } } }"
            )
            refused = await client.post(
                f"http://{a}/graphql",
                headers=headers,
                json={
                    "query": fire,
                    "variables": {"i": {"id": project_id, "trigger": "put_on_hold", "payload": {}}},
                },
            )
            assert refused.json()["data"]["fireTransition"]["errors"][0]["code"] == "INVALID_INPUT"
            done = await client.post(
                f"http://{a}/graphql",
                headers=headers,
                json={
                    "query": fire,
                    "variables": {
                        "i": {"id": project_id, "trigger": "put_on_hold", "payload": {"reason": "audit"}}
                    },
                },
            )
            assert done.json()["data"]["fireTransition"]["errors"] == []
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        assert message["type"] == "next", message
        received.append(message["payload"]["data"]["events"])
        with pytest.raises(TimeoutError):  # nothing else: the refused attempt was never announced
            await asyncio.wait_for(ws.recv(), timeout=1)
    return received


def test_an_event_committed_through_one_server_reaches_subscribers_of_another(
    two_servers: tuple[str, str, str, int],
) -> None:
    a, b, token, project = two_servers
    received = asyncio.run(subscribe_and_fire(a, b, token, project))
    assert received == [
        {"trigger": "put_on_hold", "fromState": "execution", "toState": "on_hold", "actorName": "Mia Manager"}
    ]
