"""Composition root: which plugins and table branches make up pmflow, and one call to wire them.

The command line, the API and the tests build their engine here, so all see the same plugins,
workflows and schema.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pluggy

from pmflow.core.database import Database
from pmflow.core.engine import Clock, WorkflowEngine, utc_now
from pmflow.core.migrate import Locations, ensure_schema
from pmflow.core.plugins import DEFAULT_PLUGINS as CORE_PLUGINS
from pmflow.core.plugins import Catalog, make_plugin_manager
from pmflow.core.registry import WorkflowRegistry

WORKFLOWS_ENV = "PMFLOW_WORKFLOWS"
DEFAULT_WORKFLOWS = "workflows"

# Built-in plugins, in registration order; external ones come from the entry-point group `pmflow`.
DEFAULT_PLUGINS: tuple[str, ...] = (*CORE_PLUGINS, "pmflow.domain.guards")

# Alembic branches beyond the core's.
MIGRATIONS: Locations = (("pmflow.domain.migrations", "versions"),)


def workflows_paths(paths: str | Path | Sequence[str | Path] | None = None) -> list[Path]:
    """Given paths, else ``PMFLOW_WORKFLOWS`` (several separated by ``os.pathsep``), else ./workflows."""
    if isinstance(paths, (str, Path)):
        return [Path(paths)]
    if paths:
        return [Path(p) for p in paths]
    configured = os.environ.get(WORKFLOWS_ENV)
    if configured:
        return [Path(p) for p in configured.split(os.pathsep) if p]
    return [Path(DEFAULT_WORKFLOWS)]


def plugin_manager(*, load_entrypoints: bool | None = None) -> pluggy.PluginManager:
    return make_plugin_manager(DEFAULT_PLUGINS, load_entrypoints=load_entrypoints)


@dataclass
class App:
    database: Database
    plugins: pluggy.PluginManager
    registry: WorkflowRegistry
    engine: WorkflowEngine


def build(
    *,
    database_url: str | None = None,
    workflows: str | Path | Sequence[str | Path] | None = None,
    plugins: pluggy.PluginManager | None = None,
    migrate: bool = True,
    clock: Clock = utc_now,
) -> App:
    """Plugins, validated workflows (raises ``WorkflowValidationError``), a migrated database."""
    pm = plugins if plugins is not None else plugin_manager()
    catalog = Catalog.from_plugins(pm)
    registry = WorkflowRegistry.load(workflows_paths(workflows), catalog)
    database = Database(database_url)
    if migrate:
        ensure_schema(database, locations=MIGRATIONS)
    engine = WorkflowEngine(database, registry, pm, catalog=catalog, clock=clock)
    return App(database=database, plugins=pm, registry=registry, engine=engine)
