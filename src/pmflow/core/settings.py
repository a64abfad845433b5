"""Per-plugin settings: declared by a plugin (``pmflow_plugin_settings``), read from the ``PMFLOW_CONFIG``
TOML file (``[plugins.<name>]``) and the environment (``PMFLOW_PLUGIN_<NAME>_<KEY>``, which wins),
validated against the plugin's JSON Schema at startup.

A mistake stops the start with one message per problem, each naming the plugin, the key and where the
value came from, so that nobody runs with a setting they did not mean.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pluggy
from jsonschema import Draft202012Validator, SchemaError

from pmflow.core.hookspecs import PluginSettings
from pmflow.core.problems import did_you_mean

CONFIG_ENV = "PMFLOW_CONFIG"
ENV_PREFIX = "PMFLOW_PLUGIN_"
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class PluginSettingsError(Exception):
    """Settings of one or more plugins are missing or invalid; ``problems`` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid plugin settings: " + "; ".join(problems))
        self.problems = problems


def env_name(plugin: str, key: str) -> str:
    """``PMFLOW_PLUGIN_<NAME>_<KEY>`` of a setting."""
    return f"{ENV_PREFIX}{plugin.upper()}_{key.upper()}"


def declarations(pm: pluggy.PluginManager) -> dict[str, PluginSettings]:
    """Every plugin's declared settings by name; a bad declaration raises naming its module."""
    found: dict[str, PluginSettings] = {}
    problems: list[str] = []
    for impl in pm.hook.pmflow_plugin_settings.get_hookimpls():
        module = getattr(impl.function, "__module__", None) or impl.plugin_name
        declared = impl.function()
        if declared is None:
            continue
        if not isinstance(declared, PluginSettings):
            problems.append(
                f"pmflow_plugin_settings in module '{module}' returned {declared!r}, not PluginSettings"
            )
            continue
        if not NAME.match(declared.name):
            problems.append(
                f"plugin settings name {declared.name!r} (module '{module}') must be lower_snake_case"
            )
            continue
        if declared.name in found:
            problems.append(
                f"plugin settings '{declared.name}' are declared twice (again in module '{module}')"
            )
            continue
        try:
            Draft202012Validator.check_schema({"type": "object", **dict(declared.schema)})
        except SchemaError as error:
            problems.append(
                f"plugin '{declared.name}' (module '{module}') has an invalid settings schema: "
                f"{error.message}"
            )
            continue
        found[declared.name] = declared
    if problems:
        raise PluginSettingsError(problems)
    return found


def load_plugin_settings(
    pm: pluggy.PluginManager,
    environ: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each declaring plugin's validated settings (defaults filled in), by plugin name."""
    environ = os.environ if environ is None else environ
    declared = declarations(pm)
    problems: list[str] = []
    tables = _config_tables(environ, problems)
    for name in sorted(set(tables) - set(declared)):
        hint = did_you_mean(name, declared)
        problems.append(
            f"{environ.get(CONFIG_ENV)}: [plugins.{name}]: no loaded plugin takes settings named '{name}'"
            + (f" ({hint})" if hint else "")
        )
    result = {}
    for name, declaration in declared.items():
        result[name] = _settings_of(declaration, tables.get(name, {}), environ, problems)
    if problems:
        raise PluginSettingsError(problems)
    return result


def _config_tables(environ: Mapping[str, str], problems: list[str]) -> dict[str, dict[str, Any]]:
    path = environ.get(CONFIG_ENV)
    if not path:
        return {}
    try:
        config = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        problems.append(f"{CONFIG_ENV}={path}: cannot read it: {error.strerror}")
        return {}
    except tomllib.TOMLDecodeError as error:
        problems.append(f"{path}: not valid TOML: {error}")
        return {}
    plugins = config.get("plugins", {})
    if not isinstance(plugins, dict) or not all(isinstance(v, dict) for v in plugins.values()):
        problems.append(f"{path}: 'plugins' must hold one table per plugin, e.g. [plugins.example]")
        return {}
    return plugins


def _settings_of(
    declaration: PluginSettings, table: dict[str, Any], environ: Mapping[str, str], problems: list[str]
) -> dict[str, Any]:
    name = declaration.name
    properties: Mapping[str, Any] = declaration.schema.get("properties", {})
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key, value in table.items():
        if key not in properties:
            hint = did_you_mean(key, properties)
            problems.append(
                f"plugin '{name}': unknown setting '{key}' in [plugins.{name}] of {environ.get(CONFIG_ENV)}"
                + (f" ({hint})" if hint else f" (known: {', '.join(properties) or 'none'})")
            )
            continue
        values[key] = value
        origin[key] = f"[plugins.{name}] of {environ.get(CONFIG_ENV)}"
    prefix = f"{ENV_PREFIX}{name.upper()}_"
    by_env = {env_name(name, key): key for key in properties}
    for variable, raw in environ.items():
        if not variable.startswith(prefix):
            continue
        known = by_env.get(variable)
        if known is None:
            hint = did_you_mean(variable, by_env)
            problems.append(
                f"plugin '{name}': {variable} is not one of its settings" + (f" ({hint})" if hint else "")
            )
            continue
        values[known] = _from_env(raw, properties[known])
        origin[known] = variable
    for key, schema in properties.items():
        if key not in values and isinstance(schema, Mapping) and "default" in schema:
            values[key] = schema["default"]
    validator = Draft202012Validator({"type": "object", **dict(declaration.schema)})
    for error in sorted(validator.iter_errors(values), key=lambda e: list(e.path)):
        if not error.path:
            problems.append(f"plugin '{name}': {error.message} (set [plugins.{name}] or {prefix}<KEY>)")
        else:
            bad = str(error.path[0])
            # inside an object or array setting, name the key too: weights.blocked_work
            inner = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in list(error.path)[1:])
            problems.append(
                f"plugin '{name}' setting '{bad}{inner}' (from {origin.get(bad, 'its default')}): "
                f"{error.message}"
            )
    return values


def _from_env(raw: str, schema: Any) -> Any:
    """An environment string as the type the schema asks for; left a string when it does not parse,
    so that validation reports it."""
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if kind == "string" or kind is None:
        return raw
    if kind == "boolean":
        lowered = raw.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw
