"""Reading through the GraphQL API: viewer, Relay nodes and connections, filters and ordering,
Governed fields, workflows, progress reports, and what customers and anonymous callers may see.

Every test runs the real app over HTTP (starlette's TestClient, lifespan included) on the demo data,
on SQLite and, with PMFLOW_TEST_DATABASE_URL set, PostgreSQL.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from api_helpers import (
    GOVERNED_TYPES,
    NODE_TYPES,
    Api,
    codes,
    data_of,
    global_id,
    gql,
    ids_in_project,
    running_api,
)


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_api(database_url) as running:
        yield running


PROJECT_NAMES = ["Customer portal", "Fleet tracking app", "Patient scheduling"]


def names(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["name"] for edge in connection["edges"]]


def add_projects(api: Api, count: int, *, customer: str = "northwind", prefix: str = "Extra") -> list[int]:
    """More projects through the domain services (as Mia), named ``<prefix> 01`` onwards."""
    mia = api.actor("mia")
    return [
        int(
            api.domain.projects.create(
                mia, {"customer_id": api.demo.customers[customer], "name": f"{prefix} {i:02d}"}
            )["id"]
        )
        for i in range(1, count + 1)
    ]


# ---- viewer ---------------------------------------------------------------------------------------


VIEWER = "{ viewer { id databaseId name email role active customerId customer { id name } } }"


def test_viewer_is_the_signed_in_person(api: Api) -> None:
    viewer = api.data(VIEWER, as_="mia")["viewer"]
    assert viewer["id"] == api.user_id("mia")
    assert viewer["databaseId"] == api.demo.users["mia"]
    assert (viewer["name"], viewer["email"], viewer["role"]) == (
        "Mia Manager",
        "mia@pmflow.example",
        "manager",
    )
    assert viewer["active"] is True
    assert viewer["customerId"] is None and viewer["customer"] is None


def test_viewer_of_a_customer_user_names_their_customer(api: Api) -> None:
    viewer = api.data(VIEWER, as_="carla")["viewer"]
    assert viewer["role"] == "customer"
    assert viewer["customerId"] == api.customer_id("northwind")
    assert viewer["customer"] == {"id": api.customer_id("northwind"), "name": "Northwind Logistics"}


# ---- projects: the connection and paging ----------------------------------------------------------------


PAGE = """
query Page($first: Int, $after: String, $last: Int, $before: String) {
  projects(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name } }
  }
}
"""


def test_projects_connection_has_total_count_page_info_and_edges(api: Api) -> None:
    projects = api.data(PAGE, {"first": 10})["projects"]
    assert projects["totalCount"] == 3
    assert names(projects) == PROJECT_NAMES  # default order: created first
    info = projects["pageInfo"]
    assert info["hasNextPage"] is False and info["hasPreviousPage"] is False
    assert info["startCursor"] == projects["edges"][0]["cursor"]
    assert info["endCursor"] == projects["edges"][-1]["cursor"]
    assert len({edge["cursor"] for edge in projects["edges"]}) == 3
    assert projects["edges"][0]["node"]["id"] == api.project_id("portal")


def test_walk_all_pages_forward_with_first_and_after(api: Api) -> None:
    add_projects(api, 8)  # 11 projects
    everything = names(api.data(PAGE, {"first": 100})["projects"])
    assert len(everything) == 11

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        projects = api.data(PAGE, {"first": 3, "after": after})["projects"]
        pages += 1
        assert projects["totalCount"] == 11
        assert len(projects["edges"]) <= 3
        seen += names(projects)
        info = projects["pageInfo"]
        assert info["hasPreviousPage"] is (after is not None)
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
        assert pages < 10, "paging does not end"
    assert pages == 4
    assert seen == everything


def test_walk_all_pages_backward_with_last_and_before(api: Api) -> None:
    add_projects(api, 8)
    everything = names(api.data(PAGE, {"first": 100})["projects"])

    seen: list[str] = []
    before = None
    pages = 0
    while True:
        projects = api.data(PAGE, {"last": 4, "before": before})["projects"]
        pages += 1
        seen = names(projects) + seen
        info = projects["pageInfo"]
        assert info["hasNextPage"] is (before is not None)
        if not info["hasPreviousPage"]:
            break
        before = info["startCursor"]
        assert pages < 10, "paging does not end"
    assert pages == 3
    assert seen == everything


def test_cursors_of_one_page_continue_the_next(api: Api) -> None:
    first = api.data(PAGE, {"first": 2})["projects"]
    rest = api.data(PAGE, {"first": 2, "after": first["edges"][0]["cursor"]})["projects"]
    assert names(rest) == PROJECT_NAMES[1:3]
    back = api.data(PAGE, {"last": 1, "before": rest["edges"][-1]["cursor"]})["projects"]
    assert names(back) == PROJECT_NAMES[1:2]


def test_last_alone_gives_the_end_of_the_list(api: Api) -> None:
    projects = api.data(PAGE, {"last": 2})["projects"]
    assert names(projects) == PROJECT_NAMES[1:]
    assert projects["pageInfo"]["hasPreviousPage"] is True
    assert projects["pageInfo"]["hasNextPage"] is False


def test_page_size_above_100_and_bad_cursors_are_refused_clearly(api: Api, subtests: pytest.Subtests) -> None:
    for variables, field in (
        ({"first": 101}, "first"),
        ({"last": 101}, "last"),
        ({"first": -1}, "first"),
        ({"first": 10, "after": "not-a-cursor"}, "after"),
        ({"last": 10, "before": "bm9wZQ"}, "before"),
    ):
        with subtests.test(variables=variables):
            result = api.gql(PAGE, variables)
            assert codes(result) == ["INVALID_INPUT"]
            error = result["errors"][0]
            assert error["extensions"]["field"] == field
            assert error["path"] == ["projects"]
            if variables.get("first") == 101:
                assert "100" in error["message"] and "101" in error["message"]
            assert "Unexpected error" not in error["message"]
            assert result["data"] is None


def test_exactly_100_is_fine(api: Api) -> None:
    assert api.data(PAGE, {"first": 100})["projects"]["totalCount"] == 3


# ---- projects: filters and ordering ---------------------------------------------------------------------


FILTERED = """
query Filtered($filter: ProjectFilter, $orderBy: ProjectOrder) {
  projects(filter: $filter, orderBy: $orderBy, first: 100) {
    totalCount
    edges { node { name state startDate targetDate customer { name } } }
  }
}
"""


def filtered(
    api: Api, filter: dict[str, Any] | None = None, order: dict[str, Any] | None = None, **kw: Any
) -> Any:
    return api.data(FILTERED, {"filter": filter, "orderBy": order}, **kw)["projects"]


def test_filter_by_state(api: Api, subtests: pytest.Subtests) -> None:
    for states, expected in (
        (["requirements"], ["Fleet tracking app"]),  # a parent state matches its nested states
        (["requirements.confirmation"], ["Fleet tracking app"]),
        (["requirements.research"], []),
        (["execution", "maintenance"], ["Customer portal", "Patient scheduling"]),
        (["delivery"], []),
        (["require"], []),  # a prefix of a name is not a parent state
    ):
        with subtests.test(states=states):
            projects = filtered(api, {"state": states})
            assert names(projects) == expected
            assert projects["totalCount"] == len(expected)


def test_filter_by_customer(api: Api) -> None:
    northwind = filtered(api, {"customerId": api.customer_id("northwind")})
    assert names(northwind) == ["Customer portal", "Fleet tracking app"]
    assert {e["node"]["customer"]["name"] for e in northwind["edges"]} == {"Northwind Logistics"}
    assert names(filtered(api, {"customerId": api.customer_id("bluebird")})) == ["Patient scheduling"]


def test_filter_by_customer_with_an_id_of_another_type_is_invalid_input(api: Api) -> None:
    result = api.gql(FILTERED, {"filter": {"customerId": api.project_id("portal")}})
    assert codes(result) == ["INVALID_INPUT"]
    assert result["errors"][0]["extensions"]["field"] == "filter.customerId"


def test_filter_by_text_search(api: Api, subtests: pytest.Subtests) -> None:
    for search, expected in (
        ("portal", ["Customer portal"]),
        ("PORTAL", ["Customer portal"]),
        ("t", PROJECT_NAMES),
        ("app", ["Fleet tracking app"]),
        ("nothing like it", []),
        ("%", []),  # LIKE wildcards are searched for literally
        ("_", []),
    ):
        with subtests.test(search=search):
            assert names(filtered(api, {"search": search})) == expected


def test_filter_by_date_ranges(api: Api) -> None:
    every = filtered(api)["edges"]
    starts = sorted({e["node"]["startDate"] for e in every})
    targets = sorted({e["node"]["targetDate"] for e in every})
    assert len(starts) >= 2 and len(targets) == 3, "the demo data spreads its dates"

    def expect(key: str, low: str | None, high: str | None) -> list[str]:
        return [
            e["node"]["name"]
            for e in every
            if (low is None or e["node"][key] >= low) and (high is None or e["node"][key] <= high)
        ]

    for key, low, high in (
        ("startDate", starts[-1], None),
        ("startDate", None, starts[0]),
        ("startDate", starts[0], starts[0]),
        ("targetDate", targets[1], None),
        ("targetDate", None, targets[1]),
        ("targetDate", targets[1], targets[1]),
        ("targetDate", targets[2], targets[0]),  # an empty range
    ):
        given: dict[str, Any] = {}
        if low is not None:
            given[f"{key}From"] = low
        if high is not None:
            given[f"{key}To"] = high
        got = names(filtered(api, given))
        assert got == expect(key, low, high), (given, got)
    assert names(filtered(api, {"targetDateFrom": targets[1], "targetDateTo": targets[1]})) == [
        e["node"]["name"] for e in every if e["node"]["targetDate"] == targets[1]
    ]


def test_filters_combine(api: Api) -> None:
    given = {"customerId": api.customer_id("northwind"), "state": ["execution", "maintenance"]}
    assert names(filtered(api, given)) == ["Customer portal"]
    given = {"customerId": api.customer_id("northwind"), "search": "scheduling"}
    assert names(filtered(api, given)) == []


def test_a_bad_date_in_a_filter_is_a_clear_error_not_a_500(api: Api) -> None:
    result = api.gql(FILTERED, {"filter": {"startDateFrom": "next tuesday"}}, status=None)
    assert result.get("data") is None
    assert result["errors"] and "Unexpected error" not in result["errors"][0]["message"]


def test_order_by(api: Api) -> None:
    every = filtered(api)["edges"]
    by_name = sorted(PROJECT_NAMES)
    assert names(filtered(api, order={"field": "NAME"})) == by_name
    assert names(filtered(api, order={"field": "NAME", "direction": "DESC"})) == by_name[::-1]
    by_target = [e["node"]["name"] for e in sorted(every, key=lambda e: e["node"]["targetDate"])]
    assert names(filtered(api, order={"field": "TARGET_DATE", "direction": "ASC"})) == by_target
    assert names(filtered(api, order={"field": "TARGET_DATE", "direction": "DESC"})) == by_target[::-1]
    assert names(filtered(api, order={"field": "CREATED_AT"})) == PROJECT_NAMES
    assert names(filtered(api, order={"field": "CREATED_AT", "direction": "DESC"})) == PROJECT_NAMES[::-1]


def test_order_and_paging_work_together(api: Api) -> None:
    add_projects(api, 4, prefix="Alpha")
    order = {"field": "NAME", "direction": "DESC"}
    query = """
    query($after: String, $orderBy: ProjectOrder) {
      projects(first: 2, after: $after, orderBy: $orderBy) {
        pageInfo { hasNextPage endCursor } edges { node { name } }
      }
    }"""
    seen: list[str] = []
    after = None
    while True:
        projects = api.data(query, {"after": after, "orderBy": order})["projects"]
        seen += names(projects)
        if not projects["pageInfo"]["hasNextPage"]:
            break
        after = projects["pageInfo"]["endCursor"]
    assert seen == sorted([*PROJECT_NAMES, "Alpha 01", "Alpha 02", "Alpha 03", "Alpha 04"], reverse=True)


# ---- node and nodes -------------------------------------------------------------------------------------


def one_of_each(api: Api) -> dict[str, str]:
    """One global id per node type, from the demo projects."""
    found: dict[str, str] = {}
    for key in ("portal", "scheduling"):
        for type_name, ids in ids_in_project(api, key).items():
            if ids and type_name not in found:
                found[type_name] = ids[0]
    assert set(found) == set(NODE_TYPES)
    return found


NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename
    id
    ... on Governed { state stateLabel version workflow { name version } }
  }
}
"""


