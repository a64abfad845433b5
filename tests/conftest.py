"""Shared fixtures. Every storage test runs on SQLite and, when PMFLOW_TEST_DATABASE_URL is set,
on PostgreSQL (each test in a schema of its own, dropped afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

# Entry-point plugins installed on the machine must not leak into tests (like pytest's own switch).
os.environ.setdefault("PMFLOW_DISABLE_PLUGIN_AUTOLOAD", "1")

import pluggy
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from pmflow.app import MIGRATIONS, plugin_manager
from pmflow.core.database import Database, normalise_url
from pmflow.core.engine import WorkflowEngine
from pmflow.core.migrate import upgrade
from pmflow.core.plugins import Catalog
from pmflow.core.registry import WorkflowRegistry
from pmflow.domain.services import Domain

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
PG_URL = os.environ.get("PMFLOW_TEST_DATABASE_URL")

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not PG_URL, reason="PMFLOW_TEST_DATABASE_URL is not set"),
    ),
]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pmflow.db'}"
        return
    assert PG_URL is not None
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(normalise_url(PG_URL))
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(normalise_url(PG_URL)).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    upgrade(db, locations=MIGRATIONS)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def plugins() -> pluggy.PluginManager:
    """The built-in plugins pmflow ships with (entry points off)."""
    return plugin_manager()


@pytest.fixture
def catalog(plugins: pluggy.PluginManager) -> Catalog:
    return Catalog.from_plugins(plugins)


@pytest.fixture
def registry(catalog: Catalog) -> WorkflowRegistry:
    """The default workflows shipped in workflows/."""
    return WorkflowRegistry.load([WORKFLOWS], catalog)


@pytest.fixture
def engine(database: Database, registry: WorkflowRegistry, plugins: pluggy.PluginManager) -> WorkflowEngine:
    return WorkflowEngine(database, registry, plugins)


@pytest.fixture
def write_workflow(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a workflow file into a fresh directory and return its path."""
    folder = tmp_path / "workflows"
    folder.mkdir()

    def write(text: str, name: str = "flow.yaml") -> Path:
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def domain(engine: WorkflowEngine) -> Domain:
    """The customer-project services over the default workflows, on a fresh database."""
    return Domain(engine)
