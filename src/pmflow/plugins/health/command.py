"""``pmflow health check``: recompute and record every project's health (for cron: overdue dates and
waiting customers change the score without any event)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from pmflow.core.database import URL_ENV
from pmflow.domain import tables as t


@click.group()
def health() -> None:
    """Project health: recompute, record and warn (docs/health.md)."""


@health.command()
@click.option("--project", "project_id", type=int, default=None, help="Only this project (its id).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--database-url",
    "url",
    envvar=URL_ENV,
    show_envvar=True,
    default=None,
    help="SQLAlchemy URL, e.g. postgresql://user@host/db.  [default: sqlite:///pmflow.db]",
)
@click.pass_context
def check(ctx: click.Context, project_id: int | None, fmt: str, url: str | None) -> None:
    """Recompute each project's health, record what changed and raise early warnings; print the scores."""
    from pmflow.plugins.health import MONITOR_PLUGIN
    from pmflow.plugins.health.monitor import HealthMonitor

    built = _build(ctx, url)
    try:
        monitor = built.plugins.get_plugin(MONITOR_PLUGIN)
        if not isinstance(monitor, HealthMonitor):
            raise click.ClickException("the health plugin did not start (is pmflow.plugins.health loaded?)")
        with built.database.read() as conn:
            query = select(t.projects.c.id, t.projects.c.name).order_by(t.projects.c.id)
            if project_id is not None:
                query = query.where(t.projects.c.id == project_id)
            projects = [(int(r.id), str(r.name)) for r in conn.execute(query)]
        if project_id is not None and not projects:
            raise click.ClickException(f"no project with id {project_id}")
        results: list[dict[str, Any]] = []
        for pid, name in projects:
            recorded = monitor.check(pid)
            if recorded is None:
                continue
            report = recorded.report
            results.append(
                {
                    "project_id": pid,
                    "name": name,
                    "score": report.score,
                    "level": report.level,
                    "recorded": recorded.stored,
                    "warning": recorded.warning,
                    "deductions": report.explain(),
                }
            )
        _print(results, fmt)
    except SQLAlchemyError as error:
        raise click.ClickException(f"database error: {str(error).splitlines()[0]}") from error
    finally:
        built.database.dispose()


def _print(results: Sequence[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(list(results), indent=2))
        return
    if not results:
        click.echo("no project")
        return
    for r in results:
        note = "WARNING raised" if r["warning"] else "recorded" if r["recorded"] else "unchanged"
        line = f"project {r['project_id']:>4}  {r['name']:<30} {r['score']:>3}  {r['level']:<8} {note}"
        click.echo(line + (f"  ({r['deductions']})" if r["deductions"] else ""))


def _build(ctx: click.Context, url: str | None) -> Any:
    """The app as the other commands build it: the root's --workflows and plugins."""
    from pmflow import app
    from pmflow.core.plugins import PluginStartupError
    from pmflow.core.problems import WorkflowValidationError
    from pmflow.core.settings import PluginSettingsError

    root = ctx.find_root().obj
    workflows: Sequence[Path] | None = getattr(root, "workflows", None)
    plugins = root.plugins() if hasattr(root, "plugins") else None
    try:
        return app.build(database_url=url, workflows=workflows, plugins=plugins)
    except WorkflowValidationError as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException("problems in the workflow files; nothing was done") from error
    except PluginSettingsError as error:
        for message in error.problems:
            click.echo(message, err=True)
        raise click.ClickException("problems in the plugin settings; nothing was done") from error
    except (PluginStartupError, SQLAlchemyError) as error:
        raise click.ClickException(str(error).splitlines()[0]) from error