def test_node_finds_every_type(api: Api, subtests: pytest.Subtests) -> None:
    for type_name, gid in one_of_each(api).items():
        with subtests.test(type=type_name):
            node = api.data(NODE, {"id": gid})["node"]
            assert node["__typename"] == type_name
            assert node["id"] == gid
            if type_name in GOVERNED_TYPES:
                assert node["state"] and node["stateLabel"] and node["version"] >= 1
                assert node["workflow"]["version"] == 1
            else:
                assert "state" not in node


def test_nodes_answers_in_order_with_null_for_the_unknown(api: Api) -> None:
    each = one_of_each(api)
    ids = [each[t] for t in NODE_TYPES]
    missing = global_id("Project", 999_999)
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
    got = api.data(query, {"ids": [*ids[::-1], missing, ids[0]]})["nodes"]
    assert [n["__typename"] for n in got[: len(ids)]] == list(NODE_TYPES[::-1])
    assert [n["id"] for n in got[: len(ids)]] == ids[::-1]
    assert got[len(ids)] is None
    assert got[-1]["id"] == ids[0]
    assert api.data(query, {"ids": []})["nodes"] == []


def test_nodes_refuses_more_than_100_ids(api: Api) -> None:
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    result = api.gql(query, {"ids": [api.project_id("portal")] * 101})
    assert codes(result) == ["INVALID_INPUT"]
    assert result["errors"][0]["extensions"]["field"] == "ids"


