"""Who hears what: the defaults by role, overridden by preference rules (docs/plugins.md, "Who hears what").

A rule (``notification_preferences``) names a channel (``in_app`` or ``email``), an event type or ``*``,
and optionally a user, a role and a project; it applies to a recipient when every field it names
matches. Of the rules that apply, the most specific wins, compared in this order: a user's own rule
over a role's over everyone's; then a project's over all projects'; then an exact event type over
``*``; the newest breaks a tie. Without a rule, the default: a user hears the event when the shared
map (``pmflow.plugins.channels.NOTIFIED``) names their audience for it (customer users and contacts:
``customer``; everyone else: ``team``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, or_, select

from pmflow.domain import tables as t
from pmflow.plugins.channels import ALL_EVENTS, CUSTOMER, NOTIFIED, TEAM

IN_APP, EMAIL = "in_app", "email"
CHANNELS = (IN_APP, EMAIL)
CUSTOMER_ROLE = "customer"


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    user_id: int | None
    role: str | None
    project_id: int | None
    event_type: str
    enabled: bool

    def applies(self, user_id: int | None, role: str, project_id: int | None, event_type: str) -> bool:
        return (
            (self.user_id is None or self.user_id == user_id)
            and (self.role is None or self.role == role)
            and (self.project_id is None or self.project_id == project_id)
            and self.event_type in (ALL_EVENTS, event_type)
        )

    def specificity(self) -> tuple[bool, bool, bool, bool, int]:
        exact = self.event_type != ALL_EVENTS
        return (self.user_id is not None, self.role is not None, self.project_id is not None, exact, self.id)


def audience(role: str) -> str:
    return CUSTOMER if role == CUSTOMER_ROLE else TEAM


def default(role: str, event_type: str) -> bool:
    entry = NOTIFIED.get(event_type)
    return entry is not None and audience(role) in entry[1]


def decide(
    rules: Iterable[Rule],
    *,
    user_id: int | None,
    role: str,
    project_id: int | None,
    event_type: str,
    otherwise: bool | None = None,
) -> bool:
    """Whether this recipient hears this event on the rules' channel. Without a rule that applies:
    ``otherwise`` when given (a message meant for this recipient), else the defaults by role."""
    applying = [rule for rule in rules if rule.applies(user_id, role, project_id, event_type)]
    if not applying:
        return default(role, event_type) if otherwise is None else otherwise
    return max(applying, key=Rule.specificity).enabled


def rules_for(
    connection: Connection, channel: str, user_ids: Sequence[int], project_id: int | None
) -> list[Rule]:
    """The rules of ``channel`` that may apply to these users in this project (one query)."""
    p = t.notification_preferences
    query = select(p).where(
        p.c.channel == channel,
        or_(p.c.user_id.is_(None), p.c.user_id.in_(list(user_ids))),
        or_(p.c.project_id.is_(None), p.c.project_id == project_id),
    )
    return [
        Rule(
            id=int(row.id),
            user_id=None if row.user_id is None else int(row.user_id),
            role=row.role,
            project_id=None if row.project_id is None else int(row.project_id),
            event_type=str(row.event_type),
            enabled=bool(row.enabled),
        )
        for row in connection.execute(query)
    ]


def email_wanted(
    connection: Connection, project_id: int, event_type: str, email: str, *, otherwise: bool | None = None
) -> bool:
    """Whether the mail to ``email`` is wanted: a user account with that email decides by its own rules
    and role; a contact without an account is a customer, decided by the role and everyone's rules
    (``otherwise`` as for ``decide``)."""
    user = connection.execute(
        select(t.users.c.id, t.users.c.role).where(func.lower(t.users.c.email) == email.lower())
    ).first()
    user_id, role = (None, CUSTOMER_ROLE) if user is None else (int(user.id), str(user.role))
    rules = rules_for(connection, EMAIL, [] if user_id is None else [user_id], project_id)
    return decide(
        rules, user_id=user_id, role=role, project_id=project_id, event_type=event_type, otherwise=otherwise
    )
