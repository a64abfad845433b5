"""API tokens and accounts in the domain: a token works until it is revoked or expires or its user
is deactivated; listings never reveal a secret; account changes are validated and audited."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pluggy
import pytest
from sqlalchemy import select

from pmflow.core.database import Database
from pmflow.core.engine import WorkflowEngine
from pmflow.core.errors import InvalidInput, NotFound
from pmflow.core.registry import WorkflowRegistry
from pmflow.core.types import Actor
from pmflow.domain.identity import (
    Accounts,
    authenticate,
    issue_token,
    list_tokens,
    parse_expiry,
    revoke_token,
    user_by_email,
)
from pmflow.domain.services import Domain
from pmflow.domain.tables import api_tokens, field_changes

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SETUP = Actor.system_actor("test")


class Clock:
    """The engine's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed(
    database: Database, registry: WorkflowRegistry, plugins: pluggy.PluginManager, clock: Clock
) -> WorkflowEngine:
    return WorkflowEngine(database, registry, plugins, clock=clock)


@pytest.fixture
def people(timed: WorkflowEngine) -> dict[str, Any]:
    """An admin, a manager and a customer user of Acme (plus the customer Globex)."""
    domain = Domain(timed)
    acme = domain.customers.create(SETUP, {"name": "Acme"})
    globex = domain.customers.create(SETUP, {"name": "Globex"})
    found: dict[str, Any] = {"acme": acme["id"], "globex": globex["id"]}
    for key, role, customer in (("ada", "admin", None), ("mia", "manager", None), ("carl", "customer", acme)):
        row = domain.users.create(
            SETUP,
            {
                "email": f"{key}@example.com",
                "name": key.capitalize(),
                "role": role,
                "customer_id": customer["id"] if customer else None,
            },
        )
        found[key] = row["id"]
    return found


def test_an_issued_token_signs_its_user_in_and_only_its_hash_is_stored(
    timed: WorkflowEngine, people: dict[str, Any]
) -> None:
    issued = issue_token(timed, people["mia"], name="laptop")
    user = authenticate(timed, issued.token)
    assert user is not None and user.id == people["mia"]
    with timed.database.read() as conn:
        stored = conn.execute(select(api_tokens)).one()
    assert issued.token not in {str(v) for v in stored}
    assert stored.prefix == issued.token[:10] and issued.prefix == stored.prefix
    assert authenticate(timed, issued.token + "x") is None
    assert authenticate(timed, "pmf_unknown") is None


def test_listing_shows_metadata_and_status_but_never_the_secret(
    timed: WorkflowEngine, clock: Clock, people: dict[str, Any]
) -> None:
    laptop = issue_token(timed, people["mia"], name="laptop")
    ci = issue_token(timed, people["mia"], name="ci", expires_at=START + timedelta(days=1))
    issue_token(timed, people["carl"], name="portal")
    clock.now = START + timedelta(minutes=5)
    authenticate(timed, laptop.token)

    mine = list_tokens(timed, people["mia"])
    assert [(t.id, t.name, t.user_email) for t in mine] == [
        (laptop.id, "laptop", "mia@example.com"),
        (ci.id, "ci", "mia@example.com"),
    ]
    assert mine[0].last_used_at == clock.now and mine[1].last_used_at is None
    assert mine[1].expires_at == START + timedelta(days=1)
    assert [t.status(clock.now) for t in mine] == ["active", "active"]
    for token in mine:
        shown = " ".join(str(v) for v in asdict(token).values())
        assert laptop.token not in shown and ci.token not in shown and "hash" not in asdict(token)
    assert len(list_tokens(timed)) == 3
    assert list_tokens(timed, 10**6) == []


