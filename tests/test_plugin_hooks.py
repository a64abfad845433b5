"""The hooks for third parties beyond conditions and actions, each through what a user sees: GraphQL
fields with their access rules, CLI commands, startup, per-plugin settings, risk signals, survey
triggers, and ``pmflow plugins list``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import pluggy
import pytest
import strawberry
from click.testing import CliRunner, Result
from sqlalchemy import Connection

from api_helpers import WORKFLOWS, Api, TestClient, codes, prepare
from pmflow import Actor, hookimpl
from pmflow.api.app import Settings, create_app
from pmflow.api.limits import Limits
from pmflow.api.schema import PluginSchemaError, build_schema
from pmflow.app import DEFAULT_PLUGINS, App, build
from pmflow.cli import cli
from pmflow.core.database import Database
from pmflow.core.engine import WorkflowEngine
from pmflow.core.hookspecs import GraphQLExtension, PluginSettings, RiskSignal, SurveyTrigger
from pmflow.core.plugins import (
    Catalog,
    CatalogError,
    PluginStartupError,
    make_plugin_manager,
    risk_signals,
    survey_triggers,
)
from pmflow.core.registry import WorkflowRegistry
from pmflow.core.settings import PluginSettingsError, load_plugin_settings
from pmflow.core.types import Subject


def plugins_with(*extra: object) -> pluggy.PluginManager:
    return make_plugin_manager([*DEFAULT_PLUGINS, *extra], load_entrypoints=False)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


# ---- pmflow_graphql_types ---------------------------------------------------------------------


@strawberry.type
class MottoQuery:
    @strawberry.field
    def team_motto(self) -> str:
        return "ship small, ship often"


@strawberry.type
class EchoMutation:
    @strawberry.mutation
    def echo(self, text: str) -> str:
        return text


class Motto:
    @hookimpl
    def pmflow_graphql_types(self) -> list[GraphQLExtension]:
        return [
            GraphQLExtension(MottoQuery, rules={"teamMotto": "team"}),
            GraphQLExtension(EchoMutation, rules={"echo": "admin"}, root="Mutation"),
        ]


@pytest.fixture
def motto_api(database_url: str) -> Iterator[Api]:
    demo, tokens = prepare(database_url)
    settings = Settings(
        database_url=database_url,
        workflows=WORKFLOWS,
        worker=False,
        limits=replace(Limits.from_env({}, development=True), rate_limit=0),
        plugins=plugins_with(Motto()),
    )
    app = create_app(settings)
    with TestClient(app) as client:
        yield Api(client=client, app=app, demo=demo, tokens=tokens, database_url=database_url)


def test_plugin_fields_are_served_with_their_declared_rules(motto_api: Api) -> None:
    assert motto_api.data("{ teamMotto }", as_="sam") == {"teamMotto": "ship small, ship often"}
    assert codes(motto_api.gql("{ teamMotto }", as_="carla")) == ["NOT_ALLOWED"]
    assert codes(motto_api.gql("{ teamMotto }", as_=None)) == ["UNAUTHENTICATED"]
    assert motto_api.data('mutation { echo(text: "hi") }', as_="admin") == {"echo": "hi"}
    assert codes(motto_api.gql('mutation { echo(text: "hi") }', as_="mia")) == ["NOT_ALLOWED"]
    # the built-in fields keep their own rules next to the plugin's
    assert codes(motto_api.gql("{ users(first: 1) { nodes { id } } }", as_="mia")) == ["NOT_ALLOWED"]


def test_the_default_schema_has_no_plugin_fields() -> None:
    assert "teamMotto" in str(build_schema(plugins=plugins_with(Motto())))
    assert "teamMotto" not in str(build_schema())


@strawberry.type
class Unruly:
    @strawberry.field
    def secret(self) -> str:
        return "s"


@strawberry.type
class Shadow:
    @strawberry.field
    def viewer(self) -> str:
        return "not you"


@pytest.mark.parametrize(
    ("extension", "message"),
    [
        (GraphQLExtension(Unruly, rules={}), "Query.secret has no access rule"),
        (
            GraphQLExtension(Unruly, rules={"secret": "everyone"}),
            "unknown access rule 'everyone' for Query.secret",
        ),
        (GraphQLExtension(Shadow, rules={"viewer": "public"}), "Query.viewer already exists"),
        (GraphQLExtension(str, rules={}), "is not a @strawberry.type"),
    ],
)
def test_a_plugin_field_that_cannot_be_served_names_the_plugin(
    extension: GraphQLExtension, message: str
) -> None:
    class Bad:
        @hookimpl
        def pmflow_graphql_types(self) -> list[GraphQLExtension]:
            return [extension]

    with pytest.raises(PluginSchemaError) as error:
        build_schema(plugins=plugins_with(Bad()))
    assert message in str(error.value)
    assert f"plugin module '{__name__}'" in str(error.value)


# ---- pmflow_cli_commands ----------------------------------------------------------------------


@click.command()
@click.option("--name", default="world")
def hello(name: str) -> None:
    """Say hello (from a plugin)."""
    click.echo(f"hello {name}")


@click.command("demo")
def fake_demo() -> None:
    """Not pmflow's demo."""
    click.echo("the plugin's demo")


