"""Ratio benchmark: one event fanned out to 500 WebSocket subscribers, pmflow against a send loop.

Run from the repository root (or anywhere)::

    python benchmarks/bench_fanout.py [--clients N] [--events N] [--rounds R] [--profile]

Two real uvicorn servers, each its own process (same uvicorn options: ``--loop auto`` (uvloop),
``--ws auto``, no WebSocket pings), and the subscribers: ``--clients`` WebSocket connections
(``websockets``, compression off on both sides) per server in one asyncio loop in this process.

**pmflow**: ``create_app(Settings(database_url, workflows))`` on a SQLite file holding the demo data
and one more project in ``initiation``. Every client signs in with a Bearer token in
``connection_init`` (``graphql-transport-ws``) and subscribes to ``events(projectId:)`` of that
project, selecting every field of ``HistoryEvent``. One event is a real ``fireTransition`` mutation
over HTTP (``put_on_hold`` with a reason, then ``resume_initiation``, alternately). The server
process wraps ``EventBroker.publish`` to note ``time.perf_counter()`` as it is called (a wrapper in
this file; ``src/`` is untouched).

**Floor**: a bare starlette WebSocket endpoint in its own uvicorn process; ``POST /publish`` notes
``time.perf_counter()`` and then sends one pre-serialised text message — the exact bytes a pmflow
subscriber received in the warm-up (a ``next`` message of the same event) — to every connected
client in a ``for`` loop with ``await websocket.send_text(message)``.

Measured the same way for both: from the server's noted time to the moment the last of the clients
has the message (``perf_counter`` is ``CLOCK_MONOTONIC`` on Linux: the same clock in every process).
Rounds are interleaved (pmflow, floor, ...), ``--events`` events per side and round, one at a time;
the figure is the median over rounds of median_pmflow / median_floor. Target (issue): <= 3x. The last
line printed is always ``RESULT fanout_vs_loop=<ratio>``; the exit status is 0 whatever the figures.

On a 2-core machine the clients share the CPU with the server they measure: their receive work
overlaps with the server's send work, and other load on the machine moves both. The client
process's CPU time per event is printed so the reader can judge how much of a side's figure it is.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Entry-point plugins installed on the machine must not change what is measured.
os.environ["PMFLOW_DISABLE_PLUGIN_AUTOLOAD"] = "1"
# The per-token rate limit (600 a minute by default) would answer most of the load with 429; the
# outbox worker (no consumers here) would only add noise. Both off for what is measured.
os.environ["PMFLOW_RATE_LIMIT"] = "0"

import httpx
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
MAX_RATIO = 3.0  # target from the issue
UVICORN_OPTIONS: dict[str, Any] = {
    "host": "127.0.0.1",
    "log_level": "warning",
    "ws_ping_interval": None,  # no pings in the middle of a measurement
    "ws_per_message_deflate": False,
    "backlog": 4096,
}

SUBSCRIPTION = """
subscription Events($project: ID!) {
  events(projectId: $project) {
    id eventId subjectId subjectVersion trigger fromState toState
    actorId actorName comment payload occurredAt
  }
}
"""

FIRE = """
mutation Fire($id: ID!, $trigger: String!, $payload: JSON) {
  fireTransition(input: {id: $id, trigger: $trigger, payload: $payload}) {
    event { trigger }
    errors { code message }
  }
}
"""

# What graphql-core itself costs per subscriber: executing the subscription's selection over the
# event as a dict, then json.dumps of the graphql-transport-ws message.
CEILING_SDL = """
scalar JSON
type Query { ok: Boolean }
type Subscription { events(projectId: ID!): HistoryEvent! }
type HistoryEvent {
  id: ID! eventId: String! subjectId: ID! subjectVersion: Int! trigger: String! fromState: String
  toState: String! actorId: String! actorName: String comment: String payload: JSON! occurredAt: String!
}
"""


def per_subscriber_ceiling(message: str, runs: int = 2000) -> tuple[float, float, bool]:
    """Seconds per subscriber for (execute + json.dumps, json.dumps alone), and whether graphql-core's
    message equals the one pmflow sent."""
    import graphql

    schema = graphql.build_schema(CEILING_SDL)
    document = graphql.parse(SUBSCRIPTION)
    sent = json.loads(message)
    root = {"events": sent["payload"]["data"]["events"]}
    variables = {"project": "x"}

    def execute_and_dump() -> str:
        result = graphql.execute_sync(schema, document, root_value=root, variable_values=variables)
        return json.dumps({"id": "1", "type": "next", "payload": {"data": result.data}})

    def dump() -> str:
        return json.dumps(sent)

    same = json.loads(execute_and_dump()) == sent
    timings = []
    for fn in (execute_and_dump, dump):
        fn()
        start = time.perf_counter()
        for _ in range(runs):
            fn()
        timings.append((time.perf_counter() - start) / runs)
    return timings[0], timings[1], same


CYCLE: tuple[tuple[str, dict[str, Any] | None], ...] = (
    ("put_on_hold", {"reason": "benchmark"}),
    ("resume_initiation", None),
)


# ---- the two servers (each runs in its own process: ``--serve pmflow|floor``) ------------------
def serve_pmflow(port: int, database_url: str) -> None:
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from pmflow.api import app as api_app
    from pmflow.api.events import EventBroker, Published

    class TimedBroker(EventBroker):
        """The app's broker, noting when each publish starts."""

        instances: list[TimedBroker] = []

        def __init__(self) -> None:
            super().__init__()
            self.published: list[float] = []
            TimedBroker.instances.append(self)

        def publish(self, event: Published) -> None:
            self.published.append(time.perf_counter())
            super().publish(event)

    setattr(api_app, "EventBroker", TimedBroker)  # noqa: B010  (what the lifespan instantiates)
    settings = api_app.Settings(database_url=database_url, workflows=WORKFLOWS, graphiql=False, worker=False)
    app = api_app.create_app(settings)

    collector = GcClock()

    async def state(request: Request) -> JSONResponse:
        broker = TimedBroker.instances[-1] if TimedBroker.instances else None
        return JSONResponse(
            {
                "subscribers": broker.subscriber_count() if broker else 0,
                "published": broker.published[-1] if broker and broker.published else None,
                **collector.state(request),
            }
        )

    app.router.routes[:0] = [Route("/bench/state", state), *_profile_routes()]
    uvicorn.run(app, port=port, **UVICORN_OPTIONS)


