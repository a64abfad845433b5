"""The layers of DESIGN.md: the core imports nothing above it; the domain nothing of the API."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pmflow.core
import pmflow.domain

ABOVE = {
    "pmflow.core": ("pmflow.domain", "pmflow.api", "pmflow.plugins", "pmflow.cli", "pmflow.app"),
    "pmflow.domain": ("pmflow.api", "pmflow.plugins", "pmflow.cli", "pmflow.app"),
}


def modules_loaded_by(package: str) -> list[str]:
    root = {"pmflow.core": pmflow.core, "pmflow.domain": pmflow.domain}[package]
    names = [m.name for m in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")]
    names = [n for n in names if ".migrations." not in n]  # Alembic loads those itself
    code = (
        "import importlib, json, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('pmflow'))))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return list(json.loads(output))


def test_the_core_imports_nothing_above_it() -> None:
    loaded = modules_loaded_by("pmflow.core")
    assert [m for m in loaded if m.startswith(ABOVE["pmflow.core"])] == []


def test_the_domain_imports_neither_the_api_nor_the_cli() -> None:
    loaded = modules_loaded_by("pmflow.domain")
    assert [m for m in loaded if m.startswith(ABOVE["pmflow.domain"])] == []
