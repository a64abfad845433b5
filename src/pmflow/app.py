"""Composition root: which plugins and table branches make up pmflow, and one call to wire them.

The command line, the API and the tests build their engine here, so all see the same plugins,
workflows and schema.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from pmflow.core.database import Database
from pmflow.core.engine import Clock, WorkflowEngine, utc_now
from pmflow.core.migrate import Locations, ensure_schema
from pmflow.core.plugins import DEFAULT_PLUGINS as CORE_PLUGINS
from pmflow.core.plugins import Catalog, make_plugin_manager, run_startup
from pmflow.core.registry import WorkflowRegistry
from pmflow.core.settings import load_plugin_settings

WORKFLOWS_ENV = "PMFLOW_WORKFLOWS"
DEFAULT_WORKFLOWS = "workflows"

# Built-in plugins, in registration order; external ones come from the entry-point group `pmflow`.
DEFAULT_PLUGINS: tuple[str, ...] = (
    *CORE_PLUGINS,
    "pmflow.domain.guards",
    "pmflow.plugins.webhooks",
    "pmflow.plugins.mail",
    "pmflow.plugins.inapp",
    "pmflow.plugins.health",
    "pmflow.plugins.surveys",
)

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
    # Each plugin's validated settings by its declared name (docs/plugins.md, "Plugin settings").
    plugin_settings: dict[str, dict[str, Any]] = field(default_factory=dict)


def build(
    *,
    database_url: str | None = None,
    workflows: str | Path | Sequence[str | Path] | None = None,
    plugins: pluggy.PluginManager | None = None,
    migrate: bool = True,
    clock: Clock = utc_now,
) -> App:
    """Plugins, validated workflows (raises ``WorkflowValidationError``), a migrated database.

    Plugin settings are validated first (``PluginSettingsError``); the plugins' ``pmflow_startup``
    runs last (``PluginStartupError``).
    """
    pm = plugins if plugins is not None else plugin_manager()
    plugin_settings = load_plugin_settings(pm)
    catalog = Catalog.from_plugins(pm)
    registry = WorkflowRegistry.load(workflows_paths(workflows), catalog)
    database = Database(database_url)
    if migrate:
        ensure_schema(database, locations=MIGRATIONS)
    engine = WorkflowEngine(database, registry, pm, catalog=catalog, clock=clock)
    built = App(
        database=database, plugins=pm, registry=registry, engine=engine, plugin_settings=plugin_settings
    )
    try:
        run_startup(pm, built)
    except Exception:
        database.dispose()
        raise
    return built