def serve_floor(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    clients: set[WebSocket] = set()
    published: list[float] = []
    message = ['{"type": "next"}']

    async def subscriber(websocket: WebSocket) -> None:
        await websocket.accept()
        clients.add(websocket)
        try:
            async for _ in websocket.iter_text():
                pass
        finally:
            clients.discard(websocket)

    async def set_message(request: Request) -> Response:
        message[0] = (await request.body()).decode()
        return Response(status_code=204)

    async def publish(_: Request) -> JSONResponse:
        start = time.perf_counter()
        text = message[0]
        for websocket in list(clients):
            await websocket.send_text(text)
        published.append(start)
        return JSONResponse({"published": start})

    collector = GcClock()

    async def state(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "subscribers": len(clients),
                "published": published[-1] if published else None,
                **collector.state(request),
            }
        )

    app = Starlette(
        routes=[
            WebSocketRoute("/ws", subscriber),
            Route("/message", set_message, methods=["POST"]),
            Route("/publish", publish, methods=["POST"]),
            Route("/bench/state", state),
            *_profile_routes(),
        ]
    )
    uvicorn.run(app, port=port, **UVICORN_OPTIONS)


class GcClock:
    """Time the server process spends in the cyclic garbage collector (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0  # generation-2 collections
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.seconds += time.perf_counter() - self._started
        self.full += info["generation"] == 2

    def state(self, request: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"gc_seconds": self.seconds, "gc_full": self.full}
        if "tracked" in request.query_params:  # costs a list of every object: only on demand
            out["gc_tracked"] = len(gc.get_objects())
        return out


def _profile_routes() -> list[Any]:
    """``POST /bench/profile/start`` and ``/stop`` (answers the cProfile text) in a server process."""
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    profiler: list[cProfile.Profile] = []

    async def start(_: Request) -> PlainTextResponse:
        profiler[:] = [cProfile.Profile()]
        profiler[0].enable()
        return PlainTextResponse("on")

    async def stop(_: Request) -> PlainTextResponse:
        profiler[0].disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler[0], stream=text)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(45)
        return PlainTextResponse(text.getvalue())

    async def freeze(_: Request) -> PlainTextResponse:
        gc.collect()
        gc.freeze()  # what is alive now (the connections) leaves the collector's generations
        return PlainTextResponse(str(gc.get_freeze_count()))

    return [
        Route("/bench/gc-freeze", freeze, methods=["POST"]),
        Route("/bench/profile/start", start, methods=["POST"]),
        Route("/bench/profile/stop", stop, methods=["POST"]),
    ]


# ---- set-up -------------------------------------------------------------------------------------
@dataclass
class Seeded:
    url: str
    token: str
    project_gid: str


def seed(url: str) -> Seeded:
    from pmflow import app as pmflow_app
    from pmflow.api.ids import to_global_id
    from pmflow.domain.demo import load_demo
    from pmflow.domain.identity import authenticate, issue_token
    from pmflow.domain.people import actor_for
    from pmflow.domain.services import Domain

    built = pmflow_app.build(database_url=url, workflows=WORKFLOWS)
    try:
        demo = load_demo(built.engine)
        token = issue_token(built.engine, demo.users["mia"]).token
        actor = actor_for(authenticate(built.engine, token))
        project = Domain(built.engine).projects.create(
            actor, {"customer_id": demo.customers["northwind"], "name": "Fan-out benchmark"}
        )
    finally:
        built.database.dispose()
    return Seeded(url, token, to_global_id("Project", project["id"]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_server(name: str, extra: Sequence[str], tmp: Path) -> Server:
    port = free_port()
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, __file__, "--serve", name, "--port", str(port), *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, port, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the {name} server exited: {log.read_text()}")
        try:
            if httpx.get(f"{server.base}/bench/state", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the {name} server did not start: {log.read_text()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


# ---- the subscribers ----------------------------------------------------------------------------
@dataclass
class Collector:
    """Arrival times of one event's message at every client."""

    expected: int = 0
    times: list[float] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    sample: str | None = None

    def reset(self, expected: int) -> None:
        self.expected = expected
        self.times = []
        self.done = asyncio.Event()

    def arrived(self, message: str | bytes) -> None:
        now = time.perf_counter()
        text = message if isinstance(message, str) else message.decode()
        if '"next"' not in text:
            return
        self.times.append(now)
        if self.sample is None:
            self.sample = text
        if len(self.times) == self.expected:
            self.done.set()


