"""GraphQL over HTTP compliance: the npm ``graphql-http`` audit suite against a live ``pmflow serve``.

``tests/http_audit/audit.mjs`` runs every server audit of the pinned ``graphql-http`` and exits
non-zero when a MUST or SHOULD audit fails. Needs node (>= 18) and npm on PATH; ``npm ci`` installs
the locked packages into ``tests/http_audit/node_modules`` when they are missing or stale.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AUDIT = Path(__file__).resolve().parent / "http_audit"
WORKFLOWS = ROOT / "workflows"
START_TIMEOUT = 60.0

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node and npm are needed on PATH to run the graphql-http audit suite (tests/http_audit)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def audit_tool() -> Path:
    """``tests/http_audit`` with its locked node packages installed."""
    installed = AUDIT / "node_modules" / ".package-lock.json"  # written by npm ci / npm install
    lock = AUDIT / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        npm = shutil.which("npm")
        assert npm is not None
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=AUDIT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"npm ci failed in {AUDIT}:\n{done.stdout}\n{done.stderr}"
    return AUDIT


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``pmflow serve`` on a fresh SQLite file and a free port; its /graphql URL."""
    tmp = tmp_path_factory.mktemp("http_audit")
    port = free_port()
    env = {**os.environ, "PMFLOW_DISABLE_PLUGIN_AUTOLOAD": "1"}
    command = [
        sys.executable,
        "-m",
        "pmflow.cli",
        "--workflows",
        str(WORKFLOWS),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--database-url",
        f"sqlite:///{tmp / 'pmflow.db'}",
    ]
    log_path = tmp / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", process, log_path)
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pmflow serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    pytest.fail(f"pmflow serve not healthy after {START_TIMEOUT}s:\n{log_path.read_text()}")


def test_graphql_http_audit_suite_passes(audit_tool: Path, server: str) -> None:
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, "audit.mjs", server], cwd=audit_tool, capture_output=True, text=True, timeout=300
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"graphql-http audits failed (exit {done.returncode}):\n{output}"
    # the pinned suite: every MUST and SHOULD audit ran and passed
    assert "MUST 13/13 ok" in output, output
    assert "SHOULD 23/23 ok" in output, output
