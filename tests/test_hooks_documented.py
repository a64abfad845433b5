"""Every hook spec is documented in docs/plugins.md (arguments, what its return value means, an example)
and exercised by a test (a test plugin implements it, or a test calls it); a new hook without either
fails here, naming the hook."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from pmflow.core import hookspecs

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "plugins.md"
HOOKS = sorted(
    name
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(function, f"{hookspecs.PROJECT_NAME}_spec")
)
# Words that say what the return value means, or that there is none to give.
RETURN_WORDS = re.compile(r"\b(returns?|returning|return value)\b", re.I)


def section(hook: str) -> str:
    found = re.search(rf"^## {hook}\n(.*?)(?=^## |\Z)", DOCS.read_text(encoding="utf-8"), re.S | re.M)
    assert found, f"{hook}: docs/plugins.md has no '## {hook}' section"
    return found.group(1)


def test_the_specs_are_found() -> None:
    assert {"pmflow_conditions", "pmflow_cli_commands", "pmflow_startup"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    text = section(hook)
    signature = next((line for line in text.splitlines() if line.startswith(f"`{hook}(")), None)
    assert signature, f"{hook}: its section does not start with the signature `{hook}(...)`"
    for argument in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert argument in signature, f"{hook}: argument '{argument}' is not in the documented signature"
    assert RETURN_WORDS.search(text), f"{hook}: the section does not say what the return value means"
    example = re.search(r"```python\n(.*?)```", text, re.S)
    assert example, f"{hook}: the section has no ```python example"
    assert f"def {hook}(" in example.group(1), f"{hook}: the example does not implement the hook"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook: str) -> None:
    implemented = re.compile(rf"@hookimpl\s*\n\s*def {hook}\(")
    called = re.compile(rf"\.hook\.{hook}\b")
    users = [
        path.name
        for path in sorted((ROOT / "tests").glob("test_*.py"))
        if path.name not in ("test_hooks_documented.py", "test_docs.py")
        and (implemented.search(text := path.read_text(encoding="utf-8")) or called.search(text))
    ]
    assert users, f"{hook}: no test module implements it with @hookimpl or calls pm.hook.{hook}"
