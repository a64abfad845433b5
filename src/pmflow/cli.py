"""The ``pmflow`` command line: check, inspect and draw workflows; migrate the database.

Every expected failure ends with a one-line message and an exit code, never a stack trace:
1 for problems found (invalid workflow files, an unreachable database), 2 for a bad command line
(unknown option, unknown workflow name).
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar, cast

import click
import pluggy
from sqlalchemy import select
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from pmflow import __version__, app
from pmflow.core import migrate
from pmflow.core.database import URL_ENV, Database, database_url
from pmflow.core.definitions import ANY_STATE, Ref, TransitionDef, WorkflowDefinition
from pmflow.core.diagram import FORMATS, render
from pmflow.core.durations import format_duration
from pmflow.core.errors import PmflowError
from pmflow.core.plugins import AUTOLOAD_ENV, Catalog, PluginStartupError
from pmflow.core.problems import Problem, WorkflowValidationError, did_you_mean
from pmflow.core.registry import WorkflowRegistry, check_files, workflow_files
from pmflow.core.settings import PluginSettingsError
from pmflow.core.types import Actor
from pmflow.domain.demo import DemoAlreadyLoaded, load_demo
from pmflow.domain.identity import issue_token, list_tokens, parse_expiry, revoke_token, user_by_email
from pmflow.domain.report import iteration_report, project_report
from pmflow.domain.tables import iterations
from pmflow.domain.tables import users as t_users

WORKFLOWS_ENV = app.WORKFLOWS_ENV
DEFAULT_WORKFLOWS = app.DEFAULT_WORKFLOWS

F = TypeVar("F", bound=Callable[..., Any])


def plugin_manager() -> pluggy.PluginManager:
    """The plugins every command runs with: the built-ins, then the entry-point group ``pmflow``."""
    return app.plugin_manager()


@dataclass
class Settings:
    """What the global options decided, handed to every command through the click context."""

    workflows: tuple[Path, ...]
    _plugins: pluggy.PluginManager | None = None

    def plugins(self) -> pluggy.PluginManager:
        if self._plugins is None:
            try:
                self._plugins = plugin_manager()
            except Exception as error:  # an installed plugin failed to import or register
                raise click.ClickException(
                    f"cannot load plugins: {type(error).__name__}: {error} "
                    f"(set {AUTOLOAD_ENV}=1 to skip plugins installed from other packages)"
                ) from error
        return self._plugins

    def catalog(self) -> Catalog:
        pm = self.plugins()
        try:
            return Catalog.from_plugins(pm)
        except Exception as error:  # two plugins claim a name, or a plugin's hook raised
            raise click.ClickException(f"cannot load plugins: {error}") from error


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# ---- the root group ---------------------------------------------------------------------------

_PLUGIN_COMMANDS = "pmflow.plugin_commands"
_PLUGINS = "pmflow.plugins"


class _Root(click.Group):
    """The built-in commands, then the plugins' (``pmflow_cli_commands``), loaded only when a name is
    not built in or the commands are listed. A plugin that fails is reported on stderr and skipped, so
    that ``pmflow --help`` and the built-in commands keep working."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_plugin_commands(ctx, self)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or _plugin_commands(ctx, self).get(cmd_name)


def _plugin_commands(ctx: click.Context, root: click.Group) -> dict[str, click.Command]:
    meta = ctx.find_root().meta
    if _PLUGIN_COMMANDS in meta:
        return dict(meta[_PLUGIN_COMMANDS])
    found: dict[str, click.Command] = {}
    meta[_PLUGIN_COMMANDS] = found
    try:
        pm = plugin_manager()
    except Exception as error:  # an installed plugin failed to import or register
        _warn(f"plugin commands not loaded: {type(error).__name__}: {error} (set {AUTOLOAD_ENV}=1 to skip)")
        return found
    meta[_PLUGINS] = pm
    for impl in reversed(pm.hook.pmflow_cli_commands.get_hookimpls()):
        try:
            commands = list(cast(Iterable[Any], impl.function() or ()))
        except Exception as error:
            _warn(f"commands of plugin '{impl.plugin_name}' not loaded: {type(error).__name__}: {error}")
            continue
        for command in commands:
            if not isinstance(command, click.Command) or not command.name:
                _warn(f"plugin '{impl.plugin_name}': pmflow_cli_commands returned {command!r}, not a command")
            elif command.name in root.commands or command.name in found:
                _warn(f"plugin '{impl.plugin_name}': command '{command.name}' exists already; not added")
            else:
                found[command.name] = command
    return dict(found)