async def reader(ws: ClientConnection, collector: Collector) -> None:
    async for message in ws:
        collector.arrived(message)


async def open_pmflow_clients(
    server: Server, seeded: Seeded, count: int, collector: Collector
) -> list[ClientConnection]:
    async def one() -> ClientConnection:
        ws = await connect(
            f"ws://127.0.0.1:{server.port}/graphql",
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            compression=None,
            ping_interval=None,
            max_queue=None,
            open_timeout=60,
        )
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {seeded.token}"}})
        )
        ack = json.loads(await ws.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIPTION, "variables": {"project": seeded.project_gid}},
                }
            )
        )
        return ws

    clients = await _in_batches(one, count)
    for ws in clients:
        asyncio.get_running_loop().create_task(reader(ws, collector))
    await _wait_for_subscribers(server, count)
    return clients


async def open_floor_clients(server: Server, count: int, collector: Collector) -> list[ClientConnection]:
    async def one() -> ClientConnection:
        return await connect(
            f"ws://127.0.0.1:{server.port}/ws",
            compression=None,
            ping_interval=None,
            max_queue=None,
            open_timeout=60,
        )

    clients = await _in_batches(one, count)
    for ws in clients:
        asyncio.get_running_loop().create_task(reader(ws, collector))
    await _wait_for_subscribers(server, count)
    return clients


async def _in_batches(make: Any, count: int, batch: int = 50) -> list[ClientConnection]:
    out: list[ClientConnection] = []
    while len(out) < count:
        out += await asyncio.gather(*(make() for _ in range(min(batch, count - len(out)))))
    return out


async def _wait_for_subscribers(server: Server, count: int) -> None:
    async with httpx.AsyncClient(base_url=server.base) as http:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (await http.get("/bench/state")).json()["subscribers"] >= count:
                return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{server.name}: the subscribers did not all register")


