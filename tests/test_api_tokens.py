"""Tokens and accounts through the HTTP API: a new token signs in at once and stops at once when
revoked (HTTP and WebSocket); people see only their own tokens; only admins manage accounts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from api_helpers import Api, codes, global_id, gql, running_api

VIEWER_TOKENS = "{ viewer { email tokens { id name prefix active revokedAt lastUsedAt expiresAt } } }"
CREATE = """
mutation($input: CreateTokenInput!) {
  createToken(input: $input) {
    token
    apiToken { id databaseId name prefix active createdAt expiresAt revokedAt userId }
    errors { code message field }
  }
}"""
CREATE_FOR = """
mutation($input: CreateUserTokenInput!) {
  createUserToken(input: $input) { token apiToken { id userId } errors { code message field } }
}"""
REVOKE = """
mutation($input: RevokeTokenInput!) {
  revokeToken(input: $input) { apiToken { id active revokedAt } errors { code message field } }
}"""
UPDATE_USER = """
mutation($input: UpdateUserInput!) {
  updateUser(input: $input) { user { id name role active customerId } errors { code message field } }
}"""
USERS = """
query($filter: UserFilter, $first: Int = 100) {
  users(filter: $filter, first: $first) { totalCount nodes { email role active } }
}"""
TOKENS_OF = "query($id: ID!) { node(id: $id) { ... on User { email tokens { name } } } }"


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(database_url) as running:
        yield running


def bearer(api: Api, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return gql(api.client, query, variables, token=token, status=None)


def create_token(api: Api, who: str, **given: Any) -> dict[str, Any]:
    result: dict[str, Any] = api.data(CREATE, {"input": {"name": "laptop", **given}}, as_=who)["createToken"]
    return result


def test_a_created_token_signs_in_is_listed_and_stops_working_when_revoked(api: Api) -> None:
    created = create_token(api, "mia", name="laptop")
    assert created["errors"] == []
    token, shown = created["token"], created["apiToken"]
    assert token.startswith("pmf_") and token.startswith(shown["prefix"])
    assert shown["active"] is True and shown["revokedAt"] is None and shown["expiresAt"] is None
    assert shown["userId"] == api.user_id("mia")

    me = bearer(api, token, VIEWER_TOKENS)["data"]["viewer"]
    assert me["email"] == "mia@pmflow.example"
    mine = {t["name"]: t for t in me["tokens"]}
    assert set(mine) == {"test", "laptop"}  # the one the tests signed in with, and the new one
    assert mine["laptop"]["lastUsedAt"] is not None  # it was just used
    assert token not in str(me)

    revoked = api.data(REVOKE, {"input": {"id": shown["id"]}}, as_="mia")["revokeToken"]
    assert revoked["errors"] == [] and revoked["apiToken"]["active"] is False
    assert revoked["apiToken"]["revokedAt"] is not None

    refused = bearer(api, token, VIEWER_TOKENS)
    assert codes(refused) == ["UNAUTHENTICATED"] and refused["data"] is None
    again = api.data(REVOKE, {"input": {"id": shown["id"]}}, as_="mia")["revokeToken"]
    assert (
        again["errors"][0]["code"] == "INVALID_INPUT" and "already revoked" in again["errors"][0]["message"]
    )


def test_a_token_with_an_expiry_reports_it(api: Api) -> None:
    created = create_token(api, "carla", expiresAt="2099-01-01T12:00:00+02:00")
    assert created["apiToken"]["expiresAt"].startswith("2099-01-01T10:00:00")
    assert bearer(api, created["token"], "{ viewer { email } }")["data"]["viewer"]["email"] == (
        "carla@northwind.example"
    )


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt", "must be in the future"),
        ({"name": " "}, "name", "needs a name"),
        ({"name": "x" * 101}, "name", "at most 100"),
    ],
)
def test_bad_token_input_answers_typed_errors(
    api: Api, given: dict[str, Any], field: str, message: str
) -> None:
    created = create_token(api, "mia", **given)
    assert created["token"] is None and created["apiToken"] is None
    [error] = created["errors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", field) and message in error["message"]


def test_revoked_token_is_rejected_at_websocket_connection_init(api: Api) -> None:
    created = create_token(api, "carla")
    api.data(REVOKE, {"input": {"id": created["apiToken"]["id"]}}, as_="carla")
    with api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {created['token']}"}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4403  # graphql-transport-ws: Forbidden


def test_a_valid_token_is_accepted_at_websocket_connection_init(api: Api) -> None:
    created = create_token(api, "carla")
    with api.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {created['token']}"}})
        assert ws.receive_json()["type"] == "connection_ack"


def test_others_tokens_are_neither_visible_nor_revocable_except_for_admins(api: Api) -> None:
    mias = create_token(api, "mia")["apiToken"]["id"]

    for who in ("carla", "ben"):
        seen = api.data(TOKENS_OF, {"id": api.user_id("mia")}, as_=who)["node"]
        assert seen is None or seen["tokens"] is None
    colleague = api.data(TOKENS_OF, {"id": api.user_id("mia")}, as_="ben")["node"]
    assert colleague is None or colleague["tokens"] is None
    assert api.data(TOKENS_OF, {"id": api.user_id("admin")}, as_="mia")["node"]["tokens"] is None

    refused = api.data(REVOKE, {"input": {"id": mias}}, as_="carla")["revokeToken"]
    unknown = api.data(REVOKE, {"input": {"id": global_id("ApiToken", 424242)}}, as_="carla")["revokeToken"]
    assert refused["errors"] == unknown["errors"]  # indistinguishable from an id that does not exist
    assert refused["errors"][0]["code"] == "NOT_FOUND" and refused["apiToken"] is None

    admin_sees = api.data(TOKENS_OF, {"id": api.user_id("mia")}, as_="admin")["node"]["tokens"]
    assert {t["name"] for t in admin_sees} == {"test", "laptop"}
    by_admin = api.data(REVOKE, {"input": {"id": mias}}, as_="admin")["revokeToken"]
    assert by_admin["errors"] == [] and by_admin["apiToken"]["active"] is False


def test_only_admins_issue_tokens_for_others(api: Api) -> None:
    given = {"input": {"userId": api.user_id("ben"), "name": "service"}}
    refused = api.data(CREATE_FOR, given, as_="mia")["createUserToken"]
    assert refused["token"] is None and refused["errors"][0]["code"] == "NOT_ALLOWED"

    issued = api.data(CREATE_FOR, given, as_="admin")["createUserToken"]
    assert issued["errors"] == [] and issued["apiToken"]["userId"] == api.user_id("ben")
    assert (
        bearer(api, issued["token"], "{ viewer { email } }")["data"]["viewer"]["email"]
        == "ben@bluebird.example"
    )


def test_non_admins_cannot_update_users(api: Api) -> None:
    for who in ("mia", "carla"):
        result = api.data(UPDATE_USER, {"input": {"id": api.user_id(who), "role": "admin"}}, as_=who)
        payload = result["updateUser"]
        assert payload["user"] is None and [e["code"] for e in payload["errors"]] == ["NOT_ALLOWED"]
    me = api.data("{ viewer { role } }", as_="mia")["viewer"]
    assert me["role"] == "manager"


def test_an_admin_deactivates_a_user_whose_tokens_then_fail(api: Api) -> None:
    assert api.data("{ viewer { email } }", as_="carla")["viewer"]["email"] == "carla@northwind.example"

    result = api.data(UPDATE_USER, {"input": {"id": api.user_id("carla"), "active": False}})["updateUser"]

    assert result["errors"] == [] and result["user"]["active"] is False
    assert codes(api.gql("{ viewer { email } }", as_="carla", status=None)) == ["UNAUTHENTICATED"]
    back = api.data(UPDATE_USER, {"input": {"id": api.user_id("carla"), "active": True}})["updateUser"]
    assert back["user"]["active"] is True
    assert api.data("{ viewer { email } }", as_="carla")["viewer"]["email"] == "carla@northwind.example"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"role": "owner"}, "role", "'admin', 'manager', 'member' or 'customer'"),
        ({"role": "member"}, "customerId", "only customer users belong to a customer"),
        ({"email": "mia@pmflow.example"}, "email", "already exists"),
        ({"customerId": "bm9wZQ"}, "customerId", "not a pmflow id"),
    ],
)
def test_update_user_refuses_bad_input_naming_the_field(
    api: Api, change: dict[str, Any], field: str, message: str
) -> None:
    result = api.data(UPDATE_USER, {"input": {"id": api.user_id("carla"), **change}})["updateUser"]
    [error] = result["errors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", field) and message in error["message"]
    assert result["user"] is None


def test_an_admin_rebinds_a_user_and_changes_their_role(api: Api) -> None:
    result = api.data(
        UPDATE_USER,
        {"input": {"id": api.user_id("mia"), "name": "Mia Admin", "role": "admin"}},
    )["updateUser"]
    assert result["errors"] == []
    assert (result["user"]["name"], result["user"]["role"]) == ("Mia Admin", "admin")
    # as an admin now, Mia lists the users
    assert api.data(USERS, {"filter": {"role": "admin"}}, as_="mia")["users"]["totalCount"] == 2


def test_users_lists_filters_and_pages_for_admins_only(api: Api) -> None:
    everyone = api.data(USERS, {"first": 100})["users"]
    emails = [u["email"] for u in everyone["nodes"]]
    assert everyone["totalCount"] == len(emails) >= 7 and emails == sorted(emails)

    customers = api.data(USERS, {"filter": {"role": "customer"}})["users"]["nodes"]
    assert {u["email"] for u in customers} == {"carla@northwind.example", "ben@bluebird.example"}
    northwind = api.data(USERS, {"filter": {"customerId": api.customer_id("northwind")}})["users"]["nodes"]
    assert [u["email"] for u in northwind] == ["carla@northwind.example"]
    assert api.data(USERS, {"filter": {"search": "MIA"}})["users"]["totalCount"] == 1
    assert api.data(USERS, {"filter": {"active": False}})["users"]["totalCount"] == 0
    assert len(api.data(USERS, {"first": 2})["users"]["nodes"]) == 2

    for who in ("mia", "carla"):
        refused = api.gql(USERS, as_=who, status=None)
        assert codes(refused) == ["NOT_ALLOWED"] and refused["data"] is None
    assert codes(api.gql(USERS, as_=None, status=None)) == ["UNAUTHENTICATED"]