def _warn(message: str) -> None:
    click.echo(f"pmflow: warning: {message}", err=True)


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="pmflow")
@click.option(
    "--workflows",
    "workflows",
    multiple=True,
    type=click.Path(path_type=Path),
    envvar=WORKFLOWS_ENV,
    show_envvar=True,
    help=f"Workflow directory or file (repeatable; in ${WORKFLOWS_ENV} separate several with "
    f"'{os.pathsep}').  [default: ./{DEFAULT_WORKFLOWS}]",
)
@click.pass_context
def cli(ctx: click.Context, workflows: tuple[Path, ...]) -> None:
    """pmflow: customer-centric projects as explicit, auditable lifecycles."""
    # The plugins loaded for a plugin's command, if any, are the ones every command then uses.
    ctx.obj = Settings(workflows=workflows or (Path(DEFAULT_WORKFLOWS),), _plugins=ctx.meta.get(_PLUGINS))


def main() -> None:
    """The console script ``pmflow``."""
    cli(prog_name="pmflow")


# ---- workflow ---------------------------------------------------------------------------------


@cli.group()
def workflow() -> None:
    """Validate, list, show and draw the workflow files."""


def _load(settings: Settings) -> WorkflowRegistry:
    """Every definition from the --workflows paths; exit 1 (problems on stderr) if any file is bad."""
    for path in settings.workflows:
        if not path.exists():
            raise click.ClickException(
                f"workflow directory '{path}' does not exist (use --workflows or ${WORKFLOWS_ENV})"
            )
    definitions, problems = check_files(settings.workflows, settings.catalog())
    if problems:
        for problem in _sorted(problems):
            click.echo(str(problem), err=True)
        raise click.ClickException(
            f"{_plural(len(problems), 'problem')} in workflow files; fix them first "
            "(see 'pmflow workflow validate')"
        )
    return WorkflowRegistry(definitions)


def _sorted(problems: Iterable[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.file, p.line, p.column))


def _definition(settings: Settings, name: str, version: int | None) -> WorkflowDefinition:
    registry = _load(settings)
    names = registry.names()
    if name not in names:
        hint = did_you_mean(name, names)
        raise click.UsageError(
            f"unknown workflow '{name}'"
            + (f"; {hint}" if hint else f" (known: {', '.join(names) or 'none'})")
        )
    definition = registry.get(name, version)
    if definition is None:
        versions = sorted(d.version for d in registry if d.name == name)
        raise click.UsageError(
            f"workflow '{name}' has no version {version} (versions: {', '.join(map(str, versions))})"
        )
    return definition


def _name_and_version(command: F) -> F:
    command = click.option(
        "--version",
        "version",
        type=click.IntRange(min=1),
        default=None,
        help="Which version of the workflow.  [default: the latest]",
    )(command)
    return click.argument("name")(command)


@workflow.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_obj
def validate(settings: Settings, paths: tuple[Path, ...]) -> None:
    """Check workflow files before anything runs them.

    PATHS are files or directories (default: the --workflows directory). Every problem is
    printed to standard output as 'file:line:column: message (suggestion)', followed by a
    summary line. Exits with 1 when there is any problem, 0 otherwise.
    """
    targets = paths or settings.workflows
    definitions, problems = check_files(targets, settings.catalog())
    if problems:
        for problem in _sorted(problems):
            click.echo(str(problem))
        files = len({p.file for p in problems})
        click.echo(f"{_plural(len(problems), 'problem')} in {_plural(files, 'file')}")
        raise click.exceptions.Exit(1)
    files = len(workflow_files(targets))
    click.echo(f"OK: {_plural(len(definitions), 'workflow')} in {_plural(files, 'file')}")


