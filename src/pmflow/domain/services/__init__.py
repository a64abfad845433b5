"""Services of the customer-project model: validated writes, audited, in one transaction each.

``Domain(engine)`` gathers them: ``domain.projects.create(actor, {...})``. Lifecycle state never
changes here: it changes only through ``domain.fire`` (the workflow engine).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pmflow.core.engine import FireResult, WorkflowEngine
from pmflow.core.types import Actor
from pmflow.domain.services.changes import ChangeRequests
from pmflow.domain.services.customers import Customers, Users
from pmflow.domain.services.deliverables import Deliverables
from pmflow.domain.services.iterations import Iterations, WorkItems
from pmflow.domain.services.meetings import Feedback, Meetings
from pmflow.domain.services.projects import Projects
from pmflow.domain.services.requirements import Requirements
from pmflow.domain.services.risks import Risks


class Domain:
    def __init__(self, engine: WorkflowEngine) -> None:
        self.engine = engine
        self.customers = Customers(engine)
        self.users = Users(engine)
        self.projects = Projects(engine)
        self.requirements = Requirements(engine)
        self.change_requests = ChangeRequests(engine)
        self.iterations = Iterations(engine)
        self.work_items = WorkItems(engine)
        self.meetings = Meetings(engine)
        self.feedback = Feedback(engine)
        self.deliverables = Deliverables(engine)
        self.risks = Risks(engine)

    def fire(
        self,
        actor: Actor,
        subject_id: int,
        trigger: str,
        *,
        expected_version: int | None = None,
        comment: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> FireResult:
        """Move a project, requirement, change request, iteration, deliverable or risk."""
        return self.engine.fire(
            subject_id, trigger, actor, expected_version=expected_version, comment=comment, payload=payload
        )


__all__ = ["Domain"]
