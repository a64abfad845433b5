"""The command line: workflow validate/list/show/diagram and db upgrade/current."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pluggy
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, inspect

import pmflow.domain.tables  # noqa: F401  (registers the domain tables in the metadata)
from pmflow import Condition, __version__, hookimpl
from pmflow.app import DEFAULT_PLUGINS, MIGRATIONS
from pmflow.cli import cli
from pmflow.core import migrate
from pmflow.core.database import normalise_url
from pmflow.core.diagram import to_dot, to_mermaid
from pmflow.core.plugins import Catalog, make_plugin_manager
from pmflow.core.registry import WorkflowRegistry, workflow_files
from pmflow.core.tables import metadata

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
SHIPPED = len(workflow_files([WORKFLOWS]))
SHIPPED_OK = (
    f"OK: {SHIPPED} workflow{'s' if SHIPPED != 1 else ''} in {SHIPPED} file{'s' if SHIPPED != 1 else ''}\n"
)

Write = Callable[..., Path]

GOOD = """\
workflow: tiny
version: 1
subject: ticket
initial: open
states:
  - name: open
  - name: done
    final: true
transitions:
  - trigger: finish
    source: open
    dest: done
"""

BROKEN = GOOD.replace("dest: done", "dest: dnoe")


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own PMFLOW_WORKFLOWS / PMFLOW_DATABASE_URL must not steer the tests."""
    monkeypatch.delenv("PMFLOW_WORKFLOWS", raising=False)
    monkeypatch.delenv("PMFLOW_DATABASE_URL", raising=False)


# ---- the basics --------------------------------------------------------------------------------


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"pmflow, version {__version__}"


def _commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def test_every_group_and_command_has_help_and_a_one_line_description() -> None:
    found = dict(_commands(cli))
    assert {" ".join(p) for p in found} >= {
        "workflow",
        "workflow validate",
        "workflow list",
        "workflow show",
        "workflow diagram",
        "db",
        "db upgrade",
        "db current",
    }
    top = run("--help")
    assert top.exit_code == 0
    assert "--workflows" in top.output and "PMFLOW_WORKFLOWS" in top.output
    for path, command in found.items():
        short = command.get_short_help_str(limit=200)
        assert short and "\n" not in short, path
        result = run(*path, "--help")
        assert result.exit_code == 0, path
        assert short in " ".join(result.output.split()) or short.rstrip(".") in result.output, path
        parent = run(*path[:-1], "--help")
        assert path[-1] in parent.output and short[:20] in parent.output, path


def test_validate_help_says_problems_go_to_standard_output() -> None:
    text = " ".join(run("workflow", "validate", "--help").output.split())
    assert "standard output" in text and "file:line:column" in text


# ---- workflow validate ---------------------------------------------------------------------------


def test_validate_shipped_workflows() -> None:
    result = run("--workflows", str(WORKFLOWS), "workflow", "validate")
    assert result.exit_code == 0, result.output
    assert result.output == SHIPPED_OK


def test_validate_reads_the_workflows_directory_from_the_environment(write_workflow: Write) -> None:
    path = write_workflow(GOOD)
    result = run("workflow", "validate", env={"PMFLOW_WORKFLOWS": str(path.parent)})
    assert result.exit_code == 0
    assert result.output == "OK: 1 workflow in 1 file\n"


def test_validate_several_workflow_directories(write_workflow: Write, tmp_path: Path) -> None:
    write_workflow(GOOD)
    other = tmp_path / "more"
    other.mkdir()
    (other / "two.yml").write_text(GOOD.replace("tiny", "other"), encoding="utf-8")
    result = run("--workflows", str(tmp_path / "workflows"), "--workflows", str(other), "workflow", "list")
    assert result.exit_code == 0, result.output
    assert "tiny" in result.output and "other" in result.output
    env = {"PMFLOW_WORKFLOWS": os.pathsep.join([str(tmp_path / "workflows"), str(other)])}
    result = run("workflow", "validate", env=env)
    assert result.output == "OK: 2 workflows in 2 files\n"


def test_validate_reports_file_line_column_and_suggestion(write_workflow: Write) -> None:
    path = write_workflow(BROKEN)
    result = run("workflow", "validate", str(path))
    assert result.exit_code == 1
    line = line_of(BROKEN, "dest: dnoe")
    column = BROKEN.splitlines()[line - 1].index("dnoe") + 1
    assert result.output.splitlines() == [
        f"{path}:{line}:{column}: unknown destination state 'dnoe' (did you mean 'done'?)",
        "1 problem in 1 file",
    ]
    no_traceback(result)