class Greeter:
    @hookimpl
    def pmflow_cli_commands(self) -> list[click.Command]:
        return [hello, fake_demo]


class Crashing:
    @hookimpl
    def pmflow_cli_commands(self) -> list[click.Command]:
        raise RuntimeError("boom")


def test_plugin_commands_run_and_are_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pmflow.cli.plugin_manager", lambda: plugins_with(Greeter()))
    result = run("hello", "--name", "Ada")
    assert result.exit_code == 0, result.output
    assert result.stdout == "hello Ada\n"
    listing = run("--help")
    assert listing.exit_code == 0
    assert "hello  " in listing.stdout and "Say hello (from a plugin)." in listing.stdout
    # a built-in name wins; the plugin is told
    assert "command 'demo' exists already; not added" in listing.stderr
    assert "Load sample data" in run("demo", "--help").stdout


def test_a_failing_plugin_does_not_break_help_or_the_built_in_commands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("pmflow.cli.plugin_manager", lambda: plugins_with(Crashing(), Greeter()))
    result = run("--help")
    assert result.exit_code == 0
    assert "pmflow: warning: commands of plugin" in result.stderr and "RuntimeError: boom" in result.stderr
    assert "workflow  " in result.stdout and "hello  " in result.stdout

    def unloadable() -> pluggy.PluginManager:
        raise ImportError("No module named 'pmflow_jira'")

    monkeypatch.setattr("pmflow.cli.plugin_manager", unloadable)
    result = run("--help")
    assert result.exit_code == 0
    assert "plugin commands not loaded: ImportError: No module named 'pmflow_jira'" in result.stderr
    unknown = run("nosuch")
    assert unknown.exit_code == 2 and "No such command 'nosuch'" in unknown.stderr


# ---- pmflow_startup ---------------------------------------------------------------------------


class Starter:
    def __init__(self) -> None:
        self.apps: list[App] = []

    @hookimpl
    def pmflow_startup(self, app: App) -> None:
        self.apps.append(app)


class FailingStart:
    @hookimpl
    def pmflow_startup(self, app: App) -> None:
        raise ConnectionError("the CRM is down")


def test_startup_is_called_once_per_built_app(database_url: str) -> None:
    starter = Starter()
    built = build(database_url=database_url, workflows=WORKFLOWS, plugins=plugins_with(starter))
    try:
        assert starter.apps == [built]
        assert len(built.registry) > 0  # the app is complete when the hook runs
    finally:
        built.database.dispose()


def test_a_failing_startup_stops_the_command_naming_the_plugin(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(
        PluginStartupError, match=r"plugin 'crm' failed to start .*ConnectionError: the CRM is down"
    ):
        build(database_url=database_url, workflows=WORKFLOWS, plugins=_named(FailingStart(), "crm"))
    monkeypatch.setattr("pmflow.cli.plugin_manager", lambda: _named(FailingStart(), "crm"))
    result = run("--workflows", str(WORKFLOWS), "demo", "--database-url", database_url)
    assert result.exit_code == 1
    assert "Error: plugin 'crm' failed to start" in result.stderr
    assert "Traceback" not in result.output


def _named(plugin: object, name: str) -> pluggy.PluginManager:
    pm = plugins_with()
    pm.register(plugin, name=name)
    return pm


# ---- pmflow_plugin_settings -------------------------------------------------------------------

TUNED_SCHEMA = {
    "properties": {
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 8080},
        "mode": {"enum": ["fast", "safe"]},
        "enabled": {"type": "boolean", "default": False},
    },
    "required": ["mode"],
    "additionalProperties": False,
}