def test_node_fields_match_the_project_list(api: Api) -> None:
    query = """
    query($id: ID!) {
      node(id: $id) { ... on Project { id name goal scope startDate targetDate milestones { name due }
                                      customFields customer { name } members { role user { name } } } }
    }"""
    project = api.data(query, {"id": api.project_id("portal")})["node"]
    assert project["name"] == "Customer portal"
    assert project["customFields"] == {"budget": 180000, "contract_reference": "NW-2026-014"}
    assert [m["name"] for m in project["milestones"]] == ["Beta for 20 customers", "Go-live"]
    assert project["customer"]["name"] == "Northwind Logistics"
    roles = {m["user"]["name"]: m["role"] for m in project["members"]}
    assert roles["Carla Northwind"] == "customer_representative"
    assert roles["Tess Tester"] == "tester"


MALFORMED_IDS = (
    "",
    "garbage",
    "!!not base64!!",
    base64.urlsafe_b64encode(b"Project").decode(),
    base64.urlsafe_b64encode(b"Project:abc").decode(),
    base64.urlsafe_b64encode(b"Project:-1").decode(),
    base64.urlsafe_b64encode(b"Spaceship:1").decode(),
    base64.urlsafe_b64encode(b"\xff\xfe:1").decode(),
    "UHJvamVjdDox" * 200,
)


