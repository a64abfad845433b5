"""Who may see and do what in the GraphQL API: the one declaration, and the checks it drives.

Three things are declared here and nowhere else (docs/security.md mirrors them, tests enforce them):

- ``ROOT_RULES``: a rule per root field of Query, Mutation and Subscription. A field extension added
  to every Query and Mutation field at schema build (``guard_root_fields``) checks it before the
  resolver runs; a field without a rule is refused (fail closed), and the matrix test names it.
- Project visibility (``may_see_project``, ``project_clause``): admins and managers see every project,
  members the projects they are members of, customer users their own customer's projects. Anything in
  a project is visible exactly when its project is; what is not visible answers as if it did not exist.
- ``INTERNAL``: fields that are the team's business. For a customer user they answer ``null`` (each
  is nullable and its description says "Team only"); the team sees them.

Visibility of fields depends on the viewer's role and customer only (``Context.audience``), never on
finer facts, so that a shared subscription execution (``pmflow.api.fanout``) stays correct.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlalchemy import ColumnElement, select
from strawberry.extensions.field_extension import FieldExtension
from strawberry.types.base import has_object_definition
from strawberry.utils.str_converters import to_camel_case

from pmflow.api.errors import Error, Unauthenticated
from pmflow.core.errors import NotAllowed, PmflowError
from pmflow.domain import tables as t
from pmflow.domain.vocabulary import ADMIN_ROLE, CUSTOMER_ROLE

if TYPE_CHECKING:
    from pmflow.api.context import Context, Info

T = TypeVar("T")

Rule = Literal["public", "signed_in", "team", "manager", "admin", "project_party"]

RULE_MEANING: dict[Rule, str] = {
    "public": "anyone, signed in or not",
    "signed_in": "any signed-in user; what they get is limited to what they may see",
    "team": "admins, managers and members (not customer users); project-scoped objects must be visible",
    "manager": "admins and managers",
    "admin": "admins only",
    "project_party": "anyone who may see the project the input names (team with access, its customer)",
}

MANAGER_ROLE = "manager"
MEMBER_ROLE = "member"
TEAM_ROLES = frozenset({ADMIN_ROLE, MANAGER_ROLE, MEMBER_ROLE})
SEES_ALL_PROJECTS = frozenset({ADMIN_ROLE, MANAGER_ROLE})

ROOT_RULES: dict[str, dict[str, Rule]] = {
    "Query": {
        "viewer": "signed_in",
        "node": "signed_in",
        "nodes": "signed_in",
        "projects": "signed_in",
        "customers": "signed_in",
        "workflows": "signed_in",
        "users": "admin",  # the user directory (tokens and users work)
        "webhooks": "admin",  # notifications: webhooks and the outbox delivery log
        "deliveries": "admin",
        # the in-app channel: one's own notifications and preferences only (checked in the resolvers)
        "notifications": "signed_in",
        "unreadNotificationCount": "signed_in",
        "notificationPreferences": "signed_in",
        # surveys: the form behind a mailed one-time token needs no account (the token is the key);
        # a project's surveys for whoever sees the project (answers team only); results for the team
        "surveyInvitation": "public",
        "pendingSurveys": "signed_in",
        "surveys": "project_party",
        "surveyResults": "team",
    },
    "Mutation": {
        # The engine then checks the workflow's `roles:` for the trigger (customer triggers included).
        "fireTransition": "project_party",
        "createCustomer": "manager",
        "addContact": "manager",
        "createProject": "manager",
        "updateProject": "manager",
        "addProjectMember": "manager",
        # Customers write down their needs and change wishes; the team researches and assesses them.
        "createRequirement": "project_party",
        "updateRequirement": "project_party",
        "createChangeRequest": "project_party",
        "assessChangeRequest": "team",
        "planIteration": "team",
        "updateIteration": "team",
        "createWorkItem": "team",
        "updateWorkItem": "team",
        "recordMeeting": "team",
        # A customer user records feedback only as themselves (checked in the resolver).
        "recordFeedback": "project_party",
        "createDeliverable": "team",
        "updateDeliverable": "team",
        "createRisk": "team",
        "updateRisk": "team",
        "createUser": "admin",
        # Tokens and users: one's own tokens for everyone; other people's accounts for admins.
        "createToken": "signed_in",
        "revokeToken": "signed_in",
        "updateUser": "admin",
        "createUserToken": "admin",
        # Webhooks see every project's events: an admin's decision (docs/api.md, "Webhooks").
        "createWebhook": "admin",
        "deleteWebhook": "admin",
        "retryDelivery": "admin",
        "markNotificationsRead": "signed_in",
        "setNotificationPreference": "signed_in",
        # with a token no account is needed; by surveyId only an invited contact's own user (resolver)
        "answerSurvey": "public",
    },
    "Subscription": {
        "events": "project_party",  # checked once, when the subscription starts
        "notifications": "signed_in",  # the viewer's own, of projects they may see
    },
}


# ---- who the viewer is ------------------------------------------------------------------------


def role_of(context: Context) -> str:
    """The viewer's organisation role, or ``anonymous``."""
    return "anonymous" if context.user is None else str(context.user.role)