def test_a_revoked_token_stops_working_at_once_and_cannot_be_revoked_again(
    timed: WorkflowEngine, clock: Clock, people: dict[str, Any]
) -> None:
    issued = issue_token(timed, people["mia"], name="laptop")
    other = issue_token(timed, people["mia"], name="desktop")
    assert authenticate(timed, issued.token) is not None
    clock.now = START + timedelta(hours=1)

    revoked = revoke_token(timed, issued.id)

    assert revoked.revoked_at == clock.now and revoked.status(clock.now) == "revoked"
    assert authenticate(timed, issued.token) is None
    assert authenticate(timed, other.token) is not None  # only that one
    with pytest.raises(InvalidInput, match="already revoked") as again:
        revoke_token(timed, issued.id)
    assert again.value.field == "id"
    with pytest.raises(NotFound, match=f"no token with id {issued.id + 100}"):
        revoke_token(timed, issued.id + 100)


def test_revoking_as_a_user_finds_only_their_own_tokens(
    timed: WorkflowEngine, people: dict[str, Any]
) -> None:
    theirs = issue_token(timed, people["carl"], name="portal")
    with pytest.raises(NotFound) as refused:
        revoke_token(timed, theirs.id, user_id=people["mia"])
    with pytest.raises(NotFound) as unknown:
        revoke_token(timed, theirs.id + 100, user_id=people["mia"])
    # someone else's token reads exactly like one that does not exist (bar the number asked for)
    assert refused.value.message.replace(str(theirs.id), "N") == unknown.value.message.replace(
        str(theirs.id + 100), "N"
    )
    assert authenticate(timed, theirs.token) is not None
    assert revoke_token(timed, theirs.id, user_id=people["carl"]).status(START) == "revoked"


