"""`pmflow user create` and `pmflow token create|list|revoke` against a real database: the token is
printed alone on the last line and signs in; listings show it without its secret; a revoked token
stops working; mistakes end with a one-line message and exit code 1, never a traceback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from api_helpers import global_id
from pmflow import app as pmflow_app
from pmflow.cli import cli
from pmflow.domain.demo import DemoData, load_demo
from pmflow.domain.identity import authenticate

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
TOKEN = re.compile(r"pmf_[A-Za-z0-9_-]{40,}")


@dataclass
class Setup:
    url: str
    built: pmflow_app.App
    demo: DemoData

    def run(self, *args: str) -> Result:
        result = CliRunner().invoke(
            cli, ["--workflows", str(WORKFLOWS), *args, "--database-url", self.url], catch_exceptions=False
        )
        assert "Traceback" not in result.output
        return result

    def signs_in_as(self, token: str) -> str | None:
        user = authenticate(self.built.engine, token)
        return None if user is None else str(user.email)


@pytest.fixture
def setup(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.delenv("PMFLOW_WORKFLOWS", raising=False)
    monkeypatch.delenv("PMFLOW_DATABASE_URL", raising=False)
    built = pmflow_app.build(database_url=database_url, workflows=[WORKFLOWS])
    try:
        yield Setup(database_url, built, load_demo(built.engine))
    finally:
        built.database.dispose()


def last_line(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout.rstrip("\n").splitlines()[-1]


def test_token_create_prints_a_working_token_alone_on_the_last_line(setup: Setup) -> None:
    result = setup.run("token", "create", "--email", "mia@pmflow.example", "--name", "laptop")
    token = last_line(result)
    assert TOKEN.fullmatch(token)
    assert setup.signs_in_as(token) == "mia@pmflow.example"
    assert "shown only now" in result.stdout and "does not expire" in result.stdout


def test_token_create_by_user_id_with_an_expiry(setup: Setup) -> None:
    ada = setup.demo.users["admin"]
    by_number = last_line(setup.run("token", "create", "--user", str(ada), "--expires-in", "P30D"))
    by_graphql_id = last_line(
        setup.run(
            "token", "create", "--user", global_id("User", ada), "--expires-at", "2099-01-01T12:00:00+01:00"
        )
    )
    assert setup.signs_in_as(by_number) == setup.signs_in_as(by_graphql_id) == "ada@pmflow.example"
    listing = setup.run("token", "list", "--email", "ada@pmflow.example").stdout
    assert "2099-01-01 11:00 UTC" in listing  # the offset is honoured and shown as UTC


def test_token_list_shows_a_readable_table_without_secrets(setup: Setup) -> None:
    laptop = last_line(setup.run("token", "create", "--email", "mia@pmflow.example", "--name", "laptop"))
    portal = last_line(setup.run("token", "create", "--email", "carla@northwind.example", "--name", "portal"))
    setup.signs_in_as(laptop)  # marks it used

    listing = setup.run("token", "list")

    assert listing.exit_code == 0
    lines = listing.stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "USER",
        "NAME",
        "PREFIX",
        "CREATED",
        "EXPIRES",
        "LAST",
        "USED",
        "STATUS",
    ]
    mia = next(line for line in lines if "mia@pmflow.example" in line)
    assert "laptop" in mia and laptop[:10] in mia and mia.endswith("active") and "never" in mia
    assert laptop not in listing.stdout and portal not in listing.stdout
    only_carla = setup.run("token", "list", "--email", "carla@northwind.example").stdout
    assert "portal" in only_carla and "mia@pmflow.example" not in only_carla


def test_token_revoke_makes_the_token_fail(setup: Setup) -> None:
    token = last_line(setup.run("token", "create", "--email", "mia@pmflow.example", "--name", "laptop"))
    token_id = next(
        line.split()[0]
        for line in setup.run("token", "list").stdout.splitlines()
        if "laptop" in line and "mia@" in line
    )

    result = setup.run("token", "revoke", token_id)

    assert result.exit_code == 0, result.output
    assert f"revoked token {token_id} 'laptop' of mia@pmflow.example" in result.stdout
    assert setup.signs_in_as(token) is None
    row = next(line for line in setup.run("token", "list").stdout.splitlines() if "laptop" in line)
    assert row.endswith("revoked")
    again = setup.run("token", "revoke", token_id)
    assert again.exit_code == 1 and "already revoked" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("token", "create", "--email", "nobody@example.com"), "no user with email nobody@example.com"),
        (("token", "list", "--email", "nobody@example.com"), "no user with email nobody@example.com"),
        (("token", "revoke", "424242"), "no token with id 424242"),
        (("token", "create", "--email", "mia@pmflow.example", "--expires-in", "P1M"), "years or months"),
        (("token", "create", "--email", "mia@pmflow.example", "--expires-at", "2001-01-01"), "in the future"),
        (
            ("token", "create", "--email", "mia@pmflow.example", "--expires-at", "soon"),
            "not an ISO-8601 time",
        ),
        (("token", "create", "--user", "424242"), "no user with id 424242"),
        (("user", "create", "--email", "mia@pmflow.example", "--role", "member"), "already exists"),
        (("user", "create", "--email", "x@example.com", "--role", "customer"), "must belong to a customer"),
    ],
)
def test_mistakes_end_with_a_message_and_exit_code_1(
    setup: Setup, args: tuple[str, ...], message: str
) -> None:
    result = setup.run(*args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert not TOKEN.search(result.output)


def test_a_token_for_a_deactivated_user_is_refused(setup: Setup) -> None:
    from pmflow.core.types import Actor
    from pmflow.domain.identity import Accounts

    Accounts(setup.built.engine).deactivate(Actor.system_actor("test"), setup.demo.users["sam"])
    result = setup.run("token", "create", "--email", "sam@pmflow.example")
    assert result.exit_code == 1 and "is deactivated" in result.stderr


def test_user_create_takes_the_customers_graphql_id_and_prints_the_token_last(setup: Setup) -> None:
    northwind = setup.demo.customers["northwind"]
    graphql_id = global_id("Customer", northwind)
    result = setup.run(
        "user", "create", "--email", "nora@northwind.example", "--role", "customer", "--customer", graphql_id
    )
    token = last_line(result)
    assert TOKEN.fullmatch(token)
    assert setup.signs_in_as(token) == "nora@northwind.example"
    user = authenticate(setup.built.engine, token)
    assert user is not None and user.customer_id == northwind
    wrong_kind = setup.run(
        "user", "create", "--email", "x@example.com", "--role", "customer", "--customer", global_id("User", 1)
    )
    assert wrong_kind.exit_code == 2 and "is a User id, expected a Customer id" in wrong_kind.stderr
