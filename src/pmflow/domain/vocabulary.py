"""The words of the domain: kinds, roles and the values a field may take."""

from __future__ import annotations

from typing import Literal

# subject kinds, as written after `subject:` in the workflow files
PROJECT = "project"
REQUIREMENT = "requirement"
CHANGE_REQUEST = "change_request"
ITERATION = "iteration"
DELIVERABLE = "deliverable"
RISK = "risk"

OrgRole = Literal["admin", "manager", "member", "customer"]
ProjectRole = Literal["manager", "analyst", "developer", "designer", "tester", "customer_representative"]
Priority = Literal["critical", "high", "medium", "low"]
RequirementSource = Literal["interview", "survey", "workshop", "change_request", "other"]
MeetingKind = Literal[
    "kickoff", "daily_standup", "iteration_review", "retrospective", "status_report", "project_review", "demo"
]
DeliverableKind = Literal["document", "code", "product", "service"]
WorkStatus = Literal["todo", "in_progress", "done"]
RiskCategory = Literal["schedule", "budget", "scope", "technical", "resource", "customer", "quality", "other"]

# A customer representative in a project acts with the workflow role `customer`.
WORKFLOW_ROLE_OF: dict[str, str] = {"customer_representative": "customer"}
CUSTOMER_ROLE = "customer"
ADMIN_ROLE = "admin"

# States in which a change request still waits for a decision (see workflows/change-request.yaml).
UNDECIDED_CHANGE_STATES = ("submitted", "under_assessment", "awaiting_decision")
