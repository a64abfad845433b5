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

# A risk's level from its score (probability x impact, each 1-5), as on a 5x5 risk matrix: the
# smallest score of each level. 16-25 critical, 10-15 high, 5-9 medium, 1-4 low.
RiskLevel = Literal["low", "medium", "high", "critical"]
RISK_LEVELS: tuple[tuple[int, RiskLevel], ...] = ((16, "critical"), (10, "high"), (5, "medium"), (1, "low"))
HIGH_RISK_SCORE, CRITICAL_RISK_SCORE = 10, 16
# Risk states that are over: a risk there no longer counts as open.
RISK_DONE_STATES = frozenset({"closed"})


def risk_score(probability: int | None, impact: int | None) -> int | None:
    return probability * impact if probability and impact else None


def risk_level(probability: int | None, impact: int | None) -> RiskLevel | None:
    """The level of a scored risk; ``None`` until both probability and impact are assessed."""
    score = risk_score(probability, impact)
    if score is None:
        return None
    return next(level for floor, level in RISK_LEVELS if score >= floor)


# A customer representative in a project acts with the workflow role `customer`.
WORKFLOW_ROLE_OF: dict[str, str] = {"customer_representative": "customer"}
CUSTOMER_ROLE = "customer"
ADMIN_ROLE = "admin"

# States in which a change request still waits for a decision (see workflows/change-request.yaml).
UNDECIDED_CHANGE_STATES = ("submitted", "under_assessment", "awaiting_decision")