def test_a_token_expires_at_its_expiry(timed: WorkflowEngine, clock: Clock, people: dict[str, Any]) -> None:
    expiry = parse_expiry(clock.now, expires_in="P30D")
    assert expiry == START + timedelta(days=30)
    issued = issue_token(timed, people["mia"], name="month", expires_at=expiry)
    clock.now = START + timedelta(days=30) - timedelta(seconds=1)
    assert authenticate(timed, issued.token) is not None
    clock.now = START + timedelta(days=30)
    assert authenticate(timed, issued.token) is None
    assert list_tokens(timed, people["mia"])[0].status(clock.now) == "expired"


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"expires_in": "P1M"}, "expires_in", "years or months"),
        ({"expires_in": "soon"}, "expires_in", "not an ISO-8601 duration"),
        ({"expires_at": "tomorrow"}, "expires_at", "not an ISO-8601 time"),
        ({"expires_in": "P1D", "expires_at": "2030-01-01"}, "expires_in", "not both"),
    ],
)
def test_bad_expiries_are_refused_naming_the_option(given: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as error:
        parse_expiry(START, **given)
    assert error.value.field == field


def test_an_expiry_time_is_read_as_utc_unless_it_has_an_offset() -> None:
    assert parse_expiry(START, expires_at="2030-01-01T10:00") == datetime(2030, 1, 1, 10, tzinfo=UTC)
    assert parse_expiry(START, expires_at="2030-01-01T10:00+02:00") == datetime(2030, 1, 1, 8, tzinfo=UTC)
    assert parse_expiry(START) is None


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"expires_at": START}, "expires_at", "must be in the future"),
        ({"name": "  "}, "name", "needs a name"),
        ({"name": "x" * 101}, "name", "at most 100"),
    ],
)
def test_issuing_refuses_bad_input_and_writes_nothing(
    timed: WorkflowEngine, people: dict[str, Any], kwargs: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as error:
        issue_token(timed, people["mia"], **kwargs)
    assert error.value.field == field
    with pytest.raises(NotFound, match="no user with id 999999") as unknown:
        issue_token(timed, 999999)
    assert unknown.value.field == "user_id"
    assert list_tokens(timed) == []


def test_a_deactivated_users_tokens_stop_working_and_come_back_on_reactivation(
    timed: WorkflowEngine, clock: Clock, people: dict[str, Any]
) -> None:
    accounts = Accounts(timed)
    ada = SETUP
    issued = issue_token(timed, people["carl"], name="portal")

    row = accounts.deactivate(ada, people["carl"])

    assert row["active"] is False and row["version"] == 2
    assert authenticate(timed, issued.token) is None
    assert list_tokens(timed, people["carl"])[0].status(clock.now) == "user deactivated"
    with pytest.raises(InvalidInput, match="deactivated"):
        issue_token(timed, people["carl"])
    accounts.update(ada, people["carl"], {"active": True})
    assert authenticate(timed, issued.token) is not None
    with timed.database.read() as conn:
        audited = conn.execute(
            select(field_changes.c.field, field_changes.c.new_value)
            .where(field_changes.c.entity == "user", field_changes.c.entity_id == people["carl"])
            .where(field_changes.c.field == "active")
            .order_by(field_changes.c.id)
        ).all()
    assert [a.new_value for a in audited] == [{"value": False}, {"value": True}]


def test_updating_a_user_changes_name_role_and_customer_binding(
    timed: WorkflowEngine, people: dict[str, Any]
) -> None:
    accounts = Accounts(timed)
    row = accounts.update(SETUP, people["carl"], {"name": "Carl Client", "customer_id": people["globex"]})
    assert (row["name"], row["customer_id"]) == ("Carl Client", people["globex"])
    row = accounts.update(SETUP, people["carl"], {"role": "member", "customer_id": None})
    assert (row["role"], row["customer_id"]) == ("member", None)
    row = accounts.update(SETUP, people["mia"], {"email": "Mia.New@example.com"})
    assert user_by_email(timed, "mia.new@EXAMPLE.com").id == people["mia"]


@pytest.mark.parametrize(
    ("who", "change", "field", "message"),
    [
        ("mia", {"role": "owner"}, "role", "'admin', 'manager', 'member' or 'customer'"),
        ("mia", {"role": "customer"}, "customer_id", "must belong to a customer"),
        ("carl", {"role": "member"}, "customer_id", "only customer users belong to a customer"),
        ("mia", {"customer_id": "acme"}, "customer_id", "only customer users"),
        ("carl", {"customer_id": 424242}, "customer_id", "no customer with id 424242"),
        ("mia", {"email": "ADA@example.com"}, "email", "already exists"),
        ("mia", {"email": "not-an-email"}, "email", "email"),
        ("mia", {"name": ""}, "name", "at least 1 character"),
        ("mia", {"active": "no"}, "active", "valid boolean"),
        ("ada", {"active": False}, "active", "last active admin"),
        ("ada", {"role": "manager"}, "role", "last active admin"),
        ("mia", {}, None, "nothing to change"),
        ("mia", {"password": "x"}, "password", "unknown field"),
    ],
)
def test_bad_account_changes_are_refused_naming_the_field_and_change_nothing(
    timed: WorkflowEngine, people: dict[str, Any], who: str, change: dict[str, Any], field: str, message: str
) -> None:
    accounts = Accounts(timed)
    if change.get("customer_id") == "acme":
        change = {"customer_id": people["acme"]}
    with timed.database.read() as conn:
        before = conn.execute(select(field_changes)).all()
    with pytest.raises(InvalidInput, match=message) as error:
        accounts.update(SETUP, people[who], change)
    assert error.value.field == field
    with timed.database.read() as conn:
        assert conn.execute(select(field_changes)).all() == before


def test_an_admin_may_step_down_once_another_admin_exists(
    timed: WorkflowEngine, people: dict[str, Any]
) -> None:
    accounts = Accounts(timed)
    accounts.update(SETUP, people["mia"], {"role": "admin"})
    assert accounts.update(SETUP, people["ada"], {"role": "manager"})["role"] == "manager"
    with pytest.raises(NotFound, match="no user with id 999999"):
        accounts.update(SETUP, 999999, {"name": "x"})


def test_a_user_tied_to_a_customers_contact_keeps_that_customer(
    timed: WorkflowEngine, people: dict[str, Any]
) -> None:
    domain = Domain(timed)
    domain.customers.add_contact(
        SETUP, people["acme"], {"name": "Carl", "email": "carl@acme.example", "user_id": people["carl"]}
    )
    with pytest.raises(InvalidInput, match="unlink the contact first") as error:
        Accounts(timed).update(SETUP, people["carl"], {"customer_id": people["globex"]})
    assert error.value.field == "customer_id"
