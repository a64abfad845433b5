"""A per-client rate limit on /graphql: a token bucket per API token (by its hash) or, for requests
without a bearer token, per client IP; kept in memory, so each ``pmflow serve`` process counts alone.

Over the limit an HTTP request answers 429 with ``Retry-After`` (seconds) and a GraphQL error
``RATE_LIMITED``; a WebSocket ``subscribe`` message answers a graphql-transport-ws ``error`` for
that subscription and is not run.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pmflow.api.limits import send_error

WINDOW = 60.0  # the limit counts requests per minute
MAX_CLIENTS = 100_000  # buckets kept before full (idle) ones are dropped


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets holding up to ``per_minute`` requests, refilled at ``per_minute`` a minute."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / WINDOW  # tokens a second
        self.clock = clock
        self.buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float | None:
        """Spend one request of ``key``'s bucket: None when allowed, else the seconds to wait."""
        now = self.clock()
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= MAX_CLIENTS:
                self._forget_idle(now)
            bucket = self.buckets[key] = _Bucket(float(self.per_minute), now)
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        # a bucket that has refilled completely carries no information
        full = [
            k for k, b in self.buckets.items() if b.tokens + (now - b.updated) * self.rate >= self.per_minute
        ]
        for key in full:
            del self.buckets[key]
        if len(self.buckets) >= MAX_CLIENTS:  # everyone is busy: forget the oldest half
            for key in sorted(self.buckets, key=lambda k: self.buckets[k].updated)[: MAX_CLIENTS // 2]:
                del self.buckets[key]


def client_key(scope: Scope) -> str:
    """Whom a request counts against: the bearer token's hash, else the client's IP."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return "token:" + hashlib.sha256(token.strip().encode()).hexdigest()
    client = scope.get("client")
    return "ip:" + (client[0] if client else "unknown")


def _message(retry_after: int, per_minute: int) -> str:
    return (
        f"Rate limit exceeded: at most {per_minute} requests a minute (PMFLOW_RATE_LIMIT); "
        f"retry after {retry_after} s."
    )


class RateLimit:
    """ASGI middleware applying a ``RateLimiter`` to HTTP requests and WebSocket subscriptions on
    ``path``."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, path: str = "/graphql") -> None:
        self.app = app
        self.limiter = limiter
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("path") != self.path:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            wait = self.limiter.take(client_key(scope))
            if wait is None:
                await self.app(scope, receive, send)
                return
            retry_after = max(1, math.ceil(wait))
            await send_error(
                scope,
                send,
                429,
                _message(retry_after, self.limiter.per_minute),
                "RATE_LIMITED",
                {"Retry-After": str(retry_after)},
            )
        elif scope["type"] == "websocket":
            await self.app(scope, self._subscriptions(scope, receive, send), send)
        else:
            await self.app(scope, receive, send)

    def _subscriptions(self, scope: Scope, receive: Receive, send: Send) -> Receive:
        """``receive`` that answers a subscribe message over the limit itself, with an ``error``."""
        key = client_key(scope)  # the handshake's header; connection_init tokens are not seen here

        async def limited() -> Message:
            while True:
                message = await receive()
                subscription = _subscribe_id(message)
                if subscription is None:
                    return message
                wait = self.limiter.take(key)
                if wait is None:
                    return message
                text = _message(max(1, math.ceil(wait)), self.limiter.per_minute)
                error = {"message": text, "extensions": {"code": "RATE_LIMITED"}}
                payload = {"id": subscription, "type": "error", "payload": [error]}
                await send({"type": "websocket.send", "text": json.dumps(payload)})

        return limited


def _subscribe_id(message: Message) -> str | None:
    """The id of a graphql-transport-ws ``subscribe`` message, else None."""
    if message.get("type") != "websocket.receive":
        return None
    text = message.get("text")
    if not text or '"subscribe"' not in text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if isinstance(parsed, dict) and parsed.get("type") == "subscribe" and isinstance(parsed.get("id"), str):
        return str(parsed["id"])
    return None