def test_validate_counts_problems_and_files(write_workflow: Write, tmp_path: Path) -> None:
    write_workflow(BROKEN, "a.yaml")
    write_workflow("workflow: [tiny\n", "b.yaml")
    write_workflow(GOOD.replace("tiny", "fine"), "c.yaml")
    bad_refs = GOOD.replace("    dest: done\n", "    dest: done\n    conditions: [comment_givne, nope]\n")
    bad_refs = bad_refs.replace("tiny", "refs")
    write_workflow(bad_refs, "d.yaml")
    result = run("workflow", "validate", str(tmp_path / "workflows"))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    problems, summary = lines[:-1], lines[-1]
    files = {p.split(":", 1)[0] for p in problems}
    assert files == {str(tmp_path / "workflows" / name) for name in ("a.yaml", "b.yaml", "d.yaml")}
    assert summary == f"{len(problems)} problems in 3 files"
    assert problems == sorted(
        problems, key=lambda p: (p.split(":")[0], int(p.split(":")[1]), int(p.split(":")[2]))
    )
    assert any("did you mean 'comment_given'?" in p for p in problems)


def test_validate_a_missing_path(tmp_path: Path) -> None:
    result = run("workflow", "validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1
    assert f"{tmp_path / 'nope.yaml'}:1:1: no such file or directory" in result.output
    no_traceback(result)


def test_validate_uses_the_conditions_plugins_provide(
    write_workflow: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = GOOD.replace("    dest: done\n", "    dest: done\n    conditions: [moon_is_full]\n")
    path = write_workflow(text)
    assert run("workflow", "validate", str(path)).exit_code == 1

    class Moon:
        @hookimpl
        def pmflow_conditions(self) -> list[Condition]:
            return [Condition(name="moon_is_full", check=lambda _context, _argument: None)]

    monkeypatch.setattr("pmflow.cli.plugin_manager", lambda: make_plugin_manager([*DEFAULT_PLUGINS, Moon()]))
    result = run("workflow", "validate", str(path))
    assert result.exit_code == 0, result.output


def test_plugin_failures_are_one_line_errors(write_workflow: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_workflow(GOOD)

    def broken() -> pluggy.PluginManager:
        raise ImportError("No module named 'pmflow_jira'")

    monkeypatch.setattr("pmflow.cli.plugin_manager", broken)
    result = run("workflow", "validate", str(path))
    assert result.exit_code == 1
    assert "Error: cannot load plugins: ImportError: No module named 'pmflow_jira'" in result.output
    assert "PMFLOW_DISABLE_PLUGIN_AUTOLOAD" in result.output
    no_traceback(result)

    class Twin:
        @hookimpl
        def pmflow_conditions(self) -> list[Condition]:
            return [Condition(name="comment_given", check=lambda _context, _argument: None)]

    monkeypatch.setattr("pmflow.cli.plugin_manager", lambda: make_plugin_manager([*DEFAULT_PLUGINS, Twin()]))
    result = run("workflow", "validate", str(path))
    assert result.exit_code == 1
    assert "condition 'comment_given' is provided twice" in result.output
    no_traceback(result)


# ---- the installed console script ------------------------------------------------------------------


def _console_script() -> str:
    here = Path(sys.executable).parent
    found = shutil.which("pmflow", path=os.pathsep.join([str(here), os.environ.get("PATH", "")]))
    if found is None:
        pytest.fail("the 'pmflow' console script is not installed (pip install -e '.[test]')")
    return found


def test_console_script_validates_the_shipped_workflows() -> None:
    env = {**os.environ, "PMFLOW_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PMFLOW_WORKFLOWS", None)
    done = subprocess.run(
        [_console_script(), "workflow", "validate"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == SHIPPED_OK


def test_console_script_rejects_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    env = {**os.environ, "PMFLOW_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [_console_script(), "workflow", "validate", str(path)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert f"{path}:{line_of(BROKEN, 'dest: dnoe')}:" in done.stdout
    assert "unknown destination state 'dnoe'" in done.stdout
    assert done.stdout.splitlines()[-1] == "1 problem in 1 file"
    assert "Traceback" not in done.stderr


# ---- workflow list / show / diagram ---------------------------------------------------------------


def test_list(write_workflow: Write) -> None:
    write_workflow(GOOD)
    write_workflow(GOOD.replace("version: 1", "version: 2"), "tiny-2.yaml")
    write_workflow(GOOD.replace("tiny", "other").replace("subject: ticket", "subject: bug"), "other.yaml")
    result = run("--workflows", str(write_workflow(GOOD).parent), "workflow", "list")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()]
    assert rows == [
        ["NAME", "VERSIONS", "SUBJECT", "LABEL"],
        ["other", "1", "bug", "Other"],
        ["tiny", "1,", "2", "ticket", "Tiny"],
    ]


def test_list_shipped_workflows() -> None:
    result = run("--workflows", str(WORKFLOWS), "workflow", "list")
    assert result.exit_code == 0
    rows = [line.split() for line in result.output.splitlines()]
    assert rows[0] == ["NAME", "VERSIONS", "SUBJECT", "LABEL"]
    assert ["customer-project", "1", "project", "Customer", "project"] in rows
    assert len(rows) == 1 + SHIPPED


def test_show_customer_project(catalog: Catalog) -> None:
    result = run("--workflows", str(WORKFLOWS), "workflow", "show", "customer-project")
    assert result.exit_code == 0, result.output
    text = result.output
    for expected in [
        "Customer project (customer-project, version 1)\n",
        "\nfile:     ",
        "\nsubject:  project\n",
        "\ninitial:  initiation\n",
        "\nroles:    admin, analyst, customer, designer, developer, manager, tester\n",
        "\nStates:\n  initiation (initial)\n",
        "\n  requirements\n    research (initial)\n",
        "\n    confirmation\n",
        "after 3 days -> remind_customer\n",
        "\n  delivery\n    internal_qa (initial)\n",
        "\n  closed (final)\n",
        "\n  cancelled (final)\n",
        "      initiation -> requirements\n",
        "      requirements.confirmation (internal)\n",
        "      actions: emit: customer_reminder\n",
        "      roles: customer, manager\n",
        "      conditions: came_from: initiation\n",
        "      actions: copy_payload: {reason: on_hold_reason}\n      payload requires: reason\n",
        "      * (any state that is not final) -> cancelled\n",
        "\nFields:\n",
    ]:
        assert expected in text, expected
    definition = WorkflowRegistry.load([WORKFLOWS], catalog).get("customer-project")
    assert definition is not None
    for state in definition.states.values():
        assert f"\n{'  ' * len(definition.ancestors(state.path))}{state.name}" in text, state.path
        if state.description:
            assert " ".join(state.description.split()[:4]) in text
    for transition in definition.transitions:
        assert f"\n  {transition.trigger} - {transition.label}\n" in text
        for condition in transition.conditions:
            assert condition.name in text
    rows = [line.split() for line in text.split("\nFields:\n", 1)[1].splitlines()]
    assert [row[0] for row in rows] == list(definition.fields)
    for row, field in zip(rows, definition.fields.values(), strict=True):
        assert row[1] == field.schema["type"]
        assert row[2] == ("required" if field.required else "optional")


def test_show_required_fields_unless_and_versions(write_workflow: Write) -> None:
    text = GOOD.replace(
        "initial: open\n",
        "initial: open\nfields:\n  title: {type: string, required: true}\n  size: {enum: [s, m]}\n",
    ).replace("    dest: done\n", "    dest: done\n    unless: [comment_given]\n")
    write_workflow(text)
    write_workflow(
        text.replace("version: 1", "version: 2").replace("dest: done", "dest: done\n    roles: [x]"),
        "v2.yaml",
    )
    folder = str(write_workflow(text).parent)
    latest = run("--workflows", folder, "workflow", "show", "tiny")
    assert latest.exit_code == 0, latest.output
    assert "Tiny (tiny, version 2)" in latest.output and "roles: x" in latest.output
    first = run("--workflows", folder, "workflow", "show", "tiny", "--version", "1")
    assert "Tiny (tiny, version 1)" in first.output and "roles: x" not in first.output
    assert "      unless: comment_given\n" in first.output
    rows = [line.split() for line in first.output.splitlines()]
    assert ["title", "string", "required"] in rows
    assert ["size", "enum", "optional"] in rows


def test_show_unknown_workflow_suggests_a_name() -> None:
    result = run("--workflows", str(WORKFLOWS), "workflow", "show", "customer-projetc")
    assert result.exit_code == 2
    assert "unknown workflow 'customer-projetc'; did you mean 'customer-project'?" in result.output
    no_traceback(result)
    result = run("--workflows", str(WORKFLOWS), "workflow", "diagram", "zzz")
    assert result.exit_code == 2
    assert "unknown workflow 'zzz' (known: change-request, customer-project, " in result.output


def test_show_unknown_version() -> None:
    result = run("--workflows", str(WORKFLOWS), "workflow", "show", "customer-project", "--version", "7")
    assert result.exit_code == 2
    assert "workflow 'customer-project' has no version 7 (versions: 1)" in result.output


def test_commands_refuse_broken_workflow_files(write_workflow: Write) -> None:
    path = write_workflow(BROKEN)
    for args in (["workflow", "list"], ["workflow", "show", "tiny"], ["workflow", "diagram", "tiny"]):
        result = run("--workflows", str(path.parent), *args)
        assert result.exit_code == 1, args
        assert f"{path}:{line_of(BROKEN, 'dest: dnoe')}:" in result.output
        assert "1 problem in workflow files; fix them first" in result.output
        no_traceback(result)


def test_missing_workflows_directory(tmp_path: Path) -> None:
    result = run("--workflows", str(tmp_path / "nowhere"), "workflow", "list")
    assert result.exit_code == 1
    assert f"workflow directory '{tmp_path / 'nowhere'}' does not exist" in result.output
    no_traceback(result)


def test_diagram_formats(catalog: Catalog) -> None:
    definition = WorkflowRegistry.load([WORKFLOWS], catalog).get("customer-project")
    assert definition is not None
    mermaid = run("--workflows", str(WORKFLOWS), "workflow", "diagram", "customer-project")
    assert mermaid.exit_code == 0
    assert mermaid.output == to_mermaid(definition)
    dot = run("--workflows", str(WORKFLOWS), "workflow", "diagram", "customer-project", "--format", "dot")
    assert dot.output == to_dot(definition)
    bad = run("--workflows", str(WORKFLOWS), "workflow", "diagram", "customer-project", "--format", "png")
    assert bad.exit_code == 2
    assert "'png' is not one of 'mermaid', 'dot'" in bad.output


# ---- db ------------------------------------------------------------------------------------------


def tables(url: str) -> set[str]:
    engine = create_engine(normalise_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_db_upgrade_creates_the_tables_and_is_idempotent(database_url: str) -> None:
    heads = migrate.head_revisions(MIGRATIONS)
    head = ", ".join(f"{h} (head)" for h in sorted(heads))
    before = run("db", "current", "--database-url", database_url)
    assert before.exit_code == 0
    assert "none (an empty database)" in before.output and "run 'pmflow db upgrade'" in before.output

    first = run("db", "upgrade", "--database-url", database_url)
    assert first.exit_code == 0, first.output
    assert "from none (an empty database)" in first.output.splitlines()[0]
    assert first.output.splitlines()[-1] == f"current revision: {head}"
    assert {"subjects", "events", "outbox", "projects", "alembic_version"} <= tables(database_url)
    assert set(metadata.tables) <= tables(database_url)

    again = run("db", "upgrade", "--database-url", database_url)
    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[0].endswith("is up to date")
    assert again.output.splitlines()[-1] == f"current revision: {head}"

    now = run("db", "current", "--database-url", database_url)
    assert now.exit_code == 0
    assert now.output.strip().endswith(f": {head}")


def test_db_url_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = run("db", "upgrade", env={"PMFLOW_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert "subjects" in tables(url)


def test_db_default_is_pmflow_db_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("db", "current").output.startswith("sqlite:///pmflow.db: none")
    assert not (tmp_path / "pmflow.db").exists(), "db current must not create the database"
    assert run("db", "upgrade").exit_code == 0
    assert (tmp_path / "pmflow.db").exists()


@pytest.mark.parametrize(
    ("url", "message", "commands"),
    [
        (
            "sqlite:////nonexistent-dir/sub/pmflow.db",
            "cannot connect to sqlite:////nonexistent-dir/sub/pmflow.db: unable to open database file",
            ["upgrade"],
        ),
        (
            "postgresql://someone:secret@127.0.0.1:1/nothing",
            "cannot connect to postgresql+psycopg://someone:***@127.0.0.1:1/nothing: ",
            ["upgrade", "current"],
        ),
        ("nosuchdb://x/y", "bad database URL 'nosuchdb://x/y': ", ["upgrade", "current"]),
        ("not a url", "bad database URL 'not a url': ", ["upgrade", "current"]),
    ],
)
def test_db_errors_are_one_line_messages(url: str, message: str, commands: list[str]) -> None:
    for command in commands:
        result = run("db", command, "--database-url", url)
        assert result.exit_code == 1, result.output
        assert result.output.startswith(f"Error: {message}"), result.output
        assert len(result.output.strip().splitlines()) == 1
        assert "secret" not in result.output
        no_traceback(result)


def test_db_current_does_not_create_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "pmflow.db"
    result = run("db", "current", "--database-url", f"sqlite:///{path}")
    assert result.exit_code == 0
    assert result.output.startswith(f"sqlite:///{path}: none (an empty database)\n")
    assert not path.parent.exists()


def test_a_database_migrated_by_a_newer_pmflow_is_refused_without_a_traceback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade", "--database-url", url]).exit_code == 0
    engine = create_engine(url)
    with engine.begin() as conn:
        # one branch head moved ahead (the core and the domain each have a head)
        conn.exec_driver_sql(
            "UPDATE alembic_version SET version_num = '0099_future' "
            "WHERE version_num = (SELECT MIN(version_num) FROM alembic_version)"
        )
    engine.dispose()
    for args in (["db", "upgrade"], ["demo"]):
        result = runner.invoke(cli, [*args, "--database-url", url])
        assert result.exit_code == 1, result.output
        assert "0099_future, which this pmflow does not know" in result.output
        assert "Traceback" not in result.output
    current = runner.invoke(cli, ["db", "current", "--database-url", url])
    assert "migrated by a newer pmflow" in current.output
