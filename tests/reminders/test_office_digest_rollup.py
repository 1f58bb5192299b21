"""The office digest's figures per obligation and its list of units without a usable address are what the shared
roll-up (`status.rollup_columns`) and the unit lists say, read the plain way: assignments joined to their unit and
obligation, grouped by obligation; the owing units' lists checked one by one. The digest reads them a faster way
(counted per obligation, obligations joined after; units probed by id); this holds it to the plain reading over
every status (sent late, accepted, returned, overdue, not yet due) and every inactive piece (unit, obligation,
assignment), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import String, cast, select, update
from sqlmodel import Session

from thidua.models.tables import Assignment, ObligationDef, Unit
from thidua.services import reminders as service
from thidua.services.reminders import contents
from thidua.services.status import rollup_columns
from tests.reminders.conftest import Campaign, vn

A = Assignment.__table__  # type: ignore[attr-defined]
U = Unit.__table__  # type: ignore[attr-defined]
OB = ObligationDef.__table__  # type: ignore[attr-defined]


def _plain_rollup(session: Session, campaign_id: int, now: datetime) -> list[tuple[Any, ...]]:
    """The roll-up as the digest read it before: one join, grouped by obligation."""
    owed, submitted, accepted, returned, overdue, late_submitted = rollup_columns(now)
    rows = session.execute(
        select(OB.c.title, OB.c.due_on, owed, submitted, accepted, returned, overdue, late_submitted)
        .select_from(A.join(OB, OB.c.id == A.c.obligation_id).join(U, U.c.id == A.c.unit_id))
        .where(A.c.campaign_id == campaign_id, A.c.active.is_(True), OB.c.active.is_(True), U.c.active.is_(True))
        .group_by(OB.c.id, OB.c.title, OB.c.due_on)
        .order_by(OB.c.due_on, OB.c.id)
    ).all()
    return [(r[0], r[1], *(int(v or 0) for v in r[2:])) for r in rows]


def _plain_bad_units(session: Session, campaign_id: int) -> list[dict[str, Any]]:
    owing = select(A.c.unit_id).where(A.c.campaign_id == campaign_id, A.c.active.is_(True))
    units = session.execute(
        select(U.c.code, U.c.name, U.c.emails).where(U.c.id.in_(owing), U.c.active.is_(True)).order_by(U.c.code)
    ).all()
    return [
        {"code": u.code, "name": u.name, "problem": problem}
        for u in units
        if (problem := service.email_problems(u.emails))
    ]


def _digest_rollup(context: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (o["title"], o["owing"], o["submitted"], o["accepted"], o["returned"], o["overdue"], o["late_submitted"])
        for o in context["obligations"]
    ]


def _every_status(campaign: Campaign) -> None:
    """so-ket-dot-1 (due 10/06): sent late, accepted, returned, sent on time, never sent (overdue); an inactive
    unit that still holds active assignments; an inactive obligation; an inactive assignment; address lists that
    are empty, invalid, or fine with a blank entry; bad lists on units that owe nothing active."""
    for unit, status, late in [
        ("BDH.D1.1", "da_gui", True),
        ("BDH.D1.2", "da_duyet", False),
        ("BDH.D1.3", "tra_lai", True),
        ("BDH.D2.1", "da_gui", False),
    ]:
        assignment_id = campaign.assignment_id(unit, "so-ket-dot-1")
        with Session(campaign.engine) as session, session.begin():
            session.execute(update(A).where(A.c.id == assignment_id).values(status=status, late=late))
    campaign.set_status("BDH.D1.2", "so-ket-dot-2", "da_gui")  # submitted before its deadline (10/10)
    with Session(campaign.engine) as session, session.begin():
        session.execute(update(OB).where(OB.c.code == "tong-ket-nam").values(active=False))
        inactive = campaign.assignment_id("BDH.D1.1", "so-ket-dot-2")
        session.execute(update(A).where(A.c.id == inactive).values(active=False))
        d2_3 = select(U.c.id).where(U.c.code == "BDH.D2.3").scalar_subquery()
        session.execute(update(A).where(A.c.unit_id == d2_3).values(active=False))  # owes nothing active
    campaign.set_unit("BDH.D2.2", active=False)  # its assignments stay active: not counted, not listed
    campaign.set_unit("BDH.D2.2", emails=[])
    campaign.set_unit("BDH.D2.3", emails=["khong-hop-le"])
    campaign.set_unit("BDH.D1.2", emails=[])
    campaign.set_unit("BDH.D1.3", emails=["cdcs@example.vn", "sai@"])
    campaign.set_unit("BDH.D2", emails=["huyen2@example.vn", " "])
    campaign.set_unit("TLD", emails=[])  # above the campaign: owes nothing


@pytest.mark.parametrize("by_id", [True, False])
def test_the_digest_rollup_and_bad_addresses_are_the_plain_reading(
    any_campaign: Campaign, monkeypatch: pytest.MonkeyPatch, by_id: bool
) -> None:
    campaign = any_campaign
    _every_status(campaign)
    if not by_id:  # more flagged units than read back by id: one ordered scan of the owing units
        monkeypatch.setattr(contents, "_FLAGGED_BY_ID", 1)
    with Session(campaign.engine) as session:
        campaign_id = service.campaign_id_for(campaign.engine, "bd-2023")
        info = service.campaign_infos(session, [campaign_id])[campaign_id]
        for now in (vn(5, 6), vn(11, 10), vn(31, 12, hour=23)):
            plain = _plain_rollup(session, campaign_id, now)
            context = service.office_digest_context(session, info, now=now, frequency="daily")
            assert _digest_rollup(context) == [(r[0], *r[2:]) for r in plain]
            assert [o["due_date"] for o in context["obligations"]] == [f"{r[1]:%d/%m/%Y}" for r in plain]
            bad = _plain_bad_units(session, campaign_id)
            assert context["bad_email_units"] == bad and context["bad_email_count"] == len(bad)
        # The fixture reaches every case: at 11/10 so-ket-dot-1 has each status, the inactive pieces are left out.
        [first] = [r for r in _plain_rollup(session, campaign_id, vn(11, 10)) if r[0] == "Báo cáo sơ kết đợt 1"]
        # 8 units owe it; D2.2 is inactive, D2.3's assignment is. Submitted: D1.1, D1.2, D2.1; overdue: the returned
        # D1.3 and the 2 districts; late: D1.1 (D1.3's late version was returned, so it counts as overdue).
        assert first[2:] == (6, 3, 1, 1, 3, 1)  # owed, submitted, accepted, returned, overdue, late_submitted
        assert "Tổng kết năm" not in str(_plain_rollup(session, campaign_id, vn(11, 10)))
        assert [(u["code"], u["problem"]) for u in bad] == [
            ("BDH.D1.2", "chưa có địa chỉ e-mail"),
            ("BDH.D1.3", "địa chỉ không hợp lệ: sai@"),
        ]
        stored = session.execute(select(cast(U.c.emails, String)).where(U.c.code == "BDH.D2")).scalar_one()
        assert contents._stored_email_problems(stored) is None
