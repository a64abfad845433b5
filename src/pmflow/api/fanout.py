"""One execution per subscription event, shared by every subscriber who would get the same answer.

graphql-core maps each subscriber's source stream through its own execution: 500 subscribers of
one project executed the same selection over the same event 500 times, two thirds of the fan-out
cost (docs/performance.md). The subscription resolver yields one shared payload object per
published event (``subscriptions.py``), and this executor memoises the result of executing an
operation over it, keyed by what can change the answer:

- the operation (the parsed document node: the parser cache hands every sender of the same text
  the same document),
- the coerced variables,
- the viewer's audience (``Context.audience``): everything a resolver may decide visibility on.

Results live as long as the payload object (a finaliser drops them with it): no eviction policy to
tune. Subscribers whose payloads are their own objects simply never hit the memo.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any

from graphql import ExecutionResult, OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

Key = tuple[int, str, Any]  # (id of the operation node, variables as JSON, audience)


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    # id(payload) -> key -> (operation node, result or the future of it). Keyed by id, not by the
    # payload: strawberry types are dataclasses, which are unhashable.
    _results: dict[int, dict[Key, tuple[Any, Any]]] = {}
    _share: Key | bool | None = False  # False: not computed yet (once per subscription)

    def build_per_event_executor(self, payload: Any) -> Any:
        key = self._key()
        if key is not None:
            entry = self._results.get(id(payload), {}).get(key)
            if entry is not None and entry[0] is self.operation:  # the node itself, not a reused id
                return _Shared(entry[1])  # no copy of the executor for a result already made
        return super().build_per_event_executor(payload)

    def execute_operation(self, serially: bool | None = None) -> Any:
        key = self._key() if serially is False else None
        if key is None:
            return super().execute_operation(serially)
        payload = self.root_value
        per_payload = self._results.get(id(payload))
        if per_payload is None:
            try:
                weakref.finalize(payload, self._results.pop, id(payload), None)
            except TypeError:  # a payload that cannot be weakly referenced: nothing to share
                return super().execute_operation(serially)
            per_payload = self._results[id(payload)] = {}
        entry = per_payload.get(key)
        if entry is None or entry[0] is not self.operation:
            result = super().execute_operation(serially)
            if not self.is_awaitable(result):
                per_payload[key] = (self.operation, result)
                return result
            entry = per_payload[key] = (self.operation, asyncio.ensure_future(_as_coroutine(result)))
        return _Shared(entry[1]).execute_operation(serially)

    def _key(self) -> Key | None:
        """What the answer to one event depends on; None when it may not be shared."""
        if self._share is not False:
            return self._share  # type: ignore[return-value]
        key: Key | None = None
        audience = getattr(self.context_value, "audience", None)
        if self.operation.operation is OperationType.SUBSCRIPTION and audience is not None:
            try:
                variables = json.dumps(self.variable_values.coerced, sort_keys=True, default=str)
                key = (id(self.operation), variables, audience)
            except (TypeError, ValueError):
                key = None
        self._share = key  # the per-event copies inherit it
        return key


class _Shared:
    """Stands in for a per-event executor when the event's result exists (or is being made)."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> Any:
        if isinstance(self.result, asyncio.Future):
            return _await(self.result)
        return self.result


async def _as_coroutine(result: Awaitable[ExecutionResult]) -> ExecutionResult:
    return await result


async def _await(shared: asyncio.Future[ExecutionResult]) -> ExecutionResult:
    # shield: one subscriber leaving must not cancel the execution the others wait for
    return await asyncio.shield(shared)


class NextMessageEncoder:
    """Serialises graphql-transport-ws ``next`` messages, the shared part once per result.

    Subscribers sharing an execution receive the very same ``data`` object; its JSON is made once
    and spliced into each subscriber's message (which differs only in the operation id). Holds the
    last few results strongly, so an id is never reused while cached.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._encoded: OrderedDict[int, tuple[Any, str]] = OrderedDict()

    def encode(self, message: Any) -> str | None:
        """The message as JSON text, or None when it is not a plain ``next`` message."""
        if not isinstance(message, dict) or message.get("type") != "next" or len(message) != 3:
            return None
        payload = message.get("payload")
        if not isinstance(payload, dict) or len(payload) != 1 or "data" not in payload:
            return None  # errors or extensions: made per subscriber, not shared
        data = payload["data"]
        cached = self._encoded.get(id(data))
        if cached is None or cached[0] is not data:
            cached = (data, json.dumps({"data": data}, separators=(",", ":")))
            self._encoded[id(data)] = cached
            if len(self._encoded) > self._size:
                self._encoded.popitem(last=False)
        return '{"id":' + json.dumps(message["id"]) + ',"type":"next","payload":' + cached[1] + "}"
