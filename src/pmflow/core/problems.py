"""Problems found in workflow files, each pointing at a file, line and column."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.message}"
        if self.suggestion:
            text += f" ({self.suggestion})"
        return text


class WorkflowValidationError(Exception):
    """Raised with every problem of every file at once; nothing was loaded."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        count = len(self.problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in workflow files:\n"
            + "\n".join(str(p) for p in self.problems)
        )


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """'did you mean 'x'?' for the closest candidate, or None when nothing is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None
