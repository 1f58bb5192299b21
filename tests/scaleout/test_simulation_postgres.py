"""The production database: migrations and a shortened whole-campaign replay on PostgreSQL, the simulation's
summary checked against what the database and the SMTP sink hold."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.models.outbox import OutboxMessage
from thidua.models.submissions import ConsolidationSnapshot, ReviewStatus, Submission
from thidua.models.tables import Assignment, ObligationDef, Unit
from thidua.notifications.sink import EmlDirectoryHandler, message_id_of, start_sink
from thidua.db import all_metadata
from thidua.settings import Settings
from thidua.simulation import DemoOptions, Simulation

O = OutboxMessage.__table__  # type: ignore[attr-defined]


def _scalar(engine: Engine, statement) -> int:  # noqa: ANN001
    with Session(engine) as session:
        return session.execute(statement).scalar_one()


@pytest.mark.postgres
def test_migrations_create_every_table_on_postgresql(pg_engine: Engine) -> None:
    assert set(all_metadata().tables) <= set(inspect(pg_engine).get_table_names())


@pytest.mark.postgres
@pytest.mark.slow
def test_shortened_campaign_replay_on_postgresql_matches_the_database_and_the_sink(
    pg_engine: Engine, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    sink = start_sink(EmlDirectoryHandler(data_dir / "mail"))
    settings = Settings(
        data_dir=data_dir,
        database_url=pg_engine.url.render_as_string(hide_password=False),
        smtp_host=sink.host,
        smtp_port=sink.port,
        smtp_security="none",
    )
    lines: list[str] = []
    options = DemoOptions(cdcs=30, start=date(2023, 5, 20), end=date(2023, 6, 20), use_prefect=False, fresh=True)
    try:
        summary = Simulation(settings, options, lines.append, lambda done, total: None).run()
    finally:
        sink.stop()

    assert not (data_dir / "thidua.db").exists()  # everything went to PostgreSQL
    units = int(re.search(r"Nhập (\d+) đơn vị", lines[0]).group(1))  # type: ignore[union-attr]
    assert units == _scalar(pg_engine, select(func.count()).select_from(Unit)) > 30

    S = Submission.__table__  # type: ignore[attr-defined]
    reports = S.c.source == "demo"  # sending a list of nominations also records the window's obligation as done
    assert summary.submissions == _scalar(pg_engine, select(func.count()).select_from(S).where(reports)) > 0
    accepted = _scalar(pg_engine, select(func.count()).where(reports, S.c.review_status == ReviewStatus.ACCEPTED.value))
    returned = _scalar(pg_engine, select(func.count()).where(reports, S.c.review_status == ReviewStatus.RETURNED.value))
    assert (summary.reviews["accept"], summary.reviews["return"]) == (accepted, returned)

    # Every mail the ledger records as sent reached the sink exactly once, and nothing else did.
    with Session(pg_engine) as session:
        ledger = session.execute(select(O.c.kind, O.c.status, O.c.message_id)).all()
    sent_ids = sorted(row.message_id for row in ledger if row.status == "sent")
    at_sink = sorted(message_id_of(path.read_bytes()) for path in (data_dir / "mail").glob("*.eml"))
    assert summary.eml_files == len(at_sink) == len(sent_ids) == sum(summary.mail_by_kind.values())
    assert at_sink == sent_ids
    assert summary.mail_failed == summary.mail_unknown == 0
    assert summary.mail_by_kind["reminder"] == sum(summary.reminders_by_rung.values()) > 0
    assert {"truoc-7-ngay", "truoc-3-ngay", "truoc-1-ngay", "qua-han-1-ngay"} <= set(summary.reminders_by_rung)

    # The round-1 report was consolidated the day after its deadline (10/06/2023) into stored snapshots (later
    # versions appear when late reports change the figures before the signed report on 17/06).
    consolidation = next(line for line in lines if "tổng hợp báo cáo đợt 1" in line)
    assert consolidation.startswith("11/06/2023")
    written = int(re.search(r"(\d+) bản tổng hợp mới", consolidation).group(1))  # type: ignore[union-attr]
    with Session(pg_engine) as session:
        snapshots = session.execute(
            select(ConsolidationSnapshot.unit_id, ObligationDef.code)  # type: ignore[call-overload]
            .join(ObligationDef, ObligationDef.id == ConsolidationSnapshot.obligation_id)
            .where(ConsolidationSnapshot.version == 1)
        ).all()
        province = session.execute(select(Unit.id).where(Unit.code == "BDH")).scalar_one()  # type: ignore[call-overload]
    assert written == len(snapshots) > 0
    assert {code for _, code in snapshots} == {"so-ket-dot-1"} and province in {unit for unit, _ in snapshots}

    # The compliance table covers every unit that owes the round-1 report.
    round_1 = next(groups for title, groups in summary.compliance.items() if "đợt 1" in title)
    owed = _scalar(
        pg_engine,
        select(func.count())
        .select_from(Assignment)
        .join(ObligationDef)  # type: ignore[arg-type]
        .where(ObligationDef.code == "so-ket-dot-1", Assignment.active.is_(True)),
    )  # type: ignore[attr-defined]
    assert sum(group[0] for group in round_1.values()) == owed > 30


@pytest.mark.postgres
@pytest.mark.slow
def test_the_whole_2023_campaign_replays_on_postgresql(pg_engine: Engine, tmp_path: Path) -> None:
    """The full year (15/02–31/12/2023) on a small tree: every round consolidated and reported, the year's
    nominations decided, every mail the ledger sent at the sink once."""
    data_dir = tmp_path / "data"
    sink = start_sink(EmlDirectoryHandler(data_dir / "mail"))
    settings = Settings(
        data_dir=data_dir,
        database_url=pg_engine.url.render_as_string(hide_password=False),
        smtp_host=sink.host,
        smtp_port=sink.port,
        smtp_security="none",
    )
    options = DemoOptions(cdcs=40, use_prefect=False, fresh=True)
    try:
        summary = Simulation(settings, options, lambda line: None, lambda done, total: None).run()
    finally:
        sink.stop()

    assert summary.days == (date(2023, 12, 31) - date(2023, 2, 15)).days + 1
    S = Submission.__table__  # type: ignore[attr-defined]
    assert (
        summary.submissions == _scalar(pg_engine, select(func.count()).select_from(S).where(S.c.source == "demo")) > 0
    )
    with Session(pg_engine) as session:
        consolidated = set(
            session.execute(
                select(ObligationDef.code).join(
                    ConsolidationSnapshot, ConsolidationSnapshot.obligation_id == ObligationDef.id
                )  # type: ignore[call-overload]
            ).scalars()
        )
    assert {"so-ket-dot-1", "so-ket-dot-2", "tong-ket-nam"} <= consolidated
    for stem in ("bd-2023-so-ket-dot-1", "bd-2023-so-ket-dot-2", "bd-2023-tong-ket-nam"):
        assert (data_dir / "reports" / f"{stem}.xlsx").exists() and (data_dir / "reports" / f"{stem}.docx").exists()
    sent = _scalar(pg_engine, select(func.count()).where(O.c.status.in_(("sent", "partial"))))
    ids = [message_id_of((path).read_bytes()) for path in (data_dir / "mail").glob("*.eml")]
    assert summary.eml_files == len(ids) == len(set(ids)) == sent > 0
    assert summary.mail_failed == summary.mail_unknown == 0
    # The 8.000-initiative target (to 31/08) is judged when its báo cáo nhanh, the figures to 31/08, is due: 08/09.
    assert summary.targets[0][4] == date(2023, 9, 8)
