"""Typed errors of the engine.

Expected failures carry a stable ``code`` that the API turns into typed errors; the message is
written for the person who pressed the button.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    NOT_ALLOWED = "NOT_ALLOWED"
    GUARD_FAILED = "GUARD_FAILED"
    CONFLICT = "CONFLICT"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    PLUGIN_ERROR = "PLUGIN_ERROR"


class PmflowError(Exception):
    """Base of every expected failure; ``code`` is stable, ``message`` is for people."""

    code: ErrorCode = ErrorCode.INVALID_INPUT

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, Any]:
        return {"code": str(self.code), "message": self.message, "field": self.field}


class NotFound(PmflowError):
    code = ErrorCode.NOT_FOUND


class NotAllowed(PmflowError):
    """The actor's roles do not open this trigger."""

    code = ErrorCode.NOT_ALLOWED


class InvalidInput(PmflowError):
    code = ErrorCode.INVALID_INPUT


class InvalidTransition(PmflowError):
    """The trigger does not leave the subject's current state (or does not exist)."""

    code = ErrorCode.INVALID_TRANSITION


class GuardFailed(PmflowError):
    """One or more conditions (or a plugin veto) block the transition; ``reasons`` lists them all."""

    code = ErrorCode.GUARD_FAILED

    def __init__(self, trigger: str, reasons: list[str]) -> None:
        super().__init__(f"'{trigger}' is blocked: " + "; ".join(reasons), field="trigger")
        self.reasons = reasons


class Conflict(PmflowError):
    """Someone else changed the subject first; names what it is now."""

    code = ErrorCode.CONFLICT

    def __init__(self, subject_id: int, current_version: int, current_state: str) -> None:
        super().__init__(
            f"subject {subject_id} was changed concurrently: it is now at version "
            f"{current_version} in state '{current_state}'",
            field="expectedVersion",
        )
        self.current_version = current_version
        self.current_state = current_state


class PluginError(PmflowError):
    """A plugin's condition, action or hook raised; the transition was aborted, nothing written."""

    code = ErrorCode.PLUGIN_ERROR

    def __init__(self, what: str, error: BaseException) -> None:
        super().__init__(f"{what} failed: {type(error).__name__}: {error}")
        self.what = what
        self.__cause__ = error
