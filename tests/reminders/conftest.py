"""Fixtures of the reminders suite: the Bình Định 2023 campaign (a copy in tmp that tests may edit) over the
small synthetic unit tree, real aiosmtpd servers on 127.0.0.1, and a controllable clock (`vn(...)`)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from thidua.models.clock import local_to_utc, utc_to_local
from thidua.models.outbox import OutboxMessage
from thidua.models.tables import Assignment, ObligationDef, Unit
from thidua.notifications.sink import RunningSink
from thidua.notifications.transport import SmtpSettings
from tests.factories import small_binh_dinh
from thidua.db import session_scope
from thidua.services import reminders as service
from thidua.services.campaigns import load_campaign
from thidua.settings import CONFIG_DIR, Settings

CODE = "bd-2023"
SENDER = "thidua@ldld.binhdinh.vn"
O = OutboxMessage.__table__  # type: ignore[attr-defined]


def vn(day: int, month: int, year: int = 2023, hour: int = 9, minute: int = 0) -> datetime:
    """A wall-clock time in Việt Nam, as aware UTC."""
    return local_to_utc(datetime(year, month, day, hour, minute))


def local(moment: datetime) -> str:
    return utc_to_local(moment).strftime("%d/%m/%Y %H:%M")


def run(coro):
    return asyncio.run(coro)


@dataclass
class Campaign:
    """The campaign loaded from an editable copy of config/campaigns/binh_dinh_2023.yaml."""

    engine: Engine
    settings: Settings
    path: Path
    units: dict[str, Unit]

    def edit(self, old: str, new: str) -> None:
        text = self.path.read_text(encoding="utf-8")
        assert old in text, old
        self.path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def reload(self):
        return load_campaign(self.engine, self.path)

    def assignment_id(self, unit_code: str, obligation_code: str) -> int:
        with session_scope(self.engine) as session:
            return session.execute(
                select(Assignment.id)
                .join(Unit, Unit.id == Assignment.unit_id)
                .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
                .where(Unit.code == unit_code, ObligationDef.code == obligation_code)
            ).scalar_one()

    def set_status(self, unit_code: str, obligation_code: str, status: str) -> None:
        """What the submission workflow does to an assignment (tested in its own suite)."""
        assignment_id = self.assignment_id(unit_code, obligation_code)
        with session_scope(self.engine) as session:
            session.execute(update(Assignment).where(Assignment.id == assignment_id).values(status=status))

    def set_status_all(self, obligation_code: str, status: str) -> None:
        with session_scope(self.engine) as session:
            obligation = select(ObligationDef.id).where(ObligationDef.code == obligation_code).scalar_subquery()
            session.execute(update(Assignment).where(Assignment.obligation_id == obligation).values(status=status))

    def set_unit(self, unit_code: str, **values: Any) -> None:
        with session_scope(self.engine) as session:
            session.execute(update(Unit).where(Unit.code == unit_code).values(**values))

    def outbox(self, **where: Any) -> list[Any]:
        with session_scope(self.engine) as session:
            query = select(O).order_by(O.c.id)
            for column, value in where.items():
                query = query.where(O.c[column] == value)
            return list(session.execute(query).all())

    def dispatch(self, now: datetime, smtp: SmtpSettings, **kwargs: Any) -> service.DispatchSummary:
        return run(service.run_dispatch(self.engine, self.settings, now=now, smtp=smtp, **kwargs))


QUICK = "bao-cao-nhanh-sang-kien"  # the báo cáo nhanh of the 31/8 target: opens 31/08, due 08/09, the districts owe it


def load_binh_dinh(
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    *,
    districts: int = 2,
    cdcs_per_district: int = 3,
    quick_report_filed: bool = True,
) -> Campaign:
    """quick_report_filed: the suite's scenarios are round 2's autumn (from late September); the districts' báo cáo
    nhanh, due 08/09, is accepted by then, as the spring reports are in test_replay_autumn_2023. Its own reminders
    (and what an unfiled one adds in October) are tested in test_quick_report.py."""
    folder = tmp_path / "config" / "campaigns"
    folder.mkdir(parents=True)
    path = folder / "bd.yaml"
    shutil.copy(CONFIG_DIR / "campaigns" / "binh_dinh_2023.yaml", path)
    with session_scope(engine) as session:
        units = small_binh_dinh(session, districts=districts, cdcs_per_district=cdcs_per_district)
    load_campaign(engine, path)
    campaign = Campaign(engine, settings, path, units)
    if quick_report_filed:
        campaign.set_status_all(QUICK, "da_duyet")
    return campaign


@pytest.fixture
def campaign(engine: Engine, settings: Settings, tmp_path: Path) -> Campaign:
    return load_binh_dinh(engine, settings, tmp_path)


@pytest.fixture
def sinks(sink_factory: Callable[..., RunningSink]) -> Callable[..., RunningSink]:
    """start_sink(handler, ...) whose servers are stopped after the test (the suite-wide sink_factory)."""
    return sink_factory


def smtp_for(host: str, port: int, **overrides: Any) -> SmtpSettings:
    """Client settings with test-sized timeouts and backoff."""
    options: dict[str, Any] = dict(
        host=host,
        port=port,
        sender=SENDER,
        sender_name="Hệ thống thi đua LĐLĐ tỉnh",
        timeout_s=5.0,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        local_hostname="client.thidua.test",
    )
    options.update(overrides)
    return SmtpSettings(**options)


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class Mail:
    to: str
    subject: str
    date: datetime
    message_id: str
    text: str
    reply_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def mails_of(accepted: list[Any]) -> list[Mail]:
    """Messages a FaultInjectingHandler accepted, decoded."""
    out = []
    for received in accepted:
        message = parse(received.content)
        text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        out.append(
            Mail(
                to=received.rcpt_tos[0],
                subject=str(message["Subject"]),
                date=message["Date"].datetime,
                message_id=received.message_id,
                text=text,
                reply_to=message["Reply-To"].addresses[0].addr_spec if message["Reply-To"] else None,
            )
        )
    return out


@pytest.fixture
def any_campaign(any_engine: Engine, settings: Settings, tmp_path: Path) -> Campaign:
    """The same campaign on SQLite and on PostgreSQL."""
    return load_binh_dinh(any_engine, settings, tmp_path)