def test_a_malformed_global_id_gives_null_from_node(api: Api, subtests: pytest.Subtests) -> None:
    for bad in MALFORMED_IDS:
        with subtests.test(id=bad[:40]):
            assert api.gql(NODE, {"id": bad}) == {"data": {"node": None}}
            assert api.gql("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [bad]}) == {
                "data": {"nodes": [None]}
            }


# ---- Governed -------------------------------------------------------------------------------------------


GOVERNED = """
query Governed($id: ID!) {
  node(id: $id) {
    ... on Governed {
      state stateLabel version workflow { name version }
      availableTransitions { trigger label dest roles allowed blockedBy }
      history(first: 100) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage }
        edges { node { trigger fromState toState actorId actorName comment payload occurredAt
                       subjectId subjectVersion eventId } }
      }
    }
  }
}
"""


def test_governed_fields_of_a_project(api: Api) -> None:
    node = api.data(GOVERNED, {"id": api.project_id("fleet")}, as_="mia")["node"]
    assert node["state"] == "requirements.confirmation"
    assert node["stateLabel"] == "Confirmation"
    assert node["workflow"] == {"name": "customer-project", "version": 1}
    history = node["history"]
    assert history["totalCount"] == len(history["edges"]) == 3
    triggers = [e["node"]["trigger"] for e in history["edges"]]
    assert triggers == ["create", "start_requirements", "request_confirmation"]
    assert history["edges"][-1]["node"]["toState"] == node["state"]  # newest last
    versions = [e["node"]["subjectVersion"] for e in history["edges"]]
    assert versions[0] == 1 and versions == sorted(set(versions))  # edits bump the version too
    assert versions[-1] == node["version"]
    assert {e["node"]["subjectId"] for e in history["edges"]} == {api.project_id("fleet")}
    times = [e["node"]["occurredAt"] for e in history["edges"]]
    assert times == sorted(times)
    assert history["edges"][0]["node"]["fromState"] is None
    assert len({e["node"]["eventId"] for e in history["edges"]}) == 3