# ---- one event ----------------------------------------------------------------------------------
@dataclass
class Delivery:
    last: float  # seconds from publish to the last client's arrival
    first: float  # ... to the first client's arrival
    client_cpu: float  # CPU seconds this (client) process spent meanwhile
    server_gc: float  # seconds the server spent in the garbage collector meanwhile
    server_full_gc: int  # generation-2 collections among them


class PmflowTrigger:
    def __init__(self, server: Server, seeded: Seeded) -> None:
        self.http = httpx.AsyncClient(
            base_url=server.base, headers={"Authorization": f"Bearer {seeded.token}"}, timeout=60
        )
        self.seeded = seeded
        self.n = 0

    async def __call__(self) -> None:
        trigger, payload = CYCLE[self.n % len(CYCLE)]
        self.n += 1
        response = await self.http.post(
            "/graphql",
            json={
                "query": FIRE,
                "variables": {"id": self.seeded.project_gid, "trigger": trigger, "payload": payload},
            },
        )
        answer = response.json()
        errors = answer.get("errors") or answer["data"]["fireTransition"]["errors"]
        if errors:
            raise RuntimeError(f"fireTransition {trigger} failed: {errors}")


class FloorTrigger:
    def __init__(self, server: Server) -> None:
        self.http = httpx.AsyncClient(base_url=server.base, timeout=60)

    async def __call__(self) -> None:
        (await self.http.post("/publish")).raise_for_status()


async def deliver(server: Server, trigger: Any, collector: Collector, clients: int) -> Delivery:
    async with httpx.AsyncClient(base_url=server.base) as http:
        before = (await http.get("/bench/state")).json()
        collector.reset(clients)
        cpu = time.process_time()
        await asyncio.gather(trigger(), asyncio.wait_for(collector.done.wait(), timeout=120))
        cpu = time.process_time() - cpu
        await asyncio.sleep(0.05)  # let the server finish the request around the publish
        after = (await http.get("/bench/state")).json()
    published = after["published"]
    return Delivery(
        max(collector.times) - published,
        min(collector.times) - published,
        cpu,
        after["gc_seconds"] - before["gc_seconds"],
        after["gc_full"] - before["gc_full"],
    )


# ---- the run ------------------------------------------------------------------------------------
@dataclass
class Round:
    pmflow: list[Delivery]
    floor: list[Delivery]

    @staticmethod
    def med(deliveries: list[Delivery], what: str = "last") -> float:
        return float(statistics.median(getattr(d, what) for d in deliveries))

    @property
    def ratio(self) -> float:
        return self.med(self.pmflow) / self.med(self.floor)


async def bench(seeded: Seeded, pm: Server, fl: Server, args: argparse.Namespace) -> list[Round]:
    pm_in, fl_in = Collector(), Collector()
    started = time.perf_counter()
    pm_clients = await open_pmflow_clients(pm, seeded, args.clients, pm_in)
    print(f"pmflow: {args.clients} clients subscribed in {time.perf_counter() - started:.1f} s")
    pm_fire = PmflowTrigger(pm, seeded)
    for _ in range(2):  # warm up; keeps a message for the floor
        await deliver(pm, pm_fire, pm_in, args.clients)
    assert pm_in.sample is not None
    message = pm_in.sample
    started = time.perf_counter()
    fl_clients = await open_floor_clients(fl, args.clients, fl_in)
    print(f"floor: {args.clients} clients connected in {time.perf_counter() - started:.1f} s")
    fl_publish = FloorTrigger(fl)
    async with httpx.AsyncClient(base_url=fl.base) as http:
        (await http.post("/message", content=message.encode())).raise_for_status()
    for _ in range(2):
        await deliver(fl, fl_publish, fl_in, args.clients)
    if fl_in.sample != message:
        print("WARNING: the floor's clients received other bytes than pmflow's")
    print(f"message per client ({len(message.encode())} bytes): {message}")
    execute, dump, same = per_subscriber_ceiling(message)
    print(
        f"graphql-core alone, per subscriber (in this process; same message: {same}): execute the "
        f"selection over the event as a dict + json.dumps {execute * 1e6:,.0f} µs, json.dumps alone "
        f"{dump * 1e6:,.0f} µs; x {args.clients}: {execute * args.clients * 1000:,.1f} ms"
    )
    for server in (pm, fl):
        async with httpx.AsyncClient(base_url=server.base) as http:
            if args.gc_freeze:
                frozen = (await http.post("/bench/gc-freeze")).text
                print(f"{server.name}: gc.freeze() with the subscribers connected: {frozen} objects frozen")
            tracked = (await http.get("/bench/state?tracked=1")).json()["gc_tracked"]
            print(f"{server.name} server: {tracked:,} objects tracked by the garbage collector")

    rounds = []
    for _ in range(args.rounds):
        pm_side = [await deliver(pm, pm_fire, pm_in, args.clients) for _ in range(args.events)]
        fl_side = [await deliver(fl, fl_publish, fl_in, args.clients) for _ in range(args.events)]
        rounds.append(Round(pm_side, fl_side))

    if args.profile:
        for server, trigger, collector in ((pm, pm_fire, pm_in), (fl, fl_publish, fl_in)):
            async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
                await http.post("/bench/profile/start")
                for _ in range(args.events):
                    await deliver(server, trigger, collector, args.clients)
                text = (await http.post("/bench/profile/stop")).text
            print(f"\ncProfile of the {server.name} server process over {args.events} events:\n{text}")

    for ws in (*pm_clients, *fl_clients):
        await ws.close()
    return rounds