@workflow.command("list")
@click.pass_obj
def list_(settings: Settings) -> None:
    """List the workflows: name, versions, subject and label."""
    registry = _load(settings)
    rows = [("NAME", "VERSIONS", "SUBJECT", "LABEL")]
    for name in registry.names():
        latest = registry.get(name)
        assert latest is not None
        versions = ", ".join(str(d.version) for d in registry if d.name == name)
        rows.append((name, versions, latest.subject, latest.label))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join([*(row[i].ljust(widths[i]) for i in range(3)), row[3]]))


@workflow.command()
@_name_and_version
@click.pass_obj
def show(settings: Settings, name: str, version: int | None) -> None:
    """Describe a workflow: its states, transitions and fields."""
    click.echo("\n".join(describe(_definition(settings, name, version))))


@workflow.command()
@_name_and_version
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=FORMATS[0],
    show_default=True,
    help="mermaid: paste into a ```mermaid block; dot: pipe into 'dot -Tsvg'.",
)
@click.pass_obj
def diagram(settings: Settings, name: str, version: int | None, fmt: str) -> None:
    """Draw a workflow as a state diagram (Mermaid or Graphviz DOT) on standard output."""
    click.echo(render(_definition(settings, name, version), fmt), nl=False)


# ---- the text of `workflow show` ----------------------------------------------------------------