class Tuned:
    @hookimpl
    def pmflow_plugin_settings(self) -> PluginSettings:
        return PluginSettings("tuned", TUNED_SCHEMA)


def test_settings_come_from_the_environment_with_defaults() -> None:
    pm = plugins_with(Tuned())
    settings = load_plugin_settings(
        pm, {"PMFLOW_PLUGIN_TUNED_MODE": "fast", "PMFLOW_PLUGIN_TUNED_ENABLED": "yes"}
    )
    # (the built-in plugins declare settings of their own too: health, surveys)
    assert settings["tuned"] == {"port": 8080, "mode": "fast", "enabled": True}


def test_the_config_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "pmflow.toml"
    config.write_text('[plugins.tuned]\nmode = "safe"\nport = 1234\n', encoding="utf-8")
    pm = plugins_with(Tuned())
    environ = {"PMFLOW_CONFIG": str(config)}
    assert load_plugin_settings(pm, environ)["tuned"] == {"port": 1234, "mode": "safe", "enabled": False}
    environ["PMFLOW_PLUGIN_TUNED_PORT"] = "9000"
    assert load_plugin_settings(pm, environ)["tuned"]["port"] == 9000


def test_bad_settings_name_the_plugin_the_key_and_where_it_came_from(tmp_path: Path) -> None:
    config = tmp_path / "pmflow.toml"
    config.write_text(
        '[plugins.tuned]\nprot = 1\nmode = "quick"\n[plugins.tunned]\nx = 1\n', encoding="utf-8"
    )
    environ = {
        "PMFLOW_CONFIG": str(config),
        "PMFLOW_PLUGIN_TUNED_PORT": "eighty",
        "PMFLOW_PLUGIN_TUNED_ENABLD": "1",
    }
    with pytest.raises(PluginSettingsError) as bad:
        load_plugin_settings(plugins_with(Tuned()), environ)
    assert bad.value.problems == [
        f"{config}: [plugins.tunned]: no loaded plugin takes settings named 'tunned' (did you mean 'tuned'?)",
        f"plugin 'tuned': unknown setting 'prot' in [plugins.tuned] of {config} (did you mean 'port'?)",
        "plugin 'tuned': PMFLOW_PLUGIN_TUNED_ENABLD is not one of its settings "
        "(did you mean 'PMFLOW_PLUGIN_TUNED_ENABLED'?)",
        f"plugin 'tuned' setting 'mode' (from [plugins.tuned] of {config}): "
        "'quick' is not one of ['fast', 'safe']",
        "plugin 'tuned' setting 'port' (from PMFLOW_PLUGIN_TUNED_PORT): 'eighty' is not of type 'integer'",
    ]
    with pytest.raises(PluginSettingsError, match="plugin 'tuned': 'mode' is a required property"):
        load_plugin_settings(plugins_with(Tuned()), {})


