"""The schema: queries, mutations and subscriptions of every domain, merged into one."""

from __future__ import annotations

import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.tools import merge_types

from pmflow.api.access import guard_root_fields
from pmflow.api.changes.mutations import ChangeRequestMutation
from pmflow.api.changes.types import ChangeRequest
from pmflow.api.customers.mutations import CustomerMutation
from pmflow.api.customers.types import Contact, Customer, User
from pmflow.api.deliverables.mutations import DeliverableMutation
from pmflow.api.deliverables.types import Deliverable
from pmflow.api.errors import ErrorPolicy
from pmflow.api.fanout import SharedEventExecutor
from pmflow.api.identity.mutations import IdentityMutation
from pmflow.api.identity.types import IdentityQuery
from pmflow.api.iterations.mutations import IterationMutation
from pmflow.api.iterations.types import Iteration, WorkItem
from pmflow.api.limits import Limits, limit_extensions
from pmflow.api.meetings.mutations import MeetingMutation
from pmflow.api.meetings.types import Feedback, Meeting
from pmflow.api.mutations import Mutation as CoreMutation
from pmflow.api.projects.types import Project
from pmflow.api.queries import Query as CoreQuery
from pmflow.api.requirements.types import Requirement
from pmflow.api.risks.mutations import RiskMutation
from pmflow.api.risks.types import Risk
from pmflow.api.subscriptions import Subscription

Query = merge_types("Query", (CoreQuery, IdentityQuery))
Mutation = merge_types(
    "Mutation",
    (
        CoreMutation,
        CustomerMutation,
        ChangeRequestMutation,
        IterationMutation,
        MeetingMutation,
        DeliverableMutation,
        RiskMutation,
        IdentityMutation,
    ),
)

TYPES = [
    Customer,
    Contact,
    User,
    Project,
    Requirement,
    ChangeRequest,
    Iteration,
    WorkItem,
    Deliverable,
    Risk,
    Meeting,
    Feedback,
]


def build_schema(limits: Limits | None = None) -> strawberry.Schema:
    guard_root_fields(("Query", Query), ("Mutation", Mutation))  # who may call what: pmflow.api.access
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=TYPES,
        # Parsing and validating the same documents again costs 3-7 ms a request (docs/performance.md).
        # The limits come first: their parse hook must see ParserCache's too-many-tokens error.
        extensions=[
            *limit_extensions(limits or Limits()),
            ErrorPolicy,
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
        ],
        # One execution per subscription event for all viewers with the same audience.
        execution_context_class=SharedEventExecutor,
    )
