"""GraphQL over HTTP at /graphql: status codes and media types (``pmflow.api.http``).

The npm ``graphql-http`` audit suite checks the same against a live server
(``test_http_audit.py``); these pin each behaviour in-process, with the reasons the audit does not
cover (405, 415, 406, GraphiQL, WebSocket).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # starlette >= 1.x suggests httpx2 for its TestClient; httpx is what is installed and works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from pmflow.api.app import Settings, create_app
from pmflow.api.http import GRAPHQL_RESPONSE_JSON, JSON, negotiate

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
URL = "/graphql"
GR_JSON = GRAPHQL_RESPONSE_JSON
PARSE_ERROR = "{"
VALIDATION_ERROR = "{ noSuchField }"
COERCION = "query Node($id: ID!) { node(id: $id) { id } }"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path_factory.mktemp('http') / 'pmflow.db'}"
    with TestClient(create_app(Settings(database_url=url, workflows=WORKFLOWS))) as test_client:
        yield test_client


def post(client: TestClient, body: Any, *, accept: str | None = None, content_type: str | None = JSON) -> Any:
    headers = {}
    if accept is not None:
        headers["accept"] = accept
    if content_type is not None:
        headers["content-type"] = content_type
    content = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, content=content, headers=headers)


def media_type(response: Any) -> str:
    return str(response.headers["content-type"]).split(";")[0]


# ---- content negotiation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        (GR_JSON, GR_JSON),
        (f"{GR_JSON}, application/json;q=0.9", GR_JSON),  # what the spec tells clients to send
        (f"application/json, {GR_JSON}", JSON),  # equal quality: the first listed
        (f"application/json;q=0.5, {GR_JSON}", GR_JSON),
        (f"{GR_JSON}, */*", GR_JSON),  # the explicit range beats the wildcard
        (f"{GR_JSON};q=0, */*", JSON),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", JSON),  # a browser
        ("application/json; charset=utf-8", JSON),
        ("application/json; charset=latin-1", None),
        ("text/html", None),
        ("application/json;q=0", None),
        ("application/xml, text/plain", None),
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_valid_query_answers_application_json(client: TestClient, accept: str | None) -> None:
    response = post(client, {"query": "{ __typename }"}, accept=accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {"data": {"__typename": "Query"}}


def test_valid_query_answers_graphql_response_json(client: TestClient) -> None:
    response = post(client, {"query": "query Q { __typename }", "operationName": "Q"}, accept=GR_JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{GR_JSON}; charset=utf-8"
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("accept", [JSON, GR_JSON])
def test_field_errors_answer_200_with_data(client: TestClient, accept: str) -> None:
    # execution started (anonymous: every field but __typename is UNAUTHENTICATED)
    response = post(client, {"query": "{ __typename viewer { id } }"}, accept=accept)
    assert response.status_code == 200
    assert media_type(response) == accept
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["viewer"]
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "application/json;q=0"])
def test_unsupported_accept_is_406(client: TestClient, accept: str) -> None:
    response = post(client, {"query": "{ __typename }"}, accept=accept)
    assert response.status_code == 406
    assert media_type(response) == JSON
    assert GR_JSON in response.headers["accept"]
    assert "accept" in response.json()["errors"][0]["message"]


# ---- request errors: 200 under application/json, 400 under application/graphql-response+json ----


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"query": PARSE_ERROR}, "Syntax Error"),
        ({"query": VALIDATION_ERROR}, "Cannot query field 'noSuchField'"),
        ({"query": COERCION, "variables": {"id": None}}, "Variable '$id'"),
        ({"query": COERCION, "variables": {}}, "Variable '$id'"),
        ({"query": "query($n: Int) { __typename }", "variables": {"n": "x"}}, "Variable '$n'"),
        ({"query": "query A { __typename }", "operationName": "B"}, 'Unknown operation named "B"'),
        ({"query": 'subscription { events(projectId: "1") { id } }'}, "WebSocket"),
    ],
    ids=["parse", "validation", "null-variable", "missing-variable", "bad-variable", "operation", "sub"],
)
@pytest.mark.parametrize(("accept", "status"), [(JSON, 200), (GR_JSON, 400), (None, 200)])
def test_request_errors(
    client: TestClient, body: dict[str, Any], message: str, accept: str | None, status: int
) -> None:
    response = post(client, body, accept=accept)
    assert response.status_code == status
    assert media_type(response) == (accept or JSON)
    result = response.json()
    assert "data" not in result  # execution never started (GraphQL spec, "Response")
    assert message in result["errors"][0]["message"]


# ---- GET ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [JSON, GR_JSON])
def test_get_query(client: TestClient, accept: str) -> None:
    response = client.get(
        URL,
        params={
            "query": "query T($name: String!) { __type(name: $name) { name } }",
            "variables": '{"name": "Node"}',
        },
        headers={"accept": accept},
    )
    assert response.status_code == 200
    assert media_type(response) == accept
    assert response.json() == {"data": {"__type": {"name": "Node"}}}


def test_get_request_error_under_graphql_response_json(client: TestClient) -> None:
    response = client.get(URL, params={"query": VALIDATION_ERROR}, headers={"accept": GR_JSON})
    assert response.status_code == 400
    assert "data" not in response.json()


@pytest.mark.parametrize("accept", [JSON, GR_JSON, "*/*"])
def test_get_mutation_is_refused_with_405(client: TestClient, accept: str) -> None:
    response = client.get(URL, params={"query": "mutation { __typename }"}, headers={"accept": accept})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert media_type(response) == (JSON if accept == "*/*" else accept)
    assert "POST" in response.json()["errors"][0]["message"]


def test_get_without_query_from_a_browser_renders_graphiql(client: TestClient) -> None:
    response = client.get(URL, headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 200
    assert media_type(response) == "text/html"
    assert "graphiql" in response.text.lower()


def test_get_without_query_is_400(client: TestClient) -> None:
    response = client.get(URL, headers={"accept": JSON})
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "No GraphQL query found in the request"}]}


# ---- malformed requests: 4xx whatever the Accept ---------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/graphql", "application/x-www-form-urlencoded"]
)
def test_unsupported_content_type_is_415(client: TestClient, content_type: str | None) -> None:
    response = post(client, {"query": "{ __typename }"}, content_type=content_type)
    assert response.status_code == 415
    assert media_type(response) == JSON
    assert "application/json" in response.json()["errors"][0]["message"]


def test_json_with_charset_is_accepted(client: TestClient) -> None:
    response = post(client, {"query": "{ __typename }"}, content_type="application/json; charset=UTF-8")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        "{ not json",
        "",
        '"a string"',
        "42",
        "null",
        {"notquery": "{ __typename }"},
        {"query": 42},
        {"query": "{ __typename }", "variables": "x"},
        {"query": "{ __typename }", "variables": [1]},
        {"query": "{ __typename }", "operationName": 1},
        {"query": "{ __typename }", "extensions": False},
    ],
)
@pytest.mark.parametrize("accept", [JSON, GR_JSON])
def test_bad_request_is_400(client: TestClient, body: Any, accept: str) -> None:
    response = post(client, body, accept=accept)
    assert response.status_code == 400
    assert media_type(response) == accept
    assert response.json()["errors"][0]["message"]


def test_other_methods_are_405(client: TestClient) -> None:
    assert client.put(URL, content=b"{}").status_code == 405


# ---- WebSocket still served ------------------------------------------------------------------------


def test_websocket_subscriptions_still_served(client: TestClient) -> None:
    with client.websocket_connect(URL, subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"
