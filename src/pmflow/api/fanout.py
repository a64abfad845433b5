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
from collections.abc import Awaitable
from typing import Any

from graphql import ExecutionResult, OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

Key = tuple[int, str, Any]  # (id of the operation node, variables as JSON, audience)


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    # id(payload) -> key -> (operation node, result or the future of it). Keyed by id, not by the
    # payload: strawberry types are dataclasses, which are unhashable.
    _results: dict[int, dict[Key, tuple[Any, Any]]] = {}

    def execute_operation(self, serially: bool | None = None) -> Any:
        if self.operation.operation is not OperationType.SUBSCRIPTION or serially is not False:
            return super().execute_operation(serially)
        key = self._share_key()
        if key is None:
            return super().execute_operation(serially)
        per_payload = self._results.get(id(self.root_value))
        if per_payload is None:
            try:
                weakref.finalize(self.root_value, self._results.pop, id(self.root_value), None)
            except TypeError:  # a payload that cannot be weakly referenced: nothing to share
                return super().execute_operation(serially)
            per_payload = self._results[id(self.root_value)] = {}
        entry = per_payload.get(key)
        if entry is None or entry[0] is not self.operation:  # the node itself, not a reused id
            result = super().execute_operation(serially)
            if not self.is_awaitable(result):
                per_payload[key] = (self.operation, result)
                return result
            entry = per_payload[key] = (self.operation, asyncio.ensure_future(_as_coroutine(result)))
        shared = entry[1]
        if isinstance(shared, asyncio.Future):
            return _await(shared)
        return shared

    def _share_key(self) -> Key | None:
        audience = getattr(self.context_value, "audience", None)
        if audience is None:
            return None
        try:
            variables = json.dumps(self.variable_values.coerced, sort_keys=True, default=str)
        except (TypeError, ValueError):
            return None
        return (id(self.operation), variables, audience)


async def _as_coroutine(result: Awaitable[ExecutionResult]) -> ExecutionResult:
    return await result


async def _await(shared: asyncio.Future[ExecutionResult]) -> ExecutionResult:
    # shield: one subscriber leaving must not cancel the execution the others wait for
    return await asyncio.shield(shared)
