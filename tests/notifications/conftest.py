"""Real aiosmtpd servers on 127.0.0.1 for the notification tests (no SMTP mocks)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from thidua.notifications.message import build_message, message_id_for
from thidua.notifications.sink import RunningSink, make_self_signed_cert
from thidua.notifications.transport import OutgoingMessage, SmtpSettings

T = TypeVar("T")

SENDER = "thiduat@ldld.binhdinh.vn"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """pytest-asyncio is not installed: each async test body runs in its own loop."""
    return asyncio.run(coro)


def make_messages(count: int, *, recipients: list[str] | None = None, prefix: str = "k") -> list[OutgoingMessage]:
    """Distinct small messages, keys ``{prefix}{i}``, one recipient each unless given."""
    messages = []
    for i in range(count):
        to = recipients or [f"cdcs{i}@donvi.binhdinh.vn"]
        raw = build_message(
            sender=f'"Liên đoàn Lao động tỉnh" <{SENDER}>',
            to=[f"Công đoàn cơ sở số {i} <{addr}>" for addr in to],
            subject=f"Còn {i % 7} ngày: báo cáo sơ kết đợt 2",
            text=f"Kính gửi đơn vị số {i}.",
            html=None,
            message_id=message_id_for(f"{prefix}{i}", "thidua.test"),
        )
        messages.append(OutgoingMessage(key=f"{prefix}{i}", sender=SENDER, recipients=to, raw=raw))
    return messages


def settings_for(sink: RunningSink, **overrides: Any) -> SmtpSettings:
    """Settings aimed at ``sink`` with test-sized timeouts and backoff."""
    options: dict[str, Any] = dict(
        host=sink.host,
        port=sink.port,
        sender=SENDER,
        timeout_s=5.0,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        local_hostname="client.thidua.test",
    )
    options.update(overrides)
    return SmtpSettings(**options)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(cert.pem, key.pem) of a self-signed certificate for 127.0.0.1/localhost."""
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))
