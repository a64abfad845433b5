"""The ASGI application: GraphQL over HTTP and WebSocket at /graphql, /healthz, and the survey answer
page /survey (``pmflow.api.survey_page``).

``create_app()`` builds everything in the lifespan (plugins, validated workflows, migrated database),
so a broken workflow file stops the server at start with its file, line and reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pluggy
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from pmflow import app as pmflow_app
from pmflow.api.announce import LocalAnnouncer
from pmflow.api.context import Context
from pmflow.api.events import EventBroker
from pmflow.api.fanout import NextMessageEncoder
from pmflow.api.http import GraphQLOverHTTP
from pmflow.api.limits import BodyLimit, Limits
from pmflow.api.listen import listen
from pmflow.api.loaders import Loaders, in_thread
from pmflow.api.ratelimit import RateLimit, RateLimiter
from pmflow.api.schema import build_schema
from pmflow.api.survey_page import survey_endpoint
from pmflow.core.outbox import Worker
from pmflow.core.timers import TimerRunner
from pmflow.domain.identity import authenticate
from pmflow.domain.services import Domain

DEV_ENV = "PMFLOW_DEV"


@dataclass
class Settings:
    database_url: str | None = None
    workflows: Any = None
    graphiql: bool = True
    worker: bool = True  # deliver the outbox in a background thread (`pmflow serve --no-worker` turns it off)
    # API limits, CORS and introspection (pmflow.api.limits); PMFLOW_* variables by default
    limits: Limits = field(default_factory=lambda: Limits.from_env(development=dev_mode()))
    # The plugins (built-ins and entry points by default); their GraphQL fields are part of the schema.
    plugins: pluggy.PluginManager | None = None


class PmflowGraphQL(GraphQLOverHTTP[Context, None]):
    """The /graphql view: GraphQL over HTTP (see ``pmflow.api.http``) and graphql-transport-ws."""

    def __init__(
        self,
        state: dict[str, Any],
        limits: Limits | None = None,
        plugins: pluggy.PluginManager | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(build_schema(limits, plugins), **kwargs)
        self.state = state
        self.next_messages = NextMessageEncoder()

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        built: pmflow_app.App = self.state["app"]
        context = Context(
            app=built,
            domain=self.state["domain"],
            loaders=Loaders(built.database),
            request=request,
            response=response,
            extra={"broker": self.state["broker"]},
        )
        header = request.headers.get("authorization")
        if header is not None:
            context.user = await _user_for(built, header)
        return context

    def encode_json(self, data: object) -> str | bytes:
        # a subscription event's shared result is serialised once for all its subscribers
        return self.next_messages.encode(data) or super().encode_json(data)

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params or {}
        header = params.get("Authorization") or params.get("authorization")
        if header is None:
            return None  # subscriptions then answer UNAUTHENTICATED
        user = await _user_for(context.app, str(header))
        if user is None:
            raise ConnectionRejectionError({"message": "invalid or expired token"})
        context.user = user
        return None


async def _user_for(built: pmflow_app.App, header: str) -> Any | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return await in_thread(authenticate, built.engine, token.strip())


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    state: dict[str, Any] = {}
    # One plugin manager for the schema and the engine: a plugin's GraphQL fields and its conditions agree.
    plugins = settings.plugins if settings.plugins is not None else pmflow_app.plugin_manager()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        built = await in_thread(
            lambda: pmflow_app.build(
                database_url=settings.database_url, workflows=settings.workflows, plugins=plugins
            )
        )
        broker = EventBroker()
        state.update(app=built, domain=Domain(built.engine), broker=broker)
        listener = None
        announcer = None
        if built.database.dialect == "postgresql":  # events of every process, via LISTEN/NOTIFY
            ready = asyncio.Event()
            listener = asyncio.create_task(listen(built, broker, ready))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), timeout=10)
        else:  # events this process commits, from the commit itself
            announcer = LocalAnnouncer(built.database, broker, asyncio.get_running_loop())
            built.plugins.register(announcer, name="pmflow.api.announce")
        stop_worker = threading.Event()
        worker = None
        if settings.worker:  # the outbox worker blocks on the database: its own thread, not the loop
            runner = Worker.for_plugins(
                built.database, built.plugins, clock=built.engine.clock, timers=TimerRunner(built.engine)
            )
            worker = asyncio.create_task(asyncio.to_thread(runner.run, stop_worker))
        try:
            yield
        finally:
            stop_worker.set()  # the delivery in progress finishes and is recorded
            if worker is not None:
                await worker
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
            if announcer is not None:  # the plugin manager outlives this lifespan (create_app's)
                built.plugins.unregister(announcer)
            built.database.dispose()

    graphql = PmflowGraphQL(
        state,
        settings.limits,
        plugins,
        graphql_ide="graphiql" if settings.graphiql else None,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
    )

    async def healthz(_: Request) -> JSONResponse:
        built = state.get("app")
        if built is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            await in_thread(_ping, built)
        except Exception as error:  # the database is down: say so, do not crash
            return JSONResponse(
                {"status": "unhealthy", "database": str(error).splitlines()[0]}, status_code=503
            )
        return JSONResponse({"status": "ok", "workflows": len(built.registry)})

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/survey", survey_endpoint(state), methods=["GET", "POST"]),  # the survey mails' link
        ],
        middleware=_middleware(settings.limits),
        lifespan=lifespan,
    )


def _middleware(limits: Limits) -> list[Middleware]:
    """CORS outermost, so refusals carry its headers too; the rate limit before the body is read."""
    middleware = []
    if limits.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(limits.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type", "accept"],
                expose_headers=["retry-after"],
                max_age=600,
            )
        )
    if limits.rate_limit:  # one budget per client for /graphql and the survey page
        limiter = RateLimiter(limits.rate_limit)
        middleware.append(Middleware(RateLimit, limiter=limiter))
        middleware.append(Middleware(RateLimit, limiter=limiter, path="/survey"))
    middleware.append(Middleware(BodyLimit, max_bytes=limits.max_body_bytes))
    middleware.append(Middleware(BodyLimit, max_bytes=limits.max_body_bytes, path="/survey"))
    return middleware


def _ping(built: pmflow_app.App) -> None:
    with built.database.read() as conn:
        conn.exec_driver_sql("SELECT 1")


def dev_mode() -> bool:
    return os.environ.get(DEV_ENV, "1") not in ("0", "false", "no")
