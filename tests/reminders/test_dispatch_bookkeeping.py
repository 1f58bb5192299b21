"""The ledger writes of a dispatch pass (issue 17: cheaper bookkeeping) keep what they guarantee: every row gets
its own outcome when one write records several outcomes, marks stay ahead of the transport, results are written
in few transactions, a second pass plans nothing new, the office digest says the same."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import insert, select, update

from thidua.db import session_scope
from thidua.models.clock import end_of_day_utc
from thidua.models.outbox import OutboxStatus
from thidua.models.reminders import current_occurrence
from thidua.models.spec.reminders import Ladder
from thidua.models.tables import Assignment, AuditLog, ObligationDef
from thidua.notifications.sink import FaultInjectingHandler
from thidua.models.workcalendar import WorkingCalendar
from thidua.notifications.transport import DeliveryResult
from thidua.services import reminders as service
from thidua.services.reminders import contents, context, planning, sending
from tests.reminders.conftest import O, load_binh_dinh, smtp_for, vn

NOW = vn(3, 10)  # 09:00: the −7 reminder of so-ket-dot-2 for every unit, and the office digest


def _claimed_rows(engine, owner: str, count: int) -> list[sending._Ready]:  # noqa: ANN001
    rows = []
    with session_scope(engine) as session:
        for n in range(count):
            key = f"test:{n}"
            row_id = session.execute(
                insert(O)
                .values(
                    key=key,
                    kind="sign_in",
                    recipient=f"a{n}@example.vn",
                    template="sign_in",
                    context={},
                    scheduled_at=NOW,
                    status=OutboxStatus.CLAIMED.value,
                    lease_owner=owner if n else "someone-else",  # row 0: claimed by another dispatcher meanwhile
                    lease_until=NOW + timedelta(minutes=10),
                    attempts=1 if n == 4 else 0,
                    created_at=NOW,
                    message_id=f"<{key}@x>",
                )
                .returning(O.c.id)
            ).scalar_one()
            rows.append(sending._Ready(row_id, key, "sign_in", None, 1 if n == 4 else 0, None, f"<{key}@x>"))  # type: ignore[arg-type]
    return rows


def test_one_write_with_every_outcome_records_each_row_its_own(engine, settings) -> None:  # noqa: ANN001
    owner = "host:1:abc"
    rows = _claimed_rows(engine, owner, 8)
    deliveries = [
        DeliveryResult(rows[0].key, "sent", attempts=1),  # not ours any more: untouched
        DeliveryResult(rows[1].key, "sent", attempts=1),
        DeliveryResult(rows[2].key, "failed", attempts=1, error="550 no such user", code=550),
        DeliveryResult(rows[3].key, "partial", attempts=1, refused={"b@example.vn": (550, "no")}),
        DeliveryResult(rows[4].key, "sent", attempts=1),  # its second attempt
        DeliveryResult(rows[5].key, "unknown", attempts=1, error="connection lost"),
        DeliveryResult(rows[6].key, "retry", attempts=1, error="451 later"),
        DeliveryResult(rows[7].key, "sent", attempts=2),
    ]
    result = sending.BatchResult()
    with session_scope(engine) as session:
        sending._record_deliveries(
            session,
            deliveries,
            by_key={r.key: r for r in rows},
            recorded=set(),
            owner=owner,
            now=NOW,
            smtp=smtp_for("127.0.0.1", 25),
            result=result,
        )
    with session_scope(engine) as session:
        got = {r.key: r for r in session.execute(select(O).where(O.c.key.like("test:%"))).all()}
        audits = session.execute(select(AuditLog.action, AuditLog.after)).all()
    expect = {  # key: (status, attempts, sent, error starts with)
        "test:0": ("claimed", 0, False, None),
        "test:1": ("sent", 1, True, None),
        "test:2": ("failed", 1, False, "máy chủ thư từ chối: 550 no such user"),
        "test:3": ("partial", 1, True, "một số người nhận bị từ chối: b@example.vn: 550 no"),
        "test:4": ("sent", 2, True, None),
        "test:5": ("unknown", 1, False, "mất kết nối sau khi đã gửi nội dung thư"),
        "test:6": ("pending", 1, False, "lỗi tạm thời, sẽ thử lại: 451 later"),
        "test:7": ("sent", 2, True, None),
    }
    for key, (status, attempts, sent, error) in expect.items():
        row = got[key]
        assert (row.status, row.attempts, row.sent_at is not None) == (status, attempts, sent), key
        assert (row.last_error or "").startswith(error or "") and (error is not None) == (row.last_error is not None)
        if key != "test:0":
            assert row.lease_owner is None and row.lease_until is None, key
    assert got["test:0"].lease_owner == "someone-else"
    assert got["test:6"].message_id is None and got["test:6"].scheduled_at > NOW
    assert (result.sent, result.failed, result.partial, result.unknown, result.retried) == (4, 1, 1, 1, 1)
    actions = sorted(a for a, _ in audits)
    assert actions == ["outbox.failed", "outbox.partial", "outbox.retry", "outbox.sent", "outbox.unknown"]
    assert next(after for a, after in audits if a == "outbox.sent")["ids"] == [rows[i].id for i in (0, 1, 4, 7)]


def test_a_pass_writes_its_results_in_few_transactions(
    engine, settings, tmp_path: Path, sink_factory, monkeypatch
) -> None:  # noqa: ANN001
    """Results are written about every half window, not after every few results; the marks still lead."""
    campaign = load_binh_dinh(engine, settings, tmp_path, districts=4, cdcs_per_district=40)
    sink = sink_factory(FaultInjectingHandler())
    writes: list[tuple[int, int]] = []
    taken_beyond_marks: list[int] = []
    original_write = sending._StreamRecorder._write
    original_may_take = sending._StreamRecorder.may_take

    def counting_write(self, buffer, marks, renew):  # noqa: ANN001, ANN202
        writes.append((len(buffer), len(marks)))
        return original_write(self, buffer, marks, renew)

    def checking_may_take(self, index: int) -> bool:  # noqa: ANN001
        allowed = original_may_take(self, index)
        if allowed and index >= self.marked:
            taken_beyond_marks.append(index)
        return allowed

    monkeypatch.setattr(sending._StreamRecorder, "_write", counting_write)
    monkeypatch.setattr(sending._StreamRecorder, "may_take", checking_may_take)
    summary = campaign.dispatch(NOW, smtp_for(sink.host, sink.port))
    sent = summary.totals.sent
    assert sent > 150 and sent == len(sink.handler.accepted) == len(campaign.outbox(status="sent"))
    assert all(r.message_id and r.lease_owner is None for r in campaign.outbox())
    assert not taken_beyond_marks
    assert sum(b for b, _ in writes) == sent
    # About one write per half window (RECORD_EVERY // 2 results), plus the first marks and the last results.
    assert len(writes) <= sent // (service.RECORD_EVERY // 2) + 4, writes


def test_a_pass_claims_again_only_after_a_full_batch(
    engine, settings, tmp_path: Path, sink_factory, monkeypatch
) -> None:  # noqa: ANN001
    """A claim that comes back short took everything due: the pass does not ask again; a full one does."""
    from thidua.services.reminders import passes

    campaign = load_binh_dinh(engine, settings, tmp_path, districts=4, cdcs_per_district=40)
    sink = sink_factory(FaultInjectingHandler())
    claims: list[int] = []
    original_claim = passes.claim_batch

    def counting_claim(*args, **kwargs) -> list[int]:  # noqa: ANN002, ANN003
        ids = original_claim(*args, **kwargs)
        claims.append(len(ids))
        return ids

    monkeypatch.setattr(passes, "claim_batch", counting_claim)
    summary = campaign.dispatch(NOW, smtp_for(sink.host, sink.port), batch_size=100)
    due = summary.totals.claimed
    assert 100 < due < 200 and claims == [100, due - 100]
    assert summary.totals.sent == due == len(sink.handler.accepted)
    claims.clear()
    assert campaign.dispatch(NOW, smtp_for(sink.host, sink.port), batch_size=100).totals.claimed == 0
    assert claims == [0]


def test_the_writes_of_a_pass_keep_one_connection_and_give_it_back(
    engine, settings, tmp_path: Path, sink_factory, monkeypatch
) -> None:  # noqa: ANN001
    """On SQLite the writes of a pass share one connection (another one per write would start with an emptied page
    cache: SQLite drops it whenever another connection wrote); the pool has it back once the pass is over."""
    campaign = load_binh_dinh(engine, settings, tmp_path, districts=2, cdcs_per_district=40)
    sink = sink_factory(FaultInjectingHandler())
    connections: list[int] = []
    original_write_on = sending._StreamRecorder._write_on

    def spying_write_on(self, conn, buffer, marks, renew):  # noqa: ANN001, ANN202
        connections.append(id(conn.connection.dbapi_connection))
        return original_write_on(self, conn, buffer, marks, renew)

    monkeypatch.setattr(sending._StreamRecorder, "_write_on", spying_write_on)
    summary = campaign.dispatch(NOW, smtp_for(sink.host, sink.port))
    assert summary.totals.sent > 50 and summary.totals.failed == 0
    assert len(connections) >= 3 and len(set(connections)) == 1
    assert engine.pool.checkedout() == 0


def _groups_with_a_current_occurrence(ctx, groups, now):  # noqa: ANN001, ANN202
    return [g for g in groups if current_occurrence(g.occurrences(ctx), now, g.due_at(ctx)) is not None]


def test_the_due_date_window_of_planning_holds_every_group_that_can_be_current(campaign) -> None:  # noqa: ANN001
    """Every due date of the year under two ladders (one sent after working hours), with a long stretch of days
    off added to the holidays: a group outside the window never has a current occurrence."""
    with session_scope(campaign.engine) as session:
        ctx = context.campaign_context(session, "bd-2023")
    stretch = frozenset(date(2023, 7, 10) + timedelta(days=n) for n in range(12))
    late = Ladder.model_validate(
        {
            "code": "muon",
            "name": "Gửi sau giờ làm việc",
            "send_time": "18:00",
            "rungs": [
                {"code": "truoc-10-ngay", "offset_days": -10},
                {"code": "qua-han", "offset_days": 2, "repeat_every_days": 5, "until_offset_days": 20},
            ],
        }
    )
    calendar = WorkingCalendar(ctx.calendar.spec, ctx.calendar.holidays | stretch)
    ctx = replace(ctx, calendar=calendar, ladders={**ctx.ladders, "muon": late})
    groups = [
        context.ObligationGroup(1, "x", "x", date(2023, 1, 1) + timedelta(days=n), None, ladder)
        for n in range(400)
        for ladder in ctx.ladders.values()
    ]
    schedules = [(g.due_on, g.ladder.code, g.occurrences(ctx), g.due_at(ctx)) for g in groups]
    checked = 0
    for n in range(0, 380):
        day = date(2023, 1, 1) + timedelta(days=n)
        for hour, minute in ((0, 5), (8, 0), (16, 30), (23, 55)):
            now = vn(day.day, day.month, day.year, hour, minute)
            first, last = planning._reminder_window(ctx, now)
            for due_on, ladder, occurrences, due_at in schedules:
                if current_occurrence(occurrences, now, due_at) is not None:
                    assert first <= due_on <= last, (now, due_on, ladder, first, last)
                    checked += 1
            assert last - first < timedelta(days=80)  # ladders span 41 days, the grace 7, holidays shift it
    assert checked > 1000


def _obligation(session, code: str) -> int:  # noqa: ANN001
    return session.execute(select(ObligationDef.id).where(ObligationDef.code == code)).scalar_one()


ctx_tz = "Asia/Ho_Chi_Minh"


def test_planning_reads_only_the_groups_in_the_window_and_plans_the_same(campaign) -> None:  # noqa: ANN001
    """The windowed query returns the groups of the full one whose due date is in the window; a pass later the
    same day plans nothing new."""
    unit_id = campaign.units["BDH.D1.1"].id
    with session_scope(campaign.engine) as session:  # one unit's deadline moved: a group of its own
        session.execute(
            update(Assignment)
            .where(Assignment.unit_id == unit_id, Assignment.obligation_id == _obligation(session, "so-ket-dot-2"))
            .values(due_on=date(2023, 10, 13), due_at=end_of_day_utc(date(2023, 10, 13), ctx_tz))
        )
    with session_scope(campaign.engine) as session:
        ctx = context.campaign_context(session, "bd-2023")
        full = context.obligation_groups(session, ctx)
        for now in (vn(3, 10), vn(11, 10, hour=16, minute=30), vn(14, 10), vn(20, 7), vn(1, 12)):
            window = planning._reminder_window(ctx, now)
            assert window is not None
            got = context.obligation_groups(session, ctx, due_between=window)
            assert got == [g for g in full if window[0] <= g.due_on <= window[1]]
            assert _groups_with_a_current_occurrence(ctx, got, now) == _groups_with_a_current_occurrence(ctx, full, now)
    first = service.plan_due(campaign.engine, now=vn(11, 10))
    assert first.reminders > 0
    assert service.plan_due(campaign.engine, now=vn(11, 10, hour=16, minute=30)) == service.PlanResult()


def test_the_office_digest_checks_stored_address_lists_as_the_decoded_ones() -> None:
    for emails in ([], ["a@example.vn"], ["khong-phai-email"], [" ", "b@example.vn", "x@"], ["c@example.vn", ""]):
        assert contents._stored_email_problems(json.dumps(emails)) == contents.email_problems(emails)
    assert contents._stored_email_problems(None) == contents.email_problems(None) == "chưa có địa chỉ e-mail"
    assert contents._stored_email_problems("null") == contents.email_problems(None)


def test_recovery_with_nothing_claimed_changes_nothing(campaign) -> None:  # noqa: ANN001
    service.plan_due(campaign.engine, now=NOW)
    before = [tuple(r) for r in campaign.outbox()]
    assert service.recover_expired_claims(campaign.engine) == service.Recovery()
    assert [tuple(r) for r in campaign.outbox()] == before
    with session_scope(campaign.engine) as session:
        assert not session.execute(select(AuditLog.id).where(AuditLog.action.like("outbox.%"))).all()