def _value(value: Any) -> str:
    """An argument as written in a workflow file (YAML flow style), not as Python's repr."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _refs(refs: Sequence[Ref]) -> str:
    return ", ".join(r.name if r.argument is None else f"{r.name}: {_value(r.argument)}" for r in refs)


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(" ".join(text.split()), width=96, initial_indent=indent, subsequent_indent=indent)


def _field_type(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if kind is None:
        return "enum" if "enum" in schema else "any"
    text = " | ".join(kind) if isinstance(kind, list) else str(kind)
    items = schema.get("items")
    if text == "array" and isinstance(items, Mapping) and "type" in items:
        text += f" of {_field_type(items)}"
    if "format" in schema:
        text += f" ({schema['format']})"
    return text


def _transition_lines(definition: WorkflowDefinition, t: TransitionDef) -> Iterator[str]:
    yield f"  {t.trigger}" + (f" - {t.label}" if t.label else "")
    sources = ", ".join("* (any state that is not final)" if s == ANY_STATE else s for s in t.sources)
    yield f"      {sources} -> {t.dest}" if t.dest is not None else f"      {sources} (internal)"
    if t.description:
        yield from _wrap(t.description, "      ")
    if t.roles:
        yield f"      roles: {', '.join(sorted(t.roles))}"
    if t.conditions:
        yield f"      conditions: {_refs(t.conditions)}"
    if t.unless:
        yield f"      unless: {_refs(t.unless)}"
    if t.actions:
        yield f"      actions: {_refs(t.actions)}"
    if t.payload_schema is not None:
        required = t.payload_schema.get("required") or []
        yield f"      payload requires: {', '.join(required)}" if required else "      payload: optional"


def describe(definition: WorkflowDefinition) -> list[str]:
    """The readable description printed by ``pmflow workflow show``."""
    d = definition
    lines = [f"{d.label} ({d.name}, version {d.version})"]
    if d.description:
        lines.extend(_wrap(d.description, "  "))
    lines.append("")
    lines.append(f"file:     {d.source_file}")
    lines.append(f"subject:  {d.subject}")
    lines.append(f"initial:  {d.initial}")
    if d.roles is not None:
        lines.append(f"roles:    {', '.join(sorted(d.roles))}")

    lines.append("")
    lines.append("States:")

    def tree(paths: Iterable[str], depth: int) -> None:
        for path in paths:
            state = d.states[path]
            marks = []
            parent_initial = d.states[state.parent].initial if state.parent else d.initial
            if parent_initial == path:
                marks.append("initial")
            if state.final:
                marks.append("final")
            pad = "  " * (depth + 1)
            head = f"{pad}{state.name}" + (f" ({', '.join(marks)})" if marks else "")
            if state.label != state.name.replace("_", " ").replace("-", " ").capitalize():
                head += f" - {state.label}"
            lines.append(head)
            detail = pad + "    "
            if state.description:
                lines.extend(_wrap(state.description, detail))
            if state.timeout is not None:
                lines.append(
                    f"{detail}after {format_duration(state.timeout.after)} -> {state.timeout.trigger}"
                )
            if state.on_enter:
                lines.append(f"{detail}on enter: {_refs(state.on_enter)}")
            if state.on_exit:
                lines.append(f"{detail}on exit: {_refs(state.on_exit)}")
            tree(state.children, depth + 1)

    tree([p for p, s in d.states.items() if s.parent is None], 0)

    lines.append("")
    lines.append("Transitions:")
    for transition in d.transitions:
        lines.extend(_transition_lines(d, transition))

    lines.append("")
    lines.append("Fields:" if d.fields else "Fields: none")
    if d.fields:
        width = max(len(name) for name in d.fields)
        types = {name: _field_type(f.schema) for name, f in d.fields.items()}
        type_width = max(len(t) for t in types.values())
        for name, field in d.fields.items():
            row = f"  {name.ljust(width)}  {types[name].ljust(type_width)}  "
            row += "required" if field.required else "optional"
            if field.label != name.replace("_", " ").replace("-", " ").capitalize():
                row += f"  {field.label}"
            lines.append(row)
    return lines


# ---- db -----------------------------------------------------------------------------------------


def _database_option(command: F) -> F:
    return click.option(
        "--database-url",
        "url",
        envvar=URL_ENV,
        show_envvar=True,
        default=None,
        help="SQLAlchemy URL, e.g. postgresql://user@host/db.  [default: sqlite:///pmflow.db]",
    )(command)


@cli.group()
def db() -> None:
    """Create and migrate the database schema."""


@contextmanager
def _database(url: str | None) -> Iterator[Database]:
    """A ``Database``; every database failure becomes a one-line message and exit code 1."""
    shown = database_url(url)
    database: Database | None = None
    try:
        database = Database(url)
        shown = database.url.render_as_string(hide_password=True)
        yield database
    except (ArgumentError, NoSuchModuleError) as error:
        _fail(f"bad database URL '{shown}': {error}")
    except ModuleNotFoundError as error:
        _fail(f"no driver for '{shown}': {error} (for PostgreSQL: pip install 'pmflow[postgres]')")
    except OperationalError as error:
        _fail(f"cannot connect to {shown}: {_first_line(error.orig or error)}")
    except migrate.UnknownRevision as error:
        _fail(str(error))
    except SQLAlchemyError as error:
        _fail(f"database error on {shown}: {_first_line(error)}")
    finally:
        if database is not None:
            database.dispose()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def _revisions(revisions: set[str], heads: set[str]) -> str:
    if not revisions:
        return "none (an empty database)"
    return ", ".join(f"{r} (head)" if r in heads else r for r in sorted(revisions))


@db.command()
@_database_option
def upgrade(url: str | None) -> None:
    """Create the tables or migrate them to the newest schema (safe to run again)."""
    heads = migrate.head_revisions(app.MIGRATIONS)
    with _database(url) as database:
        before = migrate.current_revisions(database)
        migrate.upgrade(database, locations=app.MIGRATIONS)
        after = migrate.current_revisions(database)
        where = database.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"{where} is up to date")
    else:
        click.echo(f"upgraded {where} from {_revisions(before, heads)}")
    click.echo(f"current revision: {_revisions(after, heads)}")


@db.command()
@_database_option
def current(url: str | None) -> None:
    """Show the schema revision the database is at."""
    heads = migrate.head_revisions(app.MIGRATIONS)
    with _database(url) as database:
        where = database.url.render_as_string(hide_password=True)
        path = database.url.database
        if database.is_sqlite and path not in (None, "", ":memory:") and not Path(path).exists():
            revisions: set[str] = set()  # do not create the file just to look at it
        else:
            revisions = migrate.current_revisions(database)
    click.echo(f"{where}: {_revisions(revisions, heads)}")
    unknown = revisions - migrate.known_revisions(app.MIGRATIONS)
    if unknown:
        click.echo("migrated by a newer pmflow: upgrade pmflow rather than the database")
    elif revisions != heads:
        click.echo(f"behind the newest schema ({', '.join(sorted(heads))}): run 'pmflow db upgrade'")


# ---- the domain: demo data and progress reports ---------------------------------------------------


@contextmanager
def _app(settings: Settings, url: str | None) -> Iterator[app.App]:
    """The whole application on the configured database; refusals become one-line messages."""
    with _database(url):  # connection problems, reported the same way as for `db`
        pass
    try:
        built = app.build(database_url=url, workflows=settings.workflows, plugins=settings.plugins())
    except WorkflowValidationError as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        _fail(f"{_plural(len(error.problems), 'problem')} in the workflow files; nothing was done")
    except SQLAlchemyError as error:
        _fail(f"database error: {_first_line(error)}")
    except migrate.UnknownRevision as error:
        _fail(str(error))
    except PluginSettingsError as error:
        for message in error.problems:
            click.echo(message, err=True)
        _fail(f"{_plural(len(error.problems), 'problem')} in the plugin settings; nothing was done")
    except PluginStartupError as error:
        _fail(str(error))
    try:
        yield built
    except PmflowError as error:
        _fail(error.message)
    finally:
        built.database.dispose()


@cli.command()
@_database_option
@click.pass_obj
def demo(settings: Settings, url: str | None) -> None:
    """Load sample data (two customers, three projects in different phases) into an empty database."""
    with _app(settings, url) as built:
        where = built.database.url.render_as_string(hide_password=True)
        try:
            data = load_demo(built.engine)
        except DemoAlreadyLoaded:
            click.echo(f"the demo data is already loaded in {where}")
            return
        click.echo(f"demo data loaded into {where}")
        for key, project_id in data.projects.items():
            project = built.engine.get(project_id)
            its = data.iterations.get(key, [])
            shown = f"  iteration{'s' if len(its) > 1 else ''} {', '.join(map(str, its))}" if its else ""
            click.echo(f"  project {project_id:>3}  {key:<11} {project.state}{shown}")
        click.echo(
            f"users: {', '.join(sorted(data.users))} "
            "(see `pmflow report <project id>` and `pmflow report <project id> --iteration <iteration id>`)"
        )


@cli.command()
@click.argument("project_id", type=int)
@click.option("--iteration", "iteration_id", type=int, default=None, help="Report on this iteration instead.")
@click.option(
    "--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True
)
@_database_option
@click.pass_obj
def report(settings: Settings, project_id: int, iteration_id: int | None, fmt: str, url: str | None) -> None:
    """Progress report of a project (or one of its iterations), as Markdown to send or as JSON."""
    with _app(settings, url) as built:
        if iteration_id is not None:
            result = iteration_report(built.engine, iteration_id)
            if _project_of(built, iteration_id) != project_id:
                _fail(f"iteration {iteration_id} is not part of project {project_id}")
        else:
            result = project_report(built.engine, project_id)
        if fmt == "json":
            click.echo(json.dumps(result.as_dict(), indent=2, default=str))
        else:
            click.echo(result.to_markdown(), nl=False)


def _project_of(built: app.App, iteration_id: int) -> int:
    with built.database.read() as conn:
        return int(
            conn.execute(select(iterations.c.project_id).where(iterations.c.id == iteration_id)).scalar_one()
        )


# ---- serve, users and tokens ---------------------------------------------------------------------


class _ServeCommand(click.Command):
    """``serve --help`` lists the API limit variables; imported only then (strawberry is slow to load)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from pmflow.api.limits import environment_help

        formatter.write_paragraph()
        formatter.write_text("API limits, CORS and introspection (environment; docs/security.md):")
        with formatter.indentation():
            for line in environment_help().splitlines():
                formatter.write_text(line)


