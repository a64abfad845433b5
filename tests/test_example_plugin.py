"""The example plugin package (examples/pmflow-plugin-example), installed and loaded through its entry
point: its condition and action in a workflow, its GraphQL field through the API, its setting.

Skipped when the package is not installed, unless PMFLOW_REQUIRE_EXAMPLE_PLUGIN=1 (.ci/run installs
it and sets that, so there it must run).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pluggy
import pytest
from click.testing import CliRunner

from pmflow import Actor
from pmflow.app import DEFAULT_PLUGINS
from pmflow.core.database import Database
from pmflow.core.engine import WorkflowEngine
from pmflow.core.errors import GuardFailed
from pmflow.core.plugins import Catalog, make_plugin_manager
from pmflow.core.registry import WorkflowRegistry
from pmflow.core.settings import load_plugin_settings

INSTALLED = importlib.util.find_spec("pmflow_plugin_example") is not None
REQUIRED = os.environ.get("PMFLOW_REQUIRE_EXAMPLE_PLUGIN") == "1"
if not INSTALLED and not REQUIRED:
    pytest.skip(
        "pmflow-plugin-example is not installed (pip install ./examples/pmflow-plugin-example)",
        allow_module_level=True,
    )

from api_helpers import Api, codes, prepare  # noqa: E402  (only when the module runs)

MANAGER = Actor("u-mia", frozenset({"manager"}), name="Mia")

BUDGETED = """
workflow: budgeted
version: 1
subject: budgeted
initial: draft
fields:
  budget_approved: {type: boolean}
  tag: {type: string}
states:
  - name: draft
  - name: running
    final: true
transitions:
  - trigger: start
    source: draft
    dest: running
    conditions: [budget_approved]
    actions: [{tag_subject: funded}]
"""


@pytest.fixture
def example_plugins() -> pluggy.PluginManager:
    """The built-ins and the entry points (autoload is off in the test suite: load them explicitly)."""
    assert INSTALLED, "PMFLOW_REQUIRE_EXAMPLE_PLUGIN=1 but pmflow-plugin-example is not installed"
    pm = make_plugin_manager(DEFAULT_PLUGINS, load_entrypoints=True)
    assert pm.get_plugin("example") is not None, "the entry point 'example' of group 'pmflow' was not loaded"
    return pm


def test_the_entry_point_is_listed_with_its_package_and_hooks(
    example_plugins: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pmflow.cli.plugin_manager", lambda: example_plugins)
    from pmflow.cli import cli

    result = CliRunner().invoke(cli, ["plugins", "list"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("example "))
    assert "pmflow-plugin-example 0.1.0" in line
    for hook in ("pmflow_actions", "pmflow_conditions", "pmflow_graphql_types", "pmflow_plugin_settings"):
        assert hook in line


def test_condition_and_action_in_a_workflow(
    example_plugins: pluggy.PluginManager, database: Database, write_workflow: Callable[[str], Path]
) -> None:
    registry = WorkflowRegistry.load([write_workflow(BUDGETED)], Catalog.from_plugins(example_plugins))
    engine = WorkflowEngine(database, registry, example_plugins)

    unfunded = engine.create("budgeted", MANAGER, data={"budget_approved": False}).subject
    with pytest.raises(GuardFailed) as refused:
        engine.fire(unfunded.id, "start", MANAGER)
    assert "the budget has not been approved yet" in refused.value.reasons
    assert engine.get(unfunded.id).state == "draft"

    funded = engine.create("budgeted", MANAGER, data={"budget_approved": True}).subject
    engine.fire(funded.id, "start", MANAGER)
    after = engine.get(funded.id)
    assert after.state == "running"
    assert after.data["tag"] == "funded"


def test_the_action_argument_is_checked_when_the_workflow_loads(
    example_plugins: pluggy.PluginManager, write_workflow: Callable[[str], Path]
) -> None:
    from pmflow.core.problems import WorkflowValidationError

    path = write_workflow(BUDGETED.replace("{tag_subject: funded}", "{tag_subject: ''}"))
    with pytest.raises(WorkflowValidationError) as invalid:
        WorkflowRegistry.load([path], Catalog.from_plugins(example_plugins))
    assert "tag_subject" in str(invalid.value)


@pytest.fixture
def api(
    database_url: str, example_plugins: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Api]:
    from starlette.testclient import TestClient

    from api_helpers import WORKFLOWS
    from pmflow.api.app import Settings, create_app
    from pmflow.api.limits import Limits

    monkeypatch.setenv("PMFLOW_PLUGIN_EXAMPLE_GREETING", "Welcome")
    demo, tokens = prepare(database_url)
    settings = Settings(
        database_url=database_url,
        workflows=WORKFLOWS,
        worker=False,
        limits=replace(Limits.from_env({}, development=True), rate_limit=0),
        plugins=example_plugins,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        yield Api(client=client, app=app, demo=demo, tokens=tokens, database_url=database_url)


def test_the_graphql_field_answers_signed_in_users_with_the_setting(api: Api) -> None:
    assert api.data('{ exampleGreeting(name: "Carla") }', as_="carla") == {
        "exampleGreeting": "Welcome, Carla!"
    }
    assert api.built.plugin_settings["example"] == {"greeting": "Welcome"}
    anonymous = api.gql('{ exampleGreeting(name: "x") }', as_=None)
    assert codes(anonymous) == ["UNAUTHENTICATED"]


def test_a_bad_setting_names_the_plugin_and_the_variable(
    example_plugins: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pmflow.core.settings import PluginSettingsError

    with pytest.raises(PluginSettingsError) as bad:
        load_plugin_settings(example_plugins, {"PMFLOW_PLUGIN_EXAMPLE_GREETING": ""})
    assert bad.value.problems == [
        "plugin 'example' setting 'greeting' (from PMFLOW_PLUGIN_EXAMPLE_GREETING): '' should be non-empty"
    ]