def report(rounds: list[Round], clients: int, events: int) -> float:
    pm = [d for r in rounds for d in r.pmflow]
    fl = [d for r in rounds for d in r.floor]
    med = statistics.median

    def ms(x: float) -> str:
        return f"{x * 1000:,.1f} ms"

    print()
    print(f"{len(rounds)} interleaved rounds x {events} events per side, {clients} subscribers (medians)")
    print(
        "| side | publish -> last client | per subscriber | publish -> first client | client CPU per event "
        "| server GC per event | full GCs per event |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, ds in (
        ("pmflow (fireTransition, strawberry, graphql-transport-ws)", pm),
        ("floor (send loop)", fl),
    ):
        last = med(d.last for d in ds)
        print(
            f"| {name} | {ms(last)} | {last / clients * 1e6:,.0f} µs | {ms(med(d.first for d in ds))} "
            f"| {ms(med(d.client_cpu for d in ds))} | {ms(med(d.server_gc for d in ds))} "
            f"| {statistics.mean(d.server_full_gc for d in ds):.2f} |"
        )
    ratio = med(r.ratio for r in rounds)
    print(f"ratio pmflow / floor: median {ratio:.2f}; rounds " + " ".join(f"{r.ratio:.2f}" for r in rounds))
    return ratio


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500, help="subscribers per server (default 500)")
    parser.add_argument("--events", type=int, default=5, help="events per side and round (default 5)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each server process")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="call gc.freeze() in both servers once the subscribers are connected (an experiment)",
    )
    parser.add_argument("--serve", choices=("pmflow", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve == "pmflow":
        serve_pmflow(args.port, args.database_url)
        return 0
    if args.serve == "floor":
        serve_floor(args.port)
        return 0

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; servers: uvicorn, one process each")
    print(f"load average at start: {_load()}")
    if (os.cpu_count() or 1) <= 2:
        print(
            "note: on 2 cores the clients (this process) and the server under test share the CPU; "
            "the client CPU per event below shows how much of each figure is the clients' receiving"
        )
    ratio = float("nan")
    with tempfile.TemporaryDirectory(prefix="pmflow-bench-") as tmp_name:
        tmp = Path(tmp_name)
        seeded = seed(f"sqlite:///{tmp}/bench.db")
        pm = start_server("pmflow", ["--database-url", seeded.url], tmp)
        fl = start_server("floor", [], tmp)
        try:
            runner = _runner()
            with runner:
                rounds = runner.run(bench(seeded, pm, fl, args))
            ratio = report(rounds, args.clients, args.events)
        finally:
            for server in (pm, fl):
                stop_server(server)
        verdict = "PASS" if ratio <= MAX_RATIO else "FAIL"
        print()
        print(f"target pmflow / floor <= {MAX_RATIO:g}x: {verdict} ({ratio:.2f})")
    print(f"load average at end: {_load()}")
    print(f"RESULT fanout_vs_loop={ratio:.2f}")
    return 0


def _runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


if __name__ == "__main__":
    raise SystemExit(main())
