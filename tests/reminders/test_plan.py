"""Set-based planning, preview, claims and recovery against the database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session

from thidua.models.reminders import escalation_key, office_digest_key, reminder_key
from thidua.models.tables import AuditLog
from tests.reminders.conftest import CODE, O, local, vn
from thidua.db import session_scope
from thidua.services import reminders as service

CDCS = ["BDH.D1.1", "BDH.D1.2", "BDH.D1.3", "BDH.D2.1", "BDH.D2.2", "BDH.D2.3"]
DISTRICTS = ["BDH.D1", "BDH.D2"]


def email(code: str) -> str:
    return f"{code.lower().replace('.', '-')}@example.vn"


def test_plan_queues_the_current_rung_once_with_keys_built_in_sql(any_campaign) -> None:
    result = service.plan_due(any_campaign.engine, now=vn(3, 10))
    rows = any_campaign.outbox(kind="reminder")
    expected = {
        reminder_key(any_campaign.assignment_id(code, "so-ket-dot-2"), "truoc-7-ngay:0", email(code))
        for code in CDCS + DISTRICTS
    }
    assert result.reminders == 8
    assert {r.key for r in rows} == expected
    assert {(r.rung, r.template, r.status, r.scheduled_at) for r in rows} == {
        ("truoc-7-ngay:0", "reminder_upcoming", "pending", vn(3, 10, hour=8))
    }
    # Planning again, later the same day or on the next tick, adds nothing.
    assert service.plan_due(any_campaign.engine, now=vn(3, 10, hour=15)).reminders == 0
    assert len(any_campaign.outbox(kind="reminder")) == 8


def test_only_owing_active_units_with_addresses_are_planned(campaign) -> None:
    campaign.set_status("BDH.D1.2", "so-ket-dot-2", "da_gui")
    campaign.set_status("BDH.D1.3", "so-ket-dot-2", "da_duyet")
    campaign.set_status("BDH.D2.1", "so-ket-dot-2", "tra_lai")  # returned: still owed
    campaign.set_unit("BDH.D2.2", active=False)
    campaign.set_unit("BDH.D2.3", emails=["bdh-d2-3@example.vn", " Chu.Tich@Example.VN ", "BDH-D2-3@example.vn"])
    campaign.set_unit("BDH.D1", emails=[])
    with session_scope(campaign.engine) as session:
        session.execute(
            update(service.A)
            .where(service.A.c.id == campaign.assignment_id("BDH.D2", "so-ket-dot-2"))
            .values(active=False)
        )
    service.plan_due(campaign.engine, now=vn(3, 10))
    recipients = sorted(r.recipient for r in campaign.outbox(kind="reminder"))
    assert recipients == sorted([email("BDH.D1.1"), email("BDH.D2.1"), email("BDH.D2.3"), "chu.tich@example.vn"])
    preview = service.preview(campaign.engine, CODE, now=vn(3, 10), days=10)
    assert [u.code for u in preview.units_without_email] == ["BDH.D1"]


def test_escalation_is_one_digest_per_parent_per_day(any_campaign) -> None:
    service.plan_due(any_campaign.engine, now=vn(11, 10))  # qua-han-1-ngay of so-ket-dot-2 escalates
    cid = service.campaign_id_for(any_campaign.engine, CODE)
    parents = {code: any_campaign.units[code].id for code in ("BDH", "BDH.D1", "BDH.D2")}
    expected = {escalation_key(cid, parents[code], vn(11, 10).date(), email(code)) for code in parents}
    assert {r.key for r in any_campaign.outbox(kind="escalation")} == expected
    # 23/10: two obligations escalate the same day (so-ket-dot-2 +13 and de-xuat-khen-thuong-dot-2 +1, moved
    # from Saturday 21/10): still one digest per parent.
    result = service.plan_due(any_campaign.engine, now=vn(23, 10))
    assert result.escalations == 3
    day_keys = [r.key for r in any_campaign.outbox(kind="escalation") if ":20231023:" in r.key]
    assert len(day_keys) == 3


def test_office_digest_once_per_working_day_after_its_time(campaign) -> None:
    cid = service.campaign_id_for(campaign.engine, CODE)
    assert service.plan_due(campaign.engine, now=vn(3, 10, hour=7, minute=59)).office_digests == 0
    assert service.plan_due(campaign.engine, now=vn(3, 10, hour=8)).office_digests == 1
    assert service.plan_due(campaign.engine, now=vn(3, 10, hour=16)).office_digests == 0
    assert service.plan_due(campaign.engine, now=vn(7, 10, hour=9)).office_digests == 0  # Saturday
    [row] = campaign.outbox(kind="office_digest")
    assert row.key == office_digest_key(cid, "2023-10-03") and row.recipient == "ban.cspl@ldld.binhdinh.vn"


def test_preview_lists_the_exact_dates_of_a_unit(campaign) -> None:
    preview = service.preview(campaign.engine, CODE, now=vn(1, 10, hour=12), days=30, unit_code="BDH.D1.1")
    timeline = [
        (local(b.send_at), b.obligation_code, b.occurrence.occurrence_id)
        for b in preview.batches
        if b.kind == "reminder"
    ]
    assert timeline == [
        ("03/10/2023 08:00", "so-ket-dot-2", "truoc-7-ngay:0"),
        ("06/10/2023 08:00", "so-ket-dot-2", "truoc-3-ngay:0"),
        ("09/10/2023 08:00", "so-ket-dot-2", "truoc-1-ngay:0"),
        ("11/10/2023 08:00", "so-ket-dot-2", "qua-han-1-ngay:0"),
        ("13/10/2023 08:00", "de-xuat-khen-thuong-dot-2", "truoc-7-ngay:0"),
        ("16/10/2023 08:00", "so-ket-dot-2", "qua-han-nhac-lai:0"),
        ("17/10/2023 08:00", "de-xuat-khen-thuong-dot-2", "truoc-3-ngay:0"),
        ("17/10/2023 08:00", "so-ket-dot-2", "qua-han-nhac-lai:1"),
        ("19/10/2023 08:00", "de-xuat-khen-thuong-dot-2", "truoc-1-ngay:0"),
        ("20/10/2023 08:00", "so-ket-dot-2", "qua-han-nhac-lai:2"),
        ("23/10/2023 08:00", "de-xuat-khen-thuong-dot-2", "qua-han-1-ngay:0"),
        ("23/10/2023 08:00", "so-ket-dot-2", "qua-han-nhac-lai:3"),
        ("24/10/2023 08:00", "de-xuat-khen-thuong-dot-2", "qua-han-nhac-lai:0"),
        ("26/10/2023 08:00", "so-ket-dot-2", "qua-han-nhac-lai:4"),
        ("27/10/2023 08:00", "de-xuat-khen-thuong-dot-2", "qua-han-nhac-lai:1"),
        ("30/10/2023 08:00", "de-xuat-khen-thuong-dot-2", "qua-han-nhac-lai:2"),
        ("30/10/2023 08:00", "so-ket-dot-2", "qua-han-nhac-lai:5"),
    ]
    assert all([u.code for u in b.units] == ["BDH.D1.1"] for b in preview.batches if b.kind == "reminder")
    escalation_days = sorted({local(b.send_at)[:10] for b in preview.batches if b.kind == "escalation"})
    assert escalation_days[:3] == ["11/10/2023", "16/10/2023", "17/10/2023"]


def test_preview_sends_nothing_and_leaves_out_what_is_queued(campaign) -> None:
    before = service.preview(campaign.engine, CODE, now=vn(3, 10), days=1)
    assert campaign.outbox() == []
    # Now (09:00): today's office digest (due 08:00) and −7 of so-ket-dot-2 for 8 units; tomorrow 08:00: a digest.
    assert [(local(b.send_at), b.kind, b.mail_count) for b in before.batches] == [
        ("03/10/2023 09:00", "office_digest", 1),
        ("03/10/2023 09:00", "reminder", 8),
        ("04/10/2023 08:00", "office_digest", 1),
    ]
    service.plan_due(campaign.engine, now=vn(3, 10))
    after = service.preview(campaign.engine, CODE, now=vn(3, 10), days=1)
    assert [(b.kind, b.mail_count) for b in after.batches] == [("office_digest", 1)]


def test_preview_of_unknown_campaign_or_unit_is_a_clear_error(campaign) -> None:
    with pytest.raises(service.CampaignNotFound, match="không có chiến dịch mã 'bd-2099'"):
        service.preview(campaign.engine, "bd-2099", now=vn(3, 10))
    with pytest.raises(service.UnitNotFound, match="không có đơn vị mã 'XYZ'"):
        service.preview(campaign.engine, CODE, now=vn(3, 10), unit_code="XYZ")


def test_claims_are_disjoint_and_audited(any_campaign) -> None:
    service.plan_due(any_campaign.engine, now=vn(3, 10))
    first = service.claim_batch(any_campaign.engine, owner="a", now=vn(3, 10), limit=5)
    second = service.claim_batch(any_campaign.engine, owner="b", now=vn(3, 10), limit=50)
    assert len(first) == 5 and len(second) == 4 and not set(first) & set(second)
    # Not yet due: nothing to claim before its time.
    assert service.claim_batch(any_campaign.engine, owner="c", now=vn(3, 10, hour=7), limit=50) == []
    with session_scope(any_campaign.engine) as session:
        claims = session.execute(select(AuditLog.after).where(AuditLog.action == "outbox.claimed")).scalars().all()
    assert sorted(c["owner"] for c in claims) == ["a", "b"]


def test_skip_locked_claims_on_postgresql(pg_engine, settings, tmp_path) -> None:
    from tests.reminders.conftest import load_binh_dinh

    campaign = load_binh_dinh(pg_engine, settings, tmp_path)
    service.plan_due(pg_engine, now=vn(3, 10))
    due = select(O.c.id).where(O.c.status == "pending").order_by(O.c.id).limit(3).with_for_update()
    with Session(pg_engine) as holder, holder.begin():
        locked = holder.execute(due).scalars().all()  # another dispatcher mid-claim
        taken = service.claim_batch(pg_engine, owner="b", now=vn(3, 10), limit=50)
    assert len(taken) == 6 and not set(locked) & set(taken)
    assert len(campaign.outbox(status="pending")) == 3


def test_expired_claims_come_back_or_become_unknown(any_campaign) -> None:
    service.plan_due(any_campaign.engine, now=vn(3, 10))
    ids = service.claim_batch(any_campaign.engine, owner="dead", now=vn(3, 10), limit=3, lease=timedelta(seconds=-1))
    handed, never = ids[0], ids[1:]
    with session_scope(any_campaign.engine) as session:
        session.execute(update(O).where(O.c.id == handed).values(message_id="<x@y>"))
    assert service.recover_expired_claims(any_campaign.engine) == service.Recovery(returned=2, unknown=1)
    statuses = {r.id: r.status for r in any_campaign.outbox()}
    assert statuses[handed] == "unknown" and all(statuses[i] == "pending" for i in never)
    with session_scope(any_campaign.engine) as session:
        actions = session.execute(
            select(AuditLog.action, func.count())
            .where(AuditLog.action.in_(["outbox.unknown", "outbox.released"]))
            .group_by(AuditLog.action)
        ).all()
    assert dict((a, n) for a, n in actions) == {"outbox.unknown": 1, "outbox.released": 1}
    # A live claim is left alone.
    live = service.claim_batch(any_campaign.engine, owner="alive", now=vn(3, 10), limit=1)
    assert service.recover_expired_claims(any_campaign.engine) == service.Recovery()
    assert any_campaign.outbox(id=live[0])[0].status == "claimed"


def test_operator_resolves_unknown_rows(campaign) -> None:
    service.plan_due(campaign.engine, now=vn(3, 10))
    with session_scope(campaign.engine) as session:
        keys = session.execute(select(O.c.key).order_by(O.c.id).limit(3)).scalars().all()
        session.execute(update(O).where(O.c.key.in_(keys)).values(status="unknown"))
    assert service.resolve_unknown(campaign.engine, action="resend", actor="cli:ops", keys=[keys[0]]) == 1
    assert service.resolve_unknown(campaign.engine, action="mark-sent", actor="cli:ops") == 2
    by_key = {r.key: r for r in campaign.outbox()}
    assert by_key[keys[0]].status == "pending" and by_key[keys[0]].message_id is None
    assert by_key[keys[1]].status == by_key[keys[2]].status == "sent"
    with session_scope(campaign.engine) as session:
        actors = (
            session.execute(select(AuditLog.actor).where(AuditLog.action.like("outbox.resolve_unknown%")))
            .scalars()
            .all()
        )
    assert actors == ["cli:ops"] * 3
    assert service.resolve_unknown(campaign.engine, action="resend", actor="cli:ops") == 0


def test_preview_due_now_is_exactly_what_planning_queues(campaign) -> None:
    """What the operator sees as going out "now" is what the next tick queues, kind by kind."""
    campaign.set_status("BDH.D2.2", "so-ket-dot-2", "da_gui")
    totals: Counter = Counter()
    for now in (vn(3, 10), vn(11, 10), vn(12, 10, hour=12), vn(23, 10), vn(23, 10, hour=10)):
        preview = service.preview(campaign.engine, CODE, now=now, days=1)
        due_now = {
            kind: sum(b.mail_count for b in preview.batches if b.kind == kind and b.send_at == now)
            for kind in ("reminder", "escalation", "office_digest")
        }
        planned = service.plan_due(campaign.engine, now=now)
        assert (planned.reminders, planned.escalations, planned.office_digests) == (
            due_now["reminder"],
            due_now["escalation"],
            due_now["office_digest"],
        ), local(now)
        totals.update(due_now)
    assert min(totals[kind] for kind in ("reminder", "escalation", "office_digest")) > 0
