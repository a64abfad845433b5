"""The plugin manager factory and the catalog of named conditions and actions.

Built once per application (never at import): specs, default plugins, entry points,
``check_pending``. Set ``PMFLOW_DISABLE_PLUGIN_AUTOLOAD=1`` to skip entry points (the tests do).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TypeVar

import pluggy

from pmflow.core import hookspecs
from pmflow.core.types import Action, Condition

ENTRY_POINT_GROUP = "pmflow"
AUTOLOAD_ENV = "PMFLOW_DISABLE_PLUGIN_AUTOLOAD"

# Built-ins are ordinary plugins; upper layers pass their own list to make_plugin_manager.
T = TypeVar("T", Condition, Action)

DEFAULT_PLUGINS: tuple[str, ...] = ("pmflow.core.builtins", "pmflow.core.live")


def make_plugin_manager(
    plugins: Sequence[str | object] = DEFAULT_PLUGINS,
    *,
    load_entrypoints: bool | None = None,
) -> pluggy.PluginManager:
    """Build a manager with the hook specs, ``plugins`` (module names or objects) and entry points."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        obj: object = importlib.import_module(plugin) if isinstance(plugin, str) else plugin
        name = plugin if isinstance(plugin, str) else _plugin_name(obj)
        pm.register(obj, name=name)
    if load_entrypoints is None:
        load_entrypoints = not os.environ.get(AUTOLOAD_ENV)
    if load_entrypoints:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()
    return pm


def _plugin_name(obj: object) -> str | None:
    if isinstance(obj, ModuleType):
        return obj.__name__
    return None


class CatalogError(Exception):
    """Two plugins claim the same condition or action name."""


@dataclass(frozen=True)
class Catalog:
    """Every named condition and action the loaded plugins provide."""

    conditions: Mapping[str, Condition]
    actions: Mapping[str, Action]

    @classmethod
    def empty(cls) -> Catalog:
        return cls(conditions={}, actions={})

    @classmethod
    def from_plugins(cls, pm: pluggy.PluginManager) -> Catalog:
        conditions: dict[str, Condition] = _merge("condition", pm.hook.pmflow_conditions())
        actions: dict[str, Action] = _merge("action", pm.hook.pmflow_actions())
        return cls(conditions=conditions, actions=actions)


def _merge(kind: str, results: Iterable[Iterable[T]]) -> dict[str, T]:
    merged: dict[str, T] = {}
    for provided in results:
        for item in provided:
            if item.name in merged:
                first = getattr(merged[item.name], "check", getattr(merged[item.name], "run", None))
                second = getattr(item, "check", getattr(item, "run", None))
                raise CatalogError(
                    f"{kind} '{item.name}' is provided twice: by {_where(first)} and {_where(second)}"
                )
            merged[item.name] = item
    return merged


def _where(fn: object) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"
