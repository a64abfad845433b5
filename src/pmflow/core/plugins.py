"""The plugin manager factory and the catalog of named conditions and actions.

Built once per application (never at import): specs, default plugins, entry points,
``check_pending``. Set ``PMFLOW_DISABLE_PLUGIN_AUTOLOAD=1`` to skip entry points (the tests do).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar, cast

import pluggy
from jsonschema import Draft202012Validator, SchemaError
from sqlalchemy import Connection

from pmflow.core import hookspecs
from pmflow.core.hookspecs import RiskSignal, SurveyTrigger
from pmflow.core.loader import JSON_TYPES
from pmflow.core.problems import did_you_mean
from pmflow.core.types import Action, Condition, Subject

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
    """A plugin's condition or action cannot be used: a name claimed twice, an item that is not a
    ``Condition``/``Action``, a name that is not an identifier, or an invalid argument schema."""


# What a workflow file can name: `{fields_set: [...]}`, `[comment_given]`.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
        """Every plugin's conditions and actions, each checked; ``CatalogError`` names the culprit."""
        conditions = _merge("condition", _provided(pm.hook.pmflow_conditions, "condition", Condition))
        actions = _merge("action", _provided(pm.hook.pmflow_actions, "action", Action))
        return cls(conditions=conditions, actions=actions)


def _provided(hook: Any, kind: str, expected: type[T]) -> Iterable[Iterable[T]]:
    """Each implementation's items, in the order pluggy calls them, checked one by one so that a
    mistake names the plugin module it comes from."""
    for impl in reversed(hook.get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            continue
        module = getattr(impl.function, "__module__", None) or impl.plugin_name
        items = list(impl.function() or ())
        for item in items:
            _check_item(kind, expected, item, module)
        yield items


def _check_item(kind: str, expected: type[Any], item: object, module: str) -> None:
    where = f"(from {_hook_name(kind)} in module '{module}')"
    if not isinstance(item, expected):
        raise CatalogError(
            f"{_hook_name(kind)} in module '{module}' returned {item!r}, not a {expected.__name__}"
        )
    name = item.name
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise CatalogError(
            f"{kind} name {name!r} {where} is not an identifier: use letters, digits and '_', "
            "not starting with a digit"
        )
    for attribute in ("check", "run", "check_argument"):
        function = getattr(item, attribute, None)
        if function is not None and not callable(function):
            raise CatalogError(f"{kind} '{name}' {where}: {attribute} must be a function, got {function!r}")
    schema = item.argument
    if schema is not None:
        if not isinstance(schema, Mapping):
            raise CatalogError(
                f"{kind} '{name}' {where}: its argument schema must be a mapping, got {schema!r}"
            )
        try:
            Draft202012Validator.check_schema(dict(schema))
        except SchemaError as error:
            at = "/".join(str(p) for p in error.path)
            message = error.message
            if error.path and error.path[-1] == "type" and isinstance(error.instance, str):
                hint = did_you_mean(error.instance, JSON_TYPES)
                message = f"unknown type '{error.instance}'" + (f" ({hint})" if hint else "")
            raise CatalogError(
                f"{kind} '{name}' {where} has an invalid argument schema: {message}"
                + (f" (at '{at}')" if at else "")
            ) from None


def _hook_name(kind: str) -> str:
    return f"pmflow_{kind}s"


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


class PluginStartupError(Exception):
    """A plugin's ``pmflow_startup`` raised; the message names its module."""


def run_startup(pm: pluggy.PluginManager, app: object) -> None:
    """Call every ``pmflow_startup`` in pluggy's order, so that a failure names its plugin."""
    for impl in reversed(pm.hook.pmflow_startup.get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            continue
        module = getattr(impl.function, "__module__", None) or impl.plugin_name
        try:
            impl.function(**{name: app for name in impl.argnames})
        except Exception as error:
            raise PluginStartupError(
                f"plugin '{impl.plugin_name}' failed to start (pmflow_startup in module '{module}'): "
                f"{type(error).__name__}: {error}"
            ) from error


def risk_signals(pm: pluggy.PluginManager, project: Subject, connection: Connection) -> list[RiskSignal]:
    """Every plugin's risk signals for ``project``, in pluggy's order; a wrong item raises naming it."""
    signals: list[RiskSignal] = []
    for provided in pm.hook.pmflow_risk_signals(project=project, connection=connection):
        for signal in provided or ():
            if not isinstance(signal, RiskSignal):
                raise CatalogError(f"pmflow_risk_signals returned {signal!r}, not a RiskSignal")
            signals.append(signal)
    return signals


def survey_triggers(pm: pluggy.PluginManager) -> dict[str, SurveyTrigger]:
    """Every plugin's survey triggers by name; a name twice or a wrong item raises naming the module."""
    found: dict[str, tuple[SurveyTrigger, str]] = {}
    for impl in reversed(pm.hook.pmflow_survey_triggers.get_hookimpls()):
        module = getattr(impl.function, "__module__", None) or impl.plugin_name
        for trigger in cast(Iterable[Any], impl.function() or ()):
            if not isinstance(trigger, SurveyTrigger):
                raise CatalogError(
                    f"pmflow_survey_triggers in module '{module}' returned {trigger!r}, not a SurveyTrigger"
                )
            if trigger.name in found:
                raise CatalogError(
                    f"survey trigger '{trigger.name}' is provided twice: "
                    f"by module '{found[trigger.name][1]}' and module '{module}'"
                )
            found[trigger.name] = (trigger, module)
    return {name: trigger for name, (trigger, _) in found.items()}