@cli.command(cls=_ServeCommand)
@click.option("--host", default="127.0.0.1", show_default=True, envvar="PMFLOW_HOST", show_envvar=True)
@click.option("--port", default=8000, show_default=True, type=int, envvar="PMFLOW_PORT", show_envvar=True)
@click.option(
    "--demo", is_flag=True, help="Load the demo data into an empty database and print sign-in tokens."
)
@click.option("--no-graphiql", is_flag=True, help="Do not serve GraphiQL on GET /graphql.")
@click.option(
    "--no-worker",
    is_flag=True,
    help="Do not deliver the outbox or fire timers in this process (run 'pmflow worker').",
)
@_database_option
@click.pass_obj
def serve(
    settings: Settings, host: str, port: int, demo: bool, no_graphiql: bool, no_worker: bool, url: str | None
) -> None:
    """Serve the GraphQL API (HTTP and WebSocket) at http://HOST:PORT/graphql, with /healthz."""
    import uvicorn

    from pmflow.api.app import Settings as ApiSettings
    from pmflow.api.app import create_app, dev_mode
    from pmflow.api.limits import Limits, LimitsError

    try:
        limits = Limits.from_env(development=dev_mode())
    except LimitsError as error:  # refuse to start rather than run with a limit nobody meant
        _fail(str(error))
    with _app(settings, url) as built:  # validates workflows and migrates before listening
        if demo:
            _demo_tokens(built)
    from pmflow.api.schema import PluginSchemaError

    try:
        api = create_app(
            ApiSettings(
                database_url=url,
                workflows=settings.workflows,
                graphiql=not no_graphiql,
                limits=limits,
                worker=not no_worker,
                plugins=settings.plugins(),
            )
        )
    except PluginSchemaError as error:  # a plugin's GraphQL fields cannot be served
        _fail(f"cannot build the GraphQL schema: {error}")
    click.echo(f"pmflow GraphQL API on http://{host}:{port}/graphql")
    uvicorn.run(api, host=host, port=port, log_level="info")


