"""Live events: each committed history event fans out to the subscribers of its project.

In-process here; across processes on PostgreSQL, LISTEN/NOTIFY feeds the same broker (see
docs/api.md). A slow subscriber never blocks the others: its queue is bounded and, when full, it
is dropped with an error rather than holding up the publisher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("pmflow.api.events")
QUEUE_SIZE = 1000


@dataclass(frozen=True)
class Published:
    project_id: int
    subject_type: str
    row: Any  # an `events` row
    # What subscribers are handed, built once for all of them (see pmflow.api.fanout).
    views: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)


class SubscriberTooSlow(Exception):
    pass


class EventBroker:
    def __init__(self) -> None:
        self._subscribers: dict[int, set[asyncio.Queue[Published | None]]] = defaultdict(set)

    def publish(self, event: Published) -> None:
        for queue in list(self._subscribers.get(event.project_id, ())):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning(
                    "dropping a subscriber of project %s: it fell %s events behind",
                    event.project_id,
                    QUEUE_SIZE,
                )
                self._subscribers[event.project_id].discard(queue)
                _close(queue)

    def subscriber_count(self, project_id: int | None = None) -> int:
        if project_id is not None:
            return len(self._subscribers.get(project_id, ()))
        return sum(len(queues) for queues in self._subscribers.values())

    async def subscribe(self, project_id: int) -> AsyncIterator[Published]:
        queue: asyncio.Queue[Published | None] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers[project_id].add(queue)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    raise SubscriberTooSlow(f"more than {QUEUE_SIZE} events behind; subscribe again")
                yield item
        finally:
            self._subscribers[project_id].discard(queue)
            if not self._subscribers[project_id]:
                self._subscribers.pop(project_id, None)


def _close(queue: asyncio.Queue[Published | None]) -> None:
    with contextlib.suppress(asyncio.QueueEmpty):
        queue.get_nowait()  # make room for the end marker
    queue.put_nowait(None)
