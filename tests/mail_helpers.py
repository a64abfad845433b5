"""A real SMTP server for the tests of everything that mails (email channel, surveys, early warnings)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass
class Inbox:
    """An aiosmtpd handler: keeps every message; refuses the first ``refuse`` with 451 (try later)."""

    refuse: int = 0
    messages: list[Message] = field(default_factory=list)
    envelopes: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse > 0:
            self.refuse -= 1
            return "451 Requested action aborted: try again later"
        self.messages.append(message_from_bytes(envelope.content))
        self.envelopes.append(list(envelope.rcpt_tos))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """An SMTP server on a free port, and pmflow's ``PMFLOW_SMTP_*`` pointing at it, for the block."""
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        monkeypatch.setenv("PMFLOW_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("PMFLOW_SMTP_PORT", str(controller.port))
        monkeypatch.setenv("PMFLOW_SMTP_FROM", "pmflow@pmflow.example")
        yield handler
    finally:
        controller.stop()
