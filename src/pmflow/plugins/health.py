"""Project health (issue 7): a 0-100 score from the risk signals of every plugin, its history and
early warning. Being built; ``queue_check`` is the interface other plugins use already."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, insert

from pmflow.core.tables import outbox

# Outbox topic of "recompute this project's health" (the health plugin's consumer takes it).
CHECK_TOPIC = "health.check"


def queue_check(connection: Connection, project_id: int, now: datetime, reason: str) -> None:
    """Ask, inside the caller's transaction, for the project's health to be recomputed after commit
    (something the score reads changed without a history event: a survey answer, a work item)."""
    connection.execute(
        insert(outbox).values(
            event_id=str(uuid.uuid4()),
            topic=CHECK_TOPIC,
            subject_id=project_id,
            payload={"project_id": project_id, "reason": reason},
            status="pending",
            attempts=0,
            available_at=now,
            created_at=now,
        )
    )