@cli.command()
@click.option(
    "--once", is_flag=True, help="Deliver and fire what is due now, then exit (for cron jobs and scripts)."
)
@click.option(
    "--batch", default=100, show_default=True, type=click.IntRange(min=1), help="Outbox rows claimed at once."
)
@click.option(
    "--poll",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Seconds to wait when nothing is due.",
)
@click.option(
    "--max-attempts",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Failed attempts after which a delivery is dead-lettered.",
)
@click.option(
    "--lease",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a claimed row belongs to this worker; rows of a killed worker are retried after it.",
)
@_database_option
@click.pass_obj
def worker(
    settings: Settings, once: bool, batch: int, poll: float, max_attempts: int, lease: float, url: str | None
) -> None:
    """Deliver the outbox to the plugins' consumers: at least once, with backoff, then dead letter.
    Also fires state timeouts when they fall due.

    Stops gracefully on SIGTERM or SIGINT: the row being delivered is finished and recorded, the
    rows claimed but not started are handed back. Run several on PostgreSQL for more throughput.
    """
    import signal
    import threading
    from datetime import timedelta

    from pmflow.core.outbox import OutboxConsumerError, RetryPolicy, Worker
    from pmflow.core.timers import TimerRunner

    with _app(settings, url) as built:
        policy = RetryPolicy(max_attempts=max_attempts)
        timer_runner = TimerRunner(built.engine, policy=policy, batch=batch)
        try:
            runner = Worker.for_plugins(
                built.database,
                built.plugins,
                policy=policy,
                batch=batch,
                lease=timedelta(seconds=lease),
                clock=built.engine.clock,
                timers=timer_runner,
            )
        except OutboxConsumerError as error:
            _fail(f"cannot load outbox consumers: {error}")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        where = built.database.url.render_as_string(hide_password=True)
        click.echo(f"pmflow worker on {where}; consumers: {', '.join(sorted(runner.consumers)) or 'none'}")
        if once:
            click.echo(f"fired {_plural(timer_runner.drain(), 'due timer')}")  # their events go out below
            click.echo(f"handled {_plural(runner.drain(stop), 'outbox row')}")
            return
        runner.run(stop, poll)
        click.echo("pmflow worker stopped")