def test_every_governed_type_has_the_governed_fields(api: Api, subtests: pytest.Subtests) -> None:
    each = one_of_each(api)
    for type_name in GOVERNED_TYPES:
        with subtests.test(type=type_name):
            node = api.data(GOVERNED, {"id": each[type_name]})["node"]
            assert node["history"]["totalCount"] >= 1
            assert node["history"]["edges"][0]["node"]["trigger"] == "create"
            assert node["history"]["edges"][-1]["node"]["toState"] == node["state"]
            assert isinstance(node["availableTransitions"], list)
            for option in node["availableTransitions"]:
                assert option["allowed"] is (option["blockedBy"] == [])


def test_available_transitions_differ_per_viewer(api: Api) -> None:
    fleet = api.project_id("fleet")

    def options(who: str) -> dict[str, dict[str, Any]]:
        node = api.data(GOVERNED, {"id": fleet}, as_=who)["node"]
        return {o["trigger"]: o for o in node["availableTransitions"]}

    mia, carla = options("mia"), options("carla")
    assert (
        set(mia)
        == set(carla)
        == {
            "remind_customer",
            "request_more_research",
            "confirm_requirements",
            "put_on_hold",
            "cancel",
        }
    )
    assert mia["remind_customer"]["allowed"] is True and mia["remind_customer"]["blockedBy"] == []
    assert carla["remind_customer"]["allowed"] is False
    assert any("manager" in reason for reason in carla["remind_customer"]["blockedBy"])
    assert mia["put_on_hold"]["allowed"] is True
    assert carla["put_on_hold"]["allowed"] is False
    # A guard blocks both of them, with the same words.
    assert mia["confirm_requirements"]["allowed"] is carla["confirm_requirements"]["allowed"] is False
    assert mia["confirm_requirements"]["blockedBy"] == carla["confirm_requirements"]["blockedBy"]
    assert "not yet confirmed" in mia["confirm_requirements"]["blockedBy"][0]
    assert mia["confirm_requirements"]["dest"] == "execution"
    assert mia["confirm_requirements"]["roles"] == ["customer", "manager"]


def test_history_pages_keep_the_total_and_newest_last(api: Api) -> None:
    query = """
    query($id: ID!, $first: Int, $after: String, $last: Int) {
      node(id: $id) { ... on Governed { history(first: $first, after: $after, last: $last) {
        totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { trigger } } } } }
    }"""
    portal = api.project_id("portal")
    full = api.data(query, {"id": portal, "first": 100})["node"]["history"]
    triggers = [e["node"]["trigger"] for e in full["edges"]]
    assert triggers[0] == "create" and triggers[-1] == "confirm_requirements"
    first = api.data(query, {"id": portal, "first": 2})["node"]["history"]
    assert first["totalCount"] == full["totalCount"] == len(triggers)
    assert [e["node"]["trigger"] for e in first["edges"]] == triggers[:2]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = api.data(query, {"id": portal, "first": 100, "after": first["pageInfo"]["endCursor"]})
    assert [e["node"]["trigger"] for e in rest["node"]["history"]["edges"]] == triggers[2:]
    last = api.data(query, {"id": portal, "last": 1})["node"]["history"]
    assert [e["node"]["trigger"] for e in last["edges"]] == ["confirm_requirements"]
    assert last["pageInfo"]["hasPreviousPage"] is True


