"""Every hook is documented and exercised: a new hook without docs or a test fails here."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from pmflow.core import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(
    name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("pmflow_")
)


def test_there_are_hooks() -> None:
    assert "pmflow_conditions" in HOOKS and len(HOOKS) >= 5


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_signature(hook: str) -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = re.search(rf"^## {hook}\n(.*?)(?=^## |\Z)", docs, re.S | re.M)
    assert section, f"docs/plugins.md has no '## {hook}' section"
    parameters = inspect.signature(getattr(hookspecs, hook)).parameters
    for parameter in parameters:
        assert parameter in section.group(1), f"{hook}: argument '{parameter}' is not documented"
    assert "```python" in section.group(1), f"{hook}: no example"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook: str) -> None:
    others = [p for p in (ROOT / "tests").glob("test_*.py") if p.name != "test_docs.py"]
    assert any(f"def {hook}(" in p.read_text(encoding="utf-8") for p in others), f"no test implements {hook}"


def test_documented_hooks_exist() -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert sorted(re.findall(r"^## (pmflow_\w+)", docs, re.M)) == HOOKS
