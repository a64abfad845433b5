"""Across processes on PostgreSQL: LISTEN for the announcements of ``pmflow.core.live`` and feed
the local broker, so a subscriber of any ``pmflow serve`` process hears every committed event."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

from pmflow.api.events import EventBroker, Published
from pmflow.api.loaders import in_thread
from pmflow.app import App
from pmflow.core.live import CHANNEL
from pmflow.core.tables import events
from pmflow.domain.guards import project_of

log = logging.getLogger("pmflow.api.listen")

TYPE_OF_KIND = {
    "project": "Project",
    "requirement": "Requirement",
    "change_request": "ChangeRequest",
    "iteration": "Iteration",
    "deliverable": "Deliverable",
    "risk": "Risk",
}
RETRY_SECONDS = (0.5, 1, 2, 5, 10)


def conninfo(built: App) -> str:
    url = make_url(built.database.url.render_as_string(hide_password=False)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def published(built: App, announcement: dict[str, Any]) -> Published | None:
    """The event behind an announcement, with the project it belongs to."""
    kind = str(announcement.get("kind"))
    type_name = TYPE_OF_KIND.get(kind)
    if type_name is None:
        return None
    with built.database.read() as conn:
        row = conn.execute(select(events).where(events.c.event_id == announcement.get("event_id"))).first()
        if row is None:  # another database sharing the server (a test schema, say)
            return None
        project_id = project_of(conn, kind, row.subject_id)
    if project_id is None:
        return None
    return Published(project_id=int(project_id), subject_type=type_name, row=row)


async def listen(built: App, broker: EventBroker, ready: asyncio.Event | None = None) -> None:
    """Run until cancelled; reconnect with backoff when the connection drops."""
    import psycopg  # only PostgreSQL deployments listen; SQLite installs need not have the driver

    attempt = 0
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo(built), autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                attempt = 0
                if ready is not None:
                    ready.set()
                async for notification in conn.notifies():
                    try:
                        found = await in_thread(published, built, json.loads(notification.payload))
                    except Exception:
                        log.exception("could not load announced event %s", notification.payload)
                        continue
                    if found is not None:
                        broker.publish(found)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
            attempt += 1
            log.warning("event listener lost its connection (%s); retrying in %ss", error, delay)
            await asyncio.sleep(delay)