def refusal(rule: Rule, context: Context) -> PmflowError | None:
    """Why ``rule`` refuses the viewer, or None when it lets them through."""
    if rule == "public":
        return None
    role = role_of(context)
    if role == "anonymous":
        return Unauthenticated()
    if rule in ("signed_in", "project_party"):
        return None
    if rule == "team" and role not in TEAM_ROLES:
        return NotAllowed("this is for the project team, not for customer contacts")
    if rule == "manager" and role not in SEES_ALL_PROJECTS:
        return NotAllowed("this is for the team's managers and admins")
    if rule == "admin" and role != ADMIN_ROLE:
        return NotAllowed("only an admin may do this")
    return None


# ---- project visibility -----------------------------------------------------------------------


async def _member_of(context: Context) -> set[int]:
    assert context.user is not None
    rows = await context.loaders.by_column(t.memberships, "user_id").load(context.user.id)
    return {int(row.project_id) for row in rows}


async def may_see_project(context: Context, project: Any) -> bool:
    """Admins and managers see every project, members theirs, customer users their customer's."""
    role = role_of(context)
    if role == "anonymous":
        raise Unauthenticated()
    if role in SEES_ALL_PROJECTS:
        return True
    if role == CUSTOMER_ROLE:
        return bool(project.customer_id == context.customer_id)
    return int(project.id) in await _member_of(context)


def project_clause(context: Context) -> ColumnElement[bool] | None:
    """The same rule as a condition on ``projects`` for listings (None: every project)."""
    role = role_of(context)
    if role == "anonymous":
        raise Unauthenticated()
    if role in SEES_ALL_PROJECTS:
        return None
    if role == CUSTOMER_ROLE:
        return t.projects.c.customer_id == context.customer_id
    assert context.user is not None
    mine = select(t.memberships.c.project_id).where(t.memberships.c.user_id == context.user.id)
    return t.projects.c.id.in_(mine)


def may_see_customer(context: Context, customer_id: int) -> bool:
    """The team sees every customer (and their contacts); a customer user only their own."""
    if context.user is None:
        raise Unauthenticated()
    own = context.customer_id
    return own is None or own == customer_id


def may_see_feedback(context: Context, row: Any) -> bool:
    """Feedback a survey's low score raised quotes one contact's answer: the team's to act on, not
    for the contact's colleagues (``Project.feedback``, ``node``, the progress report). Other feedback
    is visible with its project."""
    return row.survey_id is None or context.customer_id is None


def may_see_user(context: Context, user: Any) -> bool:
    """The team sees every account; a customer user sees themselves, their colleagues and the team's
    accounts (whose contact details are internal, see ``INTERNAL``), never another customer's."""
    if context.user is None:
        raise Unauthenticated()
    own = context.customer_id
    return own is None or user.customer_id is None or user.customer_id == own


# ---- internal fields --------------------------------------------------------------------------

TEAM_MEETING_KINDS = ("daily_standup", "retrospective")
TEAM_ONLY = "Team only: null for customer users."


def team_only(description: str = "", *, when: str | None = None) -> str:
    """A field description marked the way docs/security.md and the tests recognise."""
    if when is not None:
        return f"{description} Team only when {when}: null for customer users then.".strip()
    return f"{description} {TEAM_ONLY}".strip()


def _always(context: Context, obj: Any) -> bool:
    return True


def _not_their_colleague(context: Context, user: Any) -> bool:
    return bool(user._customer_pk != context.customer_id)


def _team_meeting(context: Context, meeting: Any) -> bool:
    return meeting.kind in TEAM_MEETING_KINDS


def _risk_event(context: Context, event: Any) -> bool:
    return bool(event._subject_type == "Risk")


@dataclass(frozen=True)
class Internal:
    """Fields of one type a customer user gets as null, on the objects ``applies`` picks."""

    fields: tuple[str, ...]  # Python attribute names; GraphQL names are their camelCase
    why: str
    when: str = "always"
    applies: Callable[[Context, Any], bool] = _always

    @property
    def graphql_fields(self) -> tuple[str, ...]:
        return tuple(to_camel_case(name) for name in self.fields)


