"""The surveys plugin's settings (``[plugins.surveys]`` or ``PMFLOW_PLUGIN_SURVEYS_<KEY>``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pmflow.core.durations import parse_duration
from pmflow.core.hookspecs import PluginSettings

NAME = "surveys"
DEFAULT_TEMPLATES_DIR = Path("surveys")
DEFAULT_ANSWER_URL = "http://127.0.0.1:8000/survey"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "templates_dir": {
            "type": "string",
            "minLength": 1,
            "description": "Directory of your survey templates (default ./surveys when it exists).",
        },
        "answer_url": {
            "type": "string",
            "minLength": 1,
            "default": DEFAULT_ANSWER_URL,
            "description": "The page that answers a survey; mails link to <answer_url>?token=<token>.",
        },
        "remind_after": {
            "type": "string",
            "minLength": 2,
            "default": "P3D",
            "description": "ISO duration between the invitation and each reminder.",
        },
        "max_reminders": {"type": "integer", "minimum": 0, "maximum": 10, "default": 2},
        "low_csat": {"type": "integer", "minimum": 1, "maximum": 5, "default": 2},
        "low_nps": {"type": "integer", "minimum": 0, "maximum": 10, "default": 6},
    },
    "additionalProperties": False,
}


def declaration() -> PluginSettings:
    return PluginSettings(NAME, SCHEMA)


def _default(key: str) -> Any:
    return SCHEMA["properties"][key].get("default")


@dataclass(frozen=True)
class SurveySettings:
    templates_dir: Path | None = None  # None: ./surveys when it exists
    answer_url: str = DEFAULT_ANSWER_URL
    remind_after: timedelta = timedelta(days=3)
    max_reminders: int = 2
    low_csat: int = 2  # a csat answer at or below it raises a feedback item
    low_nps: int = 6  # an nps answer at or below it (a detractor) raises a feedback item

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> SurveySettings:
        """From the validated plugin settings; a bad ``remind_after`` raises naming the setting."""
        values = values or {}

        def get(key: str) -> Any:
            value = values.get(key)
            return _default(key) if value is None else value

        try:
            remind_after = parse_duration(str(get("remind_after")))
        except ValueError as error:
            raise ValueError(f"plugin 'surveys' setting 'remind_after': {error}") from None
        directory = values.get("templates_dir")
        return cls(
            templates_dir=None if directory is None else Path(str(directory)),
            answer_url=str(get("answer_url")),
            remind_after=remind_after,
            max_reminders=int(get("max_reminders")),
            low_csat=int(get("low_csat")),
            low_nps=int(get("low_nps")),
        )

    def template_dirs(self, builtin: Path) -> list[Path]:
        """Built-ins first, then the organisation's (which override)."""
        if self.templates_dir is not None:
            return [builtin, self.templates_dir]
        return [builtin, DEFAULT_TEMPLATES_DIR] if DEFAULT_TEMPLATES_DIR.is_dir() else [builtin]