def test_bad_settings_stop_the_command_with_one_line_each(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pmflow.cli.plugin_manager", lambda: plugins_with(Tuned()))
    monkeypatch.setenv("PMFLOW_PLUGIN_TUNED_PORT", "0")
    monkeypatch.setenv("PMFLOW_PLUGIN_TUNED_MODE", "safe")
    result = run("--workflows", str(WORKFLOWS), "demo", "--database-url", database_url)
    assert result.exit_code == 1
    assert (
        "plugin 'tuned' setting 'port' (from PMFLOW_PLUGIN_TUNED_PORT): 0 is less than the minimum of 1"
        in (result.stderr)
    )
    assert "Error: 1 problem in the plugin settings; nothing was done" in result.stderr
    monkeypatch.setenv("PMFLOW_PLUGIN_TUNED_PORT", "8443")
    built = build(database_url=database_url, workflows=WORKFLOWS, plugins=plugins_with(Tuned()))
    try:
        assert built.plugin_settings["tuned"] == {"port": 8443, "mode": "safe", "enabled": False}
    finally:
        built.database.dispose()


def test_a_bad_declaration_names_its_module() -> None:
    class Broken:
        @hookimpl
        def pmflow_plugin_settings(self) -> PluginSettings:
            return PluginSettings("broken", {"properties": {"port": {"type": "int"}}})

    with pytest.raises(
        PluginSettingsError, match=f"plugin 'broken' \\(module '{__name__}'\\) has an invalid"
    ):
        load_plugin_settings(plugins_with(Broken()), {})


# ---- pmflow_risk_signals and pmflow_survey_triggers -------------------------------------------

PROJECT = """
workflow: tiny_project
version: 1
subject: project
initial: running
fields:
  overdue: {type: integer}
states:
  - name: running
  - name: closed
    final: true
transitions:
  - trigger: close
    source: running
    dest: closed
"""


class Overdue:
    @hookimpl
    def pmflow_risk_signals(self, project: Subject, connection: Connection) -> list[RiskSignal]:
        late = int(project.data.get("overdue", 0))
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1  # readable inside the hook
        if not late:
            return []
        return [RiskSignal("overdue_deliverable", f"{late} deliverables are overdue", "critical")]


def test_risk_signals_of_every_plugin_are_collected(
    database: Database, write_workflow: Callable[[str], Path]
) -> None:
    pm = plugins_with(Overdue())
    engine = WorkflowEngine(
        database, WorkflowRegistry.load([write_workflow(PROJECT)], Catalog.from_plugins(pm)), pm
    )
    actor = Actor("u-mia", frozenset({"manager"}))
    late = engine.create("project", actor, data={"overdue": 2}).subject
    fine = engine.create("project", actor, data={"overdue": 0}).subject
    with database.read() as conn:
        assert risk_signals(pm, late, conn) == [
            RiskSignal("overdue_deliverable", "2 deliverables are overdue", "critical")
        ]
        assert risk_signals(pm, fine, conn) == []

        class Wrong:
            @hookimpl
            def pmflow_risk_signals(self, project: Subject) -> list[Any]:
                return ["late!"]

        with pytest.raises(CatalogError, match="returned 'late!', not a RiskSignal"):
            risk_signals(plugins_with(Wrong()), late, conn)


class Surveys:
    @hookimpl
    def pmflow_survey_triggers(self) -> list[SurveyTrigger]:
        return [SurveyTrigger("after_close", "project.close", "nps", "ask how likely they recommend us")]


def test_survey_triggers_are_merged_by_name() -> None:
    built_in = survey_triggers(plugins_with())  # pmflow.plugins.surveys' own (docs/surveys.md)
    assert survey_triggers(plugins_with(Surveys())) == {
        **built_in,
        "after_close": SurveyTrigger(
            "after_close", "project.close", "nps", "ask how likely they recommend us"
        ),
    }
    with pytest.raises(CatalogError, match="survey trigger 'after_close' is provided twice"):
        survey_triggers(plugins_with(Surveys(), Surveys()))


# ---- pmflow plugins list ----------------------------------------------------------------------


def test_plugins_list_shows_source_and_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    pm = plugins_with()
    pm.register(Surveys(), name="surveys")
    monkeypatch.setattr("pmflow.cli.plugin_manager", lambda: pm)
    table = run("plugins", "list")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert any(
        line.split() == ["pmflow.core.builtins", "built-in", "pmflow_actions,", "pmflow_conditions"]
        for line in lines
    )
    assert any(line.split() == ["surveys", "registered", "pmflow_survey_triggers"] for line in lines)
    rows = json.loads(run("plugins", "list", "--json").stdout)
    assert {
        "name": "surveys",
        "source": "registered",
        "distribution": None,
        "version": None,
        "hooks": ["pmflow_survey_triggers"],
    } in rows
    assert [r["name"] for r in rows if r["source"] == "built-in"] == list(DEFAULT_PLUGINS)