INTERNAL: dict[str, Internal] = {
    "Risk": Internal(
        ("owner_id", "mitigation_plan", "contingency_plan", "early_warning_indicator"),
        "risk notes: who handles a risk and how is the team's plan",
    ),
    "Deliverable": Internal(("qa_checklist",), "internal QA before the customer sees the deliverable"),
    "WorkItem": Internal(("assignee_id", "estimate"), "workload and estimates per team member"),
    "Meeting": Internal(
        ("notes", "decisions"),
        "what the team says among itself",
        when="kind is " + " or ".join(TEAM_MEETING_KINDS),
        applies=_team_meeting,
    ),
    "User": Internal(
        ("email", "active"),
        "contact details and status of accounts outside the customer's own organisation",
        when="the account is not of the viewer's customer",
        applies=_not_their_colleague,
    ),
    "Survey": Internal(("responses",), "what each contact answered: the team's to act on"),
    "HistoryEvent": Internal(
        ("comment", "payload"),
        "risk notes written while moving a risk through its lifecycle",
        when="the event is a Risk's",
        applies=_risk_event,
    ),
    "Project": Internal(
        ("health", "health_history"),
        "the team's reading of the project's dangers: it names risks, blocked work and the customer's delays",
    ),
}
"""Besides these fields, ``Project.progressReport`` leaves out risk owners and mitigation for customers."""


def hides(context: Context, type_name: str, obj: Any) -> bool:
    """Whether ``obj``'s internal fields are hidden from this viewer."""
    rule = INTERNAL.get(type_name)
    return rule is not None and context.customer_id is not None and rule.applies(context, obj)


def without_internal(obj: T, context: Context) -> T:
    """``obj`` with its internal fields set to None when the viewer is a customer user (built per
    request, never shared between viewers)."""
    type_name = type(obj).__name__
    if hides(context, type_name, obj):
        for name in INTERNAL[type_name].fields:
            setattr(obj, name, None)
    return obj


# ---- enforcing the root rules -----------------------------------------------------------------


def _refused_payload(payload_type: Any, error: PmflowError) -> Any:
    """The mutation's payload with the refusal as its only error and nothing else."""
    values: dict[str, Any] = {f.name: None for f in dataclasses.fields(payload_type) if f.init}
    values["errors"] = [Error.of(error)]
    return payload_type(**values)


class AccessRule(FieldExtension):
    """Checks a root field's declared rule before its resolver. Queries raise the refusal (a
    top-level error with ``extensions.code``); mutations answer their payload with ``errors``."""

    def __init__(self, parent: str, name: str, rule: Rule | None = None) -> None:
        self.parent = parent
        self.name = name
        # A plugin's field brings its own rule (pmflow_graphql_types); the built-in ones are in ROOT_RULES.
        self.rule: Rule | None = rule if rule is not None else ROOT_RULES.get(parent, {}).get(name)
        self.payload_type: Any = None

    def apply(self, field: Any) -> None:
        if self.parent == "Mutation":
            self.payload_type = field.type

    def _refusal(self, info: Info) -> PmflowError | None:
        if self.rule is None:  # fail closed: the matrix test names the field without a rule
            return NotAllowed(f"no access rule is declared for {self.parent}.{self.name}")
        return refusal(self.rule, info.context)

    def _refuse(self, error: PmflowError) -> Any:
        if self.payload_type is not None and has_object_definition(self.payload_type):
            return _refused_payload(self.payload_type, error)
        raise error

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        error = self._refusal(info)
        if error is not None:
            return self._refuse(error)
        return next_(source, info, **kwargs)

    async def resolve_async(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        error = self._refusal(info)
        if error is not None:
            return self._refuse(error)
        return await next_(source, info, **kwargs)


def guard_root_fields(
    *roots: tuple[str, type], rules: Mapping[str, Mapping[str, Rule]] | None = None
) -> None:
    """Put the ``AccessRule`` of its declared rule on every field of the given root types (once);
    ``rules`` (root -> field -> rule) declares the plugins' fields."""
    for parent, root in roots:
        extra = (rules or {}).get(parent, {})
        for field in root.__strawberry_definition__.fields:  # type: ignore[attr-defined]
            if not any(isinstance(e, AccessRule) for e in field.extensions):
                name = field.graphql_name or to_camel_case(field.name)
                field.extensions.append(AccessRule(parent, name, extra.get(name)))
