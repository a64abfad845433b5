"""Ratio benchmark: a single-project GraphQL query over HTTP against a bare starlette route.

Run from the repository root (or anywhere)::

    python benchmarks/bench_http.py [--connections N] [--duration S] [--rounds R] [--profile]

Two real uvicorn servers, each its own process with the same options (one worker, ``--loop auto``
(uvloop), ``--http auto`` (httptools), no access log):

- **pmflow**: ``create_app(Settings(database_url, workflows))`` on a SQLite file holding the demo
  data. The request is ``POST /graphql`` with a Bearer token (the manager Mia) and a query for one
  project with its customer, requirements, iterations, risk count and last ten history events.
- **floor**: a bare starlette ``Route("/graphql", methods=["POST"])`` that reads the request body and
  answers ``Response(payload)`` — the exact bytes (and content type) pmflow answered in the warm-up.

The load generator runs in this process (uvloop): ``--connections`` keep-alive HTTP/1.1 connections,
each sending the same pre-built request (the same bytes to both servers) and reading the answer
(``Content-Length``) before sending the next, for ``--duration`` seconds. Every answer is checked:
status 200 and the expected body. It is a minimal ``wrk`` in Python (``wrk`` is not installed here;
``httpx.AsyncClient`` could not load even the floor: about 360 requests/s whatever the concurrency,
against some 5,000 for this loop on the same route — ``--load-generator httpx`` shows it).

Rounds are interleaved (pmflow, floor, ...); share = pmflow requests/s / floor requests/s, the
median over rounds. Target (issue): >= 40 %. The last line printed is always
``RESULT http_rps_share=<share>``; the exit status is 0 whatever the figures.

On a 2-core machine the load generator and the server share the CPU (and pmflow's server runs its
SQL in worker threads): the CPU each process used per request is printed beside the rates.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Entry-point plugins installed on the machine must not change what is measured.
os.environ["PMFLOW_DISABLE_PLUGIN_AUTOLOAD"] = "1"
# The per-token rate limit (600 a minute by default) would answer most of the load with 429; the
# outbox worker (no consumers here) would only add noise. Both off for what is measured.
os.environ["PMFLOW_RATE_LIMIT"] = "0"

import httpx

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
MIN_SHARE = 0.40  # target from the issue
UVICORN_OPTIONS: dict[str, Any] = {
    "host": "127.0.0.1",
    "log_level": "warning",
    "access_log": False,
    "backlog": 4096,
}

QUERY = """
query Project($id: ID!) {
  node(id: $id) {
    ... on Project {
      id name state stateLabel version
      customer { name }
      requirements(first: 100) { totalCount edges { node { id title state } } }
      iterations(first: 100) { totalCount edges { node { id number goal state } } }
      risks(first: 100) { totalCount }
      history(first: 10) { totalCount edges { node { trigger fromState toState occurredAt } } }
    }
  }
}
"""


# The ceiling: graphql-core alone, executing the same query over pmflow's own answer as dicts.
CEILING_SDL = """
type Query { node(id: ID!): Node }
interface Node { id: ID! }
type Customer { name: String! }
type Project implements Node {
  id: ID!
  name: String!
  state: String!
  stateLabel: String!
  version: Int!
  customer: Customer!
  requirements(state: [String!], first: Int, after: String, last: Int, before: String): RequirementConnection!
  iterations(state: [String!], first: Int, after: String, last: Int, before: String): IterationConnection!
  risks(state: [String!], first: Int, after: String, last: Int, before: String): RiskConnection!
  history(first: Int, after: String, last: Int, before: String): HistoryEventConnection!
}
type RequirementConnection { totalCount: Int! edges: [RequirementEdge!]! }
type RequirementEdge { node: Requirement! }
type Requirement implements Node { id: ID! title: String! state: String! }
type IterationConnection { totalCount: Int! edges: [IterationEdge!]! }
type IterationEdge { node: Iteration! }
type Iteration implements Node { id: ID! number: Int! goal: String state: String! }
type RiskConnection { totalCount: Int! }
type HistoryEventConnection { totalCount: Int! edges: [HistoryEventEdge!]! }
type HistoryEventEdge { node: HistoryEvent! }
type HistoryEvent { trigger: String! fromState: String toState: String! occurredAt: String! }
"""


@dataclass
class Ceiling:
    full: float  # seconds: parse, validate, execute, json.dumps
    execute: float  # seconds: execute and json.dumps of a parsed, validated document
    same: bool  # graphql-core's answer equals pmflow's


def ceiling(answer: dict[str, Any], variables: dict[str, Any], runs: int = 300) -> Ceiling:
    """What graphql-core itself costs per request for this query, over pmflow's answer as dicts
    (no database, no auth, no HTTP): a bound on the share any server executing it can reach."""
    import graphql

    schema = graphql.build_schema(CEILING_SDL)
    root = {"node": {**answer["data"]["node"], "__typename": "Project"}}
    document = graphql.parse(QUERY)
    if graphql.validate(schema, document):
        raise RuntimeError("the ceiling schema does not fit the query")

    def full() -> bytes:
        result = graphql.graphql_sync(schema, QUERY, root_value=root, variable_values=variables)
        return json.dumps({"data": result.data}).encode()

    def execute() -> bytes:
        result = graphql.execute_sync(schema, document, root_value=root, variable_values=variables)
        return json.dumps({"data": result.data}).encode()

    same = json.loads(full()) == answer
    timings = []
    for fn in (full, execute):
        fn()
        start = time.perf_counter()
        for _ in range(runs):
            fn()
        timings.append((time.perf_counter() - start) / runs)
    return Ceiling(timings[0], timings[1], same)


# ---- the two servers (each runs in its own process: ``--serve pmflow|floor``) ------------------
def serve_pmflow(port: int, database_url: str) -> None:
    import uvicorn
    from starlette.routing import Route

    from pmflow.api.app import Settings, create_app

    app = create_app(Settings(database_url=database_url, workflows=WORKFLOWS, graphiql=False, worker=False))
    app.router.routes[:0] = [Route("/bench/ready", _ready), *_profile_routes()]
    uvicorn.run(app, port=port, **UVICORN_OPTIONS)


def serve_floor(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    payload: dict[str, Any] = {"body": b"{}", "type": "application/json"}

    async def graphql(request: Request) -> Response:
        await request.body()
        return Response(payload["body"], media_type=payload["type"])

    async def set_payload(request: Request) -> Response:
        payload.update(body=await request.body(), type=request.headers["content-type"])
        return Response(status_code=204)

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["POST"]),
            Route("/bench/payload", set_payload, methods=["POST"]),
            Route("/bench/ready", _ready),
            *_profile_routes(),
        ]
    )
    uvicorn.run(app, port=port, **UVICORN_OPTIONS)


async def _ready(_: Any) -> Any:
    from starlette.responses import PlainTextResponse

    return PlainTextResponse("ok")


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
        stats.sort_stats("cumulative").print_stats(50)
        return PlainTextResponse(text.getvalue())

    return [
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
    from pmflow.domain.identity import issue_token

    built = pmflow_app.build(database_url=url, workflows=WORKFLOWS)
    try:
        demo = load_demo(built.engine)
        token = issue_token(built.engine, demo.users["mia"]).token
    finally:
        built.database.dispose()
    return Seeded(url, token, to_global_id("Project", demo.projects["portal"]))


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

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process, all its threads (Linux ``/proc``)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
            if httpx.get(f"{server.base}/bench/ready", timeout=2).status_code == 200:
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


# ---- the load -----------------------------------------------------------------------------------
def request_bytes(port: int, seeded: Seeded) -> bytes:
    body = json.dumps({"query": QUERY, "variables": {"id": seeded.project_gid}}).encode()
    head = (
        "POST /graphql HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: application/graphql-response+json, application/json\r\n"
        f"Authorization: Bearer {seeded.token}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


@dataclass
class Load:
    requests: int
    seconds: float
    latencies: list[float]
    bad: int  # answers that were not 200 with the expected body
    client_cpu: float
    server_cpu: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


async def raw_load(port: int, request: bytes, expected: bytes, connections: int, duration: float) -> Load:
    """``connections`` keep-alive connections, one request in flight on each, for ``duration`` s."""
    latencies: list[float] = []
    bad = 0
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    for _, writer in streams:
        writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    start = time.perf_counter()
    end = start + duration

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal bad
        clock = time.perf_counter
        while (sent := clock()) < end:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            at = head.lower().find(b"content-length:")
            length = int(head[at + 15 : head.index(b"\r\n", at)])
            body = await reader.readexactly(length)
            latencies.append(clock() - sent)
            if body != expected or not head.startswith(b"HTTP/1.1 200"):
                bad += 1

    await asyncio.gather(*(worker(r, w) for r, w in streams))
    elapsed = time.perf_counter() - start
    for _, writer in streams:
        writer.close()
    return Load(len(latencies), elapsed, latencies, bad, 0.0, 0.0)


async def httpx_load(port: int, request: bytes, expected: bytes, connections: int, duration: float) -> Load:
    """The same load through ``httpx.AsyncClient`` (one client, a pool of ``connections``)."""
    head, _, body = request.partition(b"\r\n\r\n")
    headers = dict(
        line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if not line.startswith("Host")
    )
    latencies: list[float] = []
    bad = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:
        start = time.perf_counter()
        end = start + duration

        async def worker() -> None:
            nonlocal bad
            while (sent := time.perf_counter()) < end:
                answer = await client.post("/graphql", content=body, headers=headers)
                latencies.append(time.perf_counter() - sent)
                if answer.status_code != 200 or answer.content != expected:
                    bad += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    return Load(len(latencies), elapsed, latencies, bad, 0.0, 0.0)


async def measure(server: Server, request: bytes, expected: bytes, args: argparse.Namespace) -> Load:
    generator = raw_load if args.load_generator == "raw" else httpx_load
    client_cpu, server_cpu = time.process_time(), server.cpu_seconds()
    load = await generator(server.port, request, expected, args.connections, args.duration)
    load.client_cpu = time.process_time() - client_cpu
    load.server_cpu = server.cpu_seconds() - server_cpu
    await asyncio.sleep(0.2)  # let the server close the connections before the other side starts
    return load


# ---- the run ------------------------------------------------------------------------------------
@dataclass
class Round:
    pmflow: Load
    floor: Load

    @property
    def share(self) -> float:
        return self.pmflow.rps / self.floor.rps


async def bench(
    seeded: Seeded, pm: Server, fl: Server, args: argparse.Namespace
) -> tuple[list[Round], Ceiling]:
    pm_request, fl_request = request_bytes(pm.port, seeded), request_bytes(fl.port, seeded)
    _, _, body = pm_request.partition(b"\r\n\r\n")
    async with httpx.AsyncClient(base_url=pm.base) as http:
        answer = await http.post(
            "/graphql",
            content=body,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/graphql-response+json, application/json",
                "Authorization": f"Bearer {seeded.token}",
            },
        )
    data = answer.json()
    if answer.status_code != 200 or data.get("errors") or not data.get("data", {}).get("node"):
        raise RuntimeError(f"pmflow did not answer the query: {answer.status_code} {answer.text}")
    payload, content_type = answer.content, answer.headers["content-type"]
    async with httpx.AsyncClient(base_url=fl.base) as http:
        (
            await http.post("/bench/payload", content=payload, headers={"content-type": content_type})
        ).raise_for_status()
    node = data["data"]["node"]
    print(
        f"query: project {node['name']!r} ({node['state']}), {node['requirements']['totalCount']} "
        f"requirements, {node['iterations']['totalCount']} iterations, {node['risks']['totalCount']} "
        f"risks, {len(node['history']['edges'])} history events; answer {len(payload):,} bytes "
        f"({content_type}); request {len(pm_request):,} bytes"
    )
    bound = ceiling(data, {"id": seeded.project_gid})
    warm = argparse.Namespace(**{**vars(args), "duration": 1.0})
    await measure(pm, pm_request, payload, warm)
    await measure(fl, fl_request, payload, warm)

    rounds = []
    for _ in range(args.rounds):
        rounds.append(
            Round(
                await measure(pm, pm_request, payload, args),
                await measure(fl, fl_request, payload, args),
            )
        )
    if args.profile:
        for server, request in ((pm, pm_request), (fl, fl_request)):
            async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
                await http.post("/bench/profile/start")
                load = await measure(server, request, payload, args)
                text = (await http.post("/bench/profile/stop")).text
            print(
                f"\ncProfile of the {server.name} server process over {load.requests:,} requests "
                f"({load.rps:,.0f}/s under the profiler):\n{text}"
            )
    return rounds, bound


def report(rounds: list[Round], bound: Ceiling, args: argparse.Namespace) -> float:
    med = statistics.median
    print()
    print(
        f"{len(rounds)} interleaved rounds x {args.duration:g} s per side, {args.connections} connections, "
        f"load generator: {args.load_generator} (medians)"
    )
    print(
        "| side | requests/s | latency p50 | latency p99 | server CPU per request "
        "| load generator CPU per request | bad answers |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, loads in (
        ("pmflow (strawberry on starlette)", [r.pmflow for r in rounds]),
        ("floor (bare starlette route)", [r.floor for r in rounds]),
    ):
        latencies = sorted(x for load in loads for x in load.latencies)
        p50 = latencies[len(latencies) // 2] if latencies else float("nan")
        p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
        print(
            f"| {name} | {med(x.rps for x in loads):,.0f} | {p50 * 1000:.2f} ms | {p99 * 1000:.2f} ms "
            f"| {med(x.server_cpu / x.requests for x in loads) * 1e6:,.0f} µs "
            f"| {med(x.client_cpu / x.requests for x in loads) * 1e6:,.0f} µs "
            f"| {sum(x.bad for x in loads)} |"
        )
    share = med(r.share for r in rounds)
    print(f"share pmflow / floor: median {share:.1%}; rounds " + " ".join(f"{r.share:.1%}" for r in rounds))
    floor_cpu = med(r.floor.server_cpu / r.floor.requests for r in rounds)
    print()
    print(
        "ceiling: graphql-core alone on this query over pmflow's answer as dicts, in this process "
        f"(answers equal: {bound.same}): {bound.full * 1e6:,.0f} µs per request with parse and "
        f"validate, {bound.execute * 1e6:,.0f} µs without (execute and json.dumps only)"
    )
    print(
        "  a server spending the floor's CPU plus only that per request would reach at most "
        f"{floor_cpu / (floor_cpu + bound.full):.1%} of the floor "
        f"({floor_cpu / (floor_cpu + bound.execute):.1%} with validation cached)"
    )
    return share


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per side and round (default 5)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument(
        "--load-generator",
        choices=("raw", "httpx"),
        default="raw",
        help="raw: keep-alive asyncio streams (default); httpx: httpx.AsyncClient (slow, for comparison)",
    )
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each server process")
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
            "note: on 2 cores the load generator (this process) and the server under test share the "
            "CPU; see the CPU per request of each below"
        )
    share = float("nan")
    with tempfile.TemporaryDirectory(prefix="pmflow-bench-") as tmp_name:
        tmp = Path(tmp_name)
        seeded = seed(f"sqlite:///{tmp}/bench.db")
        pm = start_server("pmflow", ["--database-url", seeded.url], tmp)
        fl = start_server("floor", [], tmp)
        try:
            with _runner() as runner:
                rounds, bound = runner.run(bench(seeded, pm, fl, args))
            share = report(rounds, bound, args)
        finally:
            for server in (pm, fl):
                stop_server(server)
        verdict = "PASS" if share >= MIN_SHARE else "FAIL"
        print()
        print(f"target pmflow >= {MIN_SHARE:.0%} of the floor's requests/s: {verdict} ({share:.1%})")
    print(f"load average at end: {_load()}")
    print(f"RESULT http_rps_share={share:.3f}")
    return 0


def _runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


if __name__ == "__main__":
    raise SystemExit(main())