def test_a_new_transition_is_the_newest_history_event(api: Api) -> None:
    fleet = api.demo.projects["fleet"]
    api.domain.fire(api.actor("mia"), fleet, "remind_customer", comment="ping")
    node = api.data(GOVERNED, {"id": api.project_id("fleet")})["node"]
    newest = node["history"]["edges"][-1]["node"]
    assert newest["trigger"] == "remind_customer"
    assert newest["comment"] == "ping"
    assert newest["actorName"] == "Mia Manager"
    assert newest["actorId"].endswith(str(api.demo.users["mia"]))
    assert node["history"]["totalCount"] == 4
    assert newest["subjectVersion"] == node["version"]


# ---- workflows and reports ------------------------------------------------------------------------------


def test_workflows_by_name_with_states_transitions_and_mermaid(api: Api) -> None:
    query = """
    query($name: String) {
      workflows(name: $name) {
        name version subject label initial
        states { path name label parent final timeout { after afterText trigger } }
        transitions { trigger label sources dest internal roles conditions }
        mermaid
        dot
      }
    }"""
    every = api.data(query)["workflows"]
    assert {w["name"] for w in every} >= {
        "customer-project",
        "requirement",
        "change-request",
        "iteration",
        "deliverable",
        "risk",
    }
    (project,) = api.data(query, {"name": "customer-project"})["workflows"]
    assert (project["subject"], project["version"], project["initial"]) == ("project", 1, "initiation")
    states = {s["path"]: s for s in project["states"]}
    assert states["requirements.confirmation"]["parent"] == "requirements"
    assert states["requirements.confirmation"]["timeout"]["after"] == "P3D"
    assert states["requirements.confirmation"]["timeout"]["trigger"] == "remind_customer"
    assert states["closed"]["final"] is True
    transitions = {t["trigger"]: t for t in project["transitions"]}
    assert transitions["confirm_requirements"]["sources"] == ["requirements.confirmation"]
    assert transitions["confirm_requirements"]["conditions"] == ["all_requirements_confirmed"]
    assert transitions["remind_customer"]["internal"] is True
    assert project["mermaid"].startswith("stateDiagram-v2")
    assert "confirm_requirements" in project["mermaid"]
    assert project["dot"].lstrip().startswith("digraph")
    assert api.data(query, {"name": "no-such-workflow"})["workflows"] == []


def test_progress_report_as_markdown(api: Api) -> None:
    query = """
    query($id: ID!) {
      node(id: $id) { ... on Project { progressReport { title state stateLabel markdown data } } }
    }"""
    report = api.data(query, {"id": api.project_id("portal")}, as_="carla")["node"]["progressReport"]
    assert report["state"] == "execution" and report["stateLabel"] == "Execution"
    assert report["markdown"].startswith("# Progress report: Customer portal")
    assert "Northwind Logistics" in report["markdown"]
    assert "Waiting for Northwind's SMTP relay credentials" in report["markdown"]
    assert isinstance(report["data"], dict)
    json.dumps(report["data"])


# ---- what a customer sees -------------------------------------------------------------------------------


def test_a_customer_sees_only_their_customers_projects(api: Api) -> None:
    projects = filtered(api, as_="carla")
    assert names(projects) == ["Customer portal", "Fleet tracking app"]
    assert projects["totalCount"] == 2
    assert names(filtered(api, as_="ben")) == ["Patient scheduling"]
    # Filters do not open a door: another customer's id finds nothing.
    bluebird = filtered(api, {"customerId": api.customer_id("bluebird")}, as_="carla")
    assert bluebird["totalCount"] == 0 and bluebird["edges"] == []
    customers = api.data("{ customers { name } }", as_="carla")["customers"]
    assert customers == [{"name": "Northwind Logistics"}]


def test_paging_a_customer_counts_only_what_they_see(api: Api) -> None:
    add_projects(api, 3, customer="bluebird", prefix="Bluebird extra")
    projects = api.data(PAGE, {"first": 1}, as_="carla")["projects"]
    assert projects["totalCount"] == 2
    second = api.data(PAGE, {"first": 5, "after": projects["pageInfo"]["endCursor"]}, as_="carla")
    assert names(second["projects"]) == ["Fleet tracking app"]
    assert second["projects"]["pageInfo"]["hasNextPage"] is False