def _demo_tokens(built: app.App) -> None:
    try:
        data = load_demo(built.engine)
        click.echo("demo data loaded")
        users = data.users
    except DemoAlreadyLoaded:
        with built.database.read() as conn:
            users = {
                key: conn.execute(select(t_users.c.id).where(t_users.c.email == email)).scalar_one()
                for key, email in (("admin", "ada@pmflow.example"), ("carla", "carla@northwind.example"))
            }
        click.echo("demo data already loaded")
    admin = issue_token(built.engine, users["admin"], name="demo").token
    customer = issue_token(built.engine, users["carla"], name="demo").token
    click.echo(f"demo admin token (Ada Admin): {admin}")
    click.echo(f"demo customer token (Carla, Northwind Logistics): {customer}")


@cli.group()
def user() -> None:
    """Create users (team members, admins, customer contacts)."""


@user.command("create")
@click.option("--email", required=True)
@click.option("--name", default=None, help="Default: the part of the email before '@'.")
@click.option("--role", required=True, type=click.Choice(["admin", "manager", "member", "customer"]))
@click.option(
    "--customer", "customer", default=None, help="The customer's GraphQL id (or number), for --role customer."
)
@_database_option
@click.pass_obj
def user_create(
    settings: Settings, email: str, name: str | None, role: str, customer: str | None, url: str | None
) -> None:
    """Create a user and print a new API token for them, alone on the last line."""
    with _app(settings, url) as built:
        data = {
            "email": email,
            "name": name or email.split("@")[0],
            "role": role,
            "customer_id": _customer_pk(customer) if customer else None,
        }
        from pmflow.domain.services import Domain

        row = Domain(built.engine).users.create(Actor.system_actor("cli"), data)
        issued = issue_token(built.engine, row["id"], name="cli")
        click.echo(f"created user {row['id']} ({row['email']}, {row['role']})")
        click.echo(issued.token)


@cli.group()
def token() -> None:
    """Create, list and revoke API tokens (a token is shown once, when it is created)."""


@token.command("create")
@click.option("--email", default=None, help="The user's email.")
@click.option(
    "--user", "user_ref", default=None, help="The user's GraphQL id (or number), instead of --email."
)
@click.option(
    "--name", default="cli", show_default=True, help="What the token is for, e.g. 'laptop' or 'ci'."
)
@click.option("--expires-in", default=None, help="Lifetime as an ISO-8601 duration, e.g. P30D or PT12H.")
@click.option("--expires-at", default=None, help="Expiry as an ISO-8601 time (UTC without an offset).")
@_database_option
@click.pass_obj
def token_create(
    settings: Settings,
    email: str | None,
    user_ref: str | None,
    name: str,
    expires_in: str | None,
    expires_at: str | None,
    url: str | None,
) -> None:
    """Issue a new API token for a user and print it, alone on the last line."""
    if (email is None) == (user_ref is None):
        raise click.UsageError("give the user with exactly one of --email and --user")
    with _app(settings, url) as built:
        user_id = user_by_email(built.engine, email).id if email is not None else _user_pk(user_ref or "")
        expiry = parse_expiry(built.engine.clock(), expires_in=expires_in, expires_at=expires_at)
        issued = issue_token(built.engine, user_id, name=name, expires_at=expiry)
        until = f"expires {_when(issued.expires_at)}" if issued.expires_at else "does not expire"
        click.echo(
            f"created token {issued.id} '{name}' for user {user_id}; it {until}; it is shown only now:"
        )
        click.echo(issued.token)