def add_bluebird_risk_and_change(api: Api) -> None:
    """Scheduling (Bluebird) gets a risk and a change request, so every type has a Bluebird object."""
    scheduling = api.demo.projects["scheduling"]
    api.domain.risks.create(api.actor("mia"), scheduling, {"title": "SMS provider outage"})
    api.domain.change_requests.create(
        api.actor("ben"),
        scheduling,
        {"title": "Evening slots", "description": "Open 18-20", "reason": "Demand"},
    )


def test_another_customers_objects_answer_as_if_they_did_not_exist(api: Api) -> None:
    add_bluebird_risk_and_change(api)
    bluebird = {t: ids[0] for t, ids in ids_in_project(api, "scheduling").items() if ids}
    bluebird["User"] = api.user_id("ben")  # the members include the team, whose accounts are not Bluebird's
    bluebird["Contact"] = ids_in_project(api, "scheduling")["Contact"][0]
    assert set(bluebird) == set(NODE_TYPES)
    for type_name, gid in bluebird.items():
        _, _, pk = base64.urlsafe_b64decode(gid + "==").decode().partition(":")
        missing = global_id(type_name, 999_000 + int(pk))
        seen = api.gql(NODE, {"id": gid}, as_="carla")
        unknown = api.gql(NODE, {"id": missing}, as_="carla")
        assert seen == unknown == {"data": {"node": None}}, type_name
        # The owner still sees it.
        assert api.data(NODE, {"id": gid}, as_="ben")["node"]["id"] == gid, type_name

    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    portal = api.project_id("portal")
    got = api.gql(
        query, {"ids": [api.project_id("scheduling"), portal, global_id("Project", 999_999)]}, as_="carla"
    )
    assert got == {"data": {"nodes": [None, {"id": portal}, None]}}


def test_a_customer_sees_their_own_objects_of_every_type(api: Api) -> None:
    own = {t: ids[0] for t, ids in ids_in_project(api, "portal").items() if ids}
    own["User"] = api.user_id("carla")
    for type_name, gid in own.items():
        node = api.data(NODE, {"id": gid}, as_="carla")["node"]
        assert node is not None and node["id"] == gid and node["__typename"] == type_name


# ---- anonymous ------------------------------------------------------------------------------------------


SECRETS = ("Northwind", "Bluebird", "Customer portal", "Patient scheduling", "Mia", "customer-project")


ANONYMOUS_QUERIES = (
    "{ viewer { id name } }",
    "{ projects(first: 10) { totalCount edges { node { id name } } } }",
    '{ node(id: "UHJvamVjdDox") { id ... on Project { name } } }',
    '{ nodes(ids: ["UHJvamVjdDox"]) { id } }',
    "{ customers { name } }",
    "{ workflows { name mermaid } }",
)


def test_anonymous_requests_are_unauthenticated_and_leak_nothing(api: Api, subtests: pytest.Subtests) -> None:
    for header in (None, "Bearer pmf_not-a-real-token", "Basic YWRhOmFkYQ==", "Bearer ", "pmf_abc"):
        for query in ANONYMOUS_QUERIES:
            with subtests.test(header=header, query=query):
                headers = {"Authorization": header} if header is not None else {}
                response = api.client.post("/graphql", json={"query": query}, headers=headers)
                assert response.status_code == 200
                result = response.json()
                assert codes(result) == ["UNAUTHENTICATED"]
                assert "Bearer" in result["errors"][0]["message"]
                data = result.get("data")
                assert data is None or all(value in (None, []) for value in data.values())
                for secret in SECRETS:
                    assert secret not in response.text


def test_typename_works_anonymously(api: Api) -> None:
    assert gql(api.client, "{ __typename }") == {"data": {"__typename": "Query"}}


def test_a_revoked_or_foreign_token_is_not_a_session(api: Api) -> None:
    assert codes(gql(api.client, VIEWER, token=api.tokens["admin"] + "x")) == ["UNAUTHENTICATED"]
    assert data_of(gql(api.client, VIEWER, token=api.tokens["ben"]))["viewer"]["name"] == "Ben Bluebird"