@token.command("revoke")
@click.argument("token_id", type=click.IntRange(min=1))
@_database_option
@click.pass_obj
def token_revoke(settings: Settings, token_id: int, url: str | None) -> None:
    """Revoke a token (see `pmflow token list` for ids); requests with it fail from now on."""
    with _app(settings, url) as built:
        revoked = revoke_token(built.engine, token_id)
        click.echo(f"revoked token {revoked.id} '{revoked.name}' of {revoked.user_email}")


@token.command("list")
@click.option("--email", default=None, help="Only this user's tokens.")
@_database_option
@click.pass_obj
def token_list(settings: Settings, email: str | None, url: str | None) -> None:
    """List tokens (never their secrets): id, user, name, prefix, times and status."""
    with _app(settings, url) as built:
        user_id = user_by_email(built.engine, email).id if email is not None else None
        found = list_tokens(built.engine, user_id)
        now = built.engine.clock()
    if not found:
        click.echo("no tokens" + (f" for {email}" if email else ""))
        return
    rows = [("ID", "USER", "NAME", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "STATUS")]
    rows += [
        (
            str(t.id),
            t.user_email,
            t.name,
            t.prefix + "...",
            _when(t.created_at),
            _when(t.expires_at, "never"),
            _when(t.last_used_at, "never"),
            t.status(now),
        )
        for t in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        click.echo("  ".join([*cells, row[-1]]))


def _when(moment: Any, empty: str = "") -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else empty


def _user_pk(value: str) -> int:
    if value.isdigit():
        return int(value)
    from pmflow.api.ids import expect_id

    try:
        return expect_id(value, "User", field="user")
    except PmflowError as error:
        raise click.BadParameter(error.message, param_hint="--user") from error


def _customer_pk(value: str) -> int:
    if value.isdigit():
        return int(value)
    from pmflow.api.ids import expect_id

    try:
        return expect_id(value, "Customer", field="customer")
    except PmflowError as error:
        raise click.BadParameter(error.message, param_hint="--customer") from error


# ---- plugins -----------------------------------------------------------------------------------


@cli.group()
def plugins() -> None:
    """Inspect the loaded plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.pass_obj
def plugins_list(settings: Settings, as_json: bool) -> None:
    """Each plugin: its name, where it comes from (built-in, or its package and version) and its hooks."""
    rows = describe_plugins(settings.plugins())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max((len(r["name"]) for r in rows), default=0)
    source_width = max((len(_source(r)) for r in rows), default=0)
    for row in rows:
        hooks = ", ".join(row["hooks"]) or "-"
        click.echo(f"{row['name'].ljust(width)}  {_source(row).ljust(source_width)}  {hooks}")


def describe_plugins(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """Name, source (``built-in``, ``entry point`` or ``registered``), distribution, version and hooks."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        dist = dists.get(id(plugin))
        if dist is not None:
            source, distribution, version = "entry point", dist.project_name, dist.version
        else:
            source = "built-in" if name in app.DEFAULT_PLUGINS else "registered"
            distribution, version = None, None
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())
        rows.append(
            {"name": name, "source": source, "distribution": distribution, "version": version, "hooks": hooks}
        )
    return rows


def _source(row: Mapping[str, Any]) -> str:
    return f"{row['distribution']} {row['version']}" if row["distribution"] else str(row["source"])


if __name__ == "__main__":  # pragma: no cover
    main()
