"""In-flight work follows a reorganisation: nothing lost, nothing sent twice, every carried item audited."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session

from thidua.models.nominations import Nomination, NominationStep
from thidua.models.outbox import OutboxMessage
from thidua.models.submissions import NotPermitted, Submission
from thidua.models.tables import Assignment, AuditLog, Campaign, Unit
from thidua.services.campaigns import load_campaign
from thidua.services.reminders import plan_due
from thidua.services.status import status_report
from thidua.services.submissions import review_report, submit_report
from tests.conftest import BINH_DINH_CAMPAIGN
from tests.factories import add_unit, small_binh_dinh
from tests.units.test_reorganisation import HEADER, write_changes
from thidua.services.reorganisation import reorganise

REMINDER_NOW = datetime(2023, 10, 3, 1, 30, tzinfo=timezone.utc)  # 08:30 in Việt Nam: rung "truoc-7-ngay" of 10/10
TODAY = date(2023, 10, 5)
DAY = date(2023, 10, 5)
CAMPAIGN = "bd-2023"


def _id(session: Session, code: str) -> int:
    return session.scalars(select(Unit.id).where(Unit.code == code)).one()


def _assignments(session: Session, code: str) -> dict[int, tuple]:
    rows = session.execute(
        select(
            Assignment.id, Assignment.unit_id, Assignment.reviewer_unit_id, Assignment.status, Assignment.active
        ).where(Assignment.unit_id == _id(session, code))
    ).all()
    return {row.id: tuple(row) for row in rows}


@pytest.fixture
def running(any_db):
    """Bình Định campaign on 2 districts × 3 CĐCS plus Gia Lai; D1.1 registered (awaiting D1's review); the
    7-days-before reminders of the round 2 report queued and sent; one nomination held by D1."""
    engine = any_db
    with Session(engine) as session:
        units = small_binh_dinh(session, districts=2, cdcs_per_district=3)
        add_unit(session, "GLI", "Liên đoàn Lao động tỉnh Gia Lai", "ldld_tinh", units["TLD"])
        session.commit()
    load_campaign(engine, BINH_DINH_CAMPAIGN)
    with Session(engine) as session:
        submit_report(
            session,
            campaign_code=CAMPAIGN,
            obligation_code="dang-ky-thi-dua",
            unit_code="BDH.D1.1",
            raw={"danh_hieu_dang_ky": "CĐCS vững mạnh", "cong_trinh_moi": "Nhà văn hóa", "so_sang_kien_dang_ky": 3},
            actor="cb@bdh-d1-1.example.vn",
            now=datetime(2023, 3, 1, 3, 0, tzinfo=timezone.utc),
        )
        # D1.2's registration was accepted: finished work stays where it is
        a = session.scalars(
            select(Assignment).join(Unit, Unit.id == Assignment.unit_id).where(Unit.code == "BDH.D1.2")
        ).first()
        session.execute(update(Assignment).where(Assignment.id == a.id).values(status="da_duyet"))
        d1, _bdh = _id(session, "BDH.D1"), _id(session, "BDH")
        campaign_id = session.scalars(select(Campaign.id)).one()
        session.add(
            Nomination(
                campaign_id=campaign_id,
                catalogue_code="qd999",
                award_code="giay-khen",
                award_name="Giấy khen",
                award_kind="giay_khen",
                subject="collective",
                nominee_unit_id=_id(session, "BDH.D1.1"),
                nominee_name="CĐCS Đơn vị Mẫu 1-1",
                nominee_key="u:BDH.D1.1",
                occasion="year_end",
                achievement_key="k",
                origin_unit_id=_id(session, "BDH.D1.1"),
                origin_level="cdcs",
                deciding_level="cap_tren_truc_tiep",
                deciding_unit_id=d1,
                status="under_review",
                current_unit_id=d1,
                current_level="cap_tren_truc_tiep",
                created_by="t",
                version=2,
            )
        )
        session.flush()
        nomination_id = session.scalars(select(Nomination.id)).one()
        session.add(
            NominationStep(
                nomination_id=nomination_id,
                seq=2,
                action="send",
                from_status="proposed",
                to_status="under_review",
                at_unit_id=_id(session, "BDH.D1.1"),
                to_unit_id=d1,
                actor="t",
            )
        )
        session.commit()
    plan_due(engine, now=REMINDER_NOW, campaign_code=CAMPAIGN)
    with Session(engine) as session:
        session.execute(update(OutboxMessage).values(status="sent", sent_at=REMINDER_NOW))
        # one more reminder of D1, queued and not sent yet
        a = session.scalars(select(Assignment).where(Assignment.unit_id == d1, Assignment.status == "chua_gui")).first()
        session.add(
            OutboxMessage(
                key=f"rem:{a.id}:tay:{'bdh-d1@example.vn'}",
                kind="reminder",
                campaign_id=campaign_id,
                assignment_id=a.id,
                unit_id=d1,
                rung="tay",
                recipient="bdh-d1@example.vn",
                template="reminder_upcoming",
                context={},
                scheduled_at=REMINDER_NOW,
                status="pending",
            )
        )
        session.commit()
    return engine


def test_dissolved_district_work_follows_its_successor(running, tmp_path):
    engine = running
    with Session(engine) as session:
        d1_before = _assignments(session, "BDH.D1")
        cdcs_before = {code: _assignments(session, code) for code in ("BDH.D1.1", "BDH.D1.2", "BDH.D1.3")}
        outbox_before = session.scalar(select(func.count()).select_from(OutboxMessage))
        sent_before = set(session.execute(select(OutboxMessage.key).where(OutboxMessage.status == "sent")).scalars())
        total_before = status_report(session, CAMPAIGN).total
    report = reorganise(
        engine,
        write_changes(
            tmp_path / "doi.csv",
            [
                (
                    "05/10/2023",
                    "tao_moi",
                    "BDH.KV1",
                    "",
                    "Công đoàn khu vực 1",
                    "cap_tren_truc_tiep",
                    "BDH",
                    "bdh-kv1@example.vn",
                ),
                ("05/10/2023", "giai_the", "BDH.D1", "BDH.KV1", "", "", "", ""),
            ],
            header=(*HEADER, "email"),
        ),
        today=TODAY,
    )

    with Session(engine) as session:
        kv1, d1 = _id(session, "BDH.KV1"), _id(session, "BDH.D1")
        # the district's open work moved to the successor (same level, owes nothing yet), none lost
        moved = _assignments(session, "BDH.KV1")
        assert set(moved) == {aid for aid, row in d1_before.items() if row[3] != "da_duyet" and row[4]}
        assert all(row[2] == _id(session, "BDH") for row in moved.values())  # reviewed by KV1's parent
        # CĐCS keep their work; what is not accepted yet is reviewed by the new parent
        for code, rows in cdcs_before.items():
            after = _assignments(session, code)
            assert set(after) == set(rows)
            for _aid, row in after.items():
                assert row[2] == (d1 if row[3] == "da_duyet" else kv1), (code, row)
        # the registration awaiting review: the new parent reviews it, the ended district may not
        with pytest.raises(NotPermitted):
            review_report(
                session,
                campaign_code=CAMPAIGN,
                obligation_code="dang-ky-thi-dua",
                unit_code="BDH.D1.1",
                reviewer_code="BDH.D1",
                accept=True,
                actor="x",
                now=datetime(2023, 10, 6, tzinfo=timezone.utc),
            )
        review_report(
            session,
            campaign_code=CAMPAIGN,
            obligation_code="dang-ky-thi-dua",
            unit_code="BDH.D1.1",
            reviewer_code="BDH.KV1",
            accept=True,
            actor="kv1@example.vn",
            now=datetime(2023, 10, 6, tzinfo=timezone.utc),
        )
        session.commit()
        assert session.scalars(select(Submission.review_status)).one() == "da_duyet"
        # the nomination held by the district moved with its history and one more step
        nomination = session.scalars(select(Nomination)).one()
        assert (nomination.current_unit_id, nomination.deciding_unit_id, nomination.version) == (kv1, kv1, 3)
        steps = session.execute(
            select(NominationStep.seq, NominationStep.action, NominationStep.to_unit_id).order_by(NominationStep.seq)
        ).all()
        assert [tuple(s) for s in steps] == [(2, "send", d1), (3, "transfer", kv1)]
        # the queued reminder to the district goes to the successor instead; the sent ones stay sent
        queued = session.execute(
            select(OutboxMessage.unit_id, OutboxMessage.status, OutboxMessage.recipient)
            .where(OutboxMessage.rung == "tay")
            .order_by(OutboxMessage.id)
        ).all()
        assert [tuple(q) for q in queued] == [
            (d1, "skipped", "bdh-d1@example.vn"),
            (kv1, "pending", "bdh-kv1@example.vn"),
        ]
        assert (
            set(session.execute(select(OutboxMessage.key).where(OutboxMessage.status == "sent")).scalars())
            == sent_before
        )
        # nothing lost from the campaign's totals (accepting D1.1 adds one accepted)
        total_after = status_report(session, CAMPAIGN).total
        assert (total_after.owed, total_after.submitted) == (total_before.owed, total_before.submitted)
        # each carried item is in the audit log
        audited = session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action.like("reorganise.%")))
        assert audited == sum(report.carried_counts.values()) > 0
        assert report.carried_counts["nomination"] == 1 and report.carried_counts["outbox"] == 1

    # planning the same reminders again sends nothing twice (the moved assignments already had this rung)
    plan_due(engine, now=REMINDER_NOW, campaign_code=CAMPAIGN)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == outbox_before + 1


def test_dissolving_into_a_unit_of_another_level_closes_what_no_longer_applies(running, tmp_path):
    engine = running
    with Session(engine) as session:
        d1_open = {aid for aid, row in _assignments(session, "BDH.D1").items() if row[3] != "da_duyet"}
    report = reorganise(
        engine,
        write_changes(
            tmp_path / "doi.csv",
            [
                ("05/10/2023", "giai_the", "BDH.D1", "BDH", "", "", ""),
            ],
        ),
        today=TODAY,
    )
    with Session(engine) as session:
        rows = _assignments(session, "BDH.D1")
        assert {aid for aid, row in rows.items() if not row[4]} == d1_open  # closed, still the district's
        assert report.carried_counts["assignment.closed"] == len(d1_open)
        notes = (
            session.execute(select(AuditLog.note).where(AuditLog.action == "reorganise.assignment.closed"))
            .scalars()
            .all()
        )
        assert len(notes) == len(d1_open) and all("không còn áp dụng" in n for n in notes)


def test_merged_province_campaign_follows_the_successor_and_as_of_status(running, tmp_path):
    engine = running
    with Session(engine) as session:
        before = status_report(session, CAMPAIGN)
    reorganise(
        engine,
        write_changes(
            tmp_path / "gop.csv",
            [
                ("05/10/2023", "sap_nhap", "BDH; GLI", "GLM", "Liên đoàn Lao động tỉnh Gia Lai", "", "TLD"),
            ],
        ),
        today=TODAY,
    )
    with Session(engine) as session:
        campaign = session.scalars(select(Campaign)).one()
        assert campaign.root_unit_id == _id(session, "GLM")
        now = status_report(session, CAMPAIGN)
        assert now.scope_code == "GLM" and now.total.owed == before.total.owed
        assert {row.key for row in now.by_group} >= {"BDH.D1", "BDH.D2"}
        # as of the day before, the same figures in the old tree: the scope is what held both provinces
        then = status_report(session, CAMPAIGN, tree_on=date(2023, 10, 4), unit_code="BDH")
        assert (then.scope_code, then.total.owed) == ("BDH", before.total.owed)
        assert [(r.key, r.counts.owed) for r in then.by_group] == [(r.key, r.counts.owed) for r in before.by_group]
        old_root = status_report(session, CAMPAIGN, tree_on=date(2023, 10, 4))
        assert old_root.scope_code == "TLD" and old_root.total.owed == before.total.owed


def test_escalations_go_to_the_new_parent_from_the_effective_date(running, tmp_path):
    engine = running
    reorganise(
        engine,
        write_changes(tmp_path / "doi.csv", [("05/10/2023", "giai_the", "BDH.D1", "BDH.D2", "", "", "")]),
        today=TODAY,
    )
    overdue = datetime(2023, 10, 11, 1, 30, tzinfo=timezone.utc)  # 08:30 on 11/10: round 2 reports one day late
    plan_due(engine, now=overdue, campaign_code=CAMPAIGN)
    with Session(engine) as session:
        d1, d2 = _id(session, "BDH.D1"), _id(session, "BDH.D2")
        escalated_to = set(
            session.execute(select(OutboxMessage.unit_id).where(OutboxMessage.kind == "escalation")).scalars()
        )
        assert d2 in escalated_to and d1 not in escalated_to
        # the ended district itself is reminded of nothing (its open work was closed or moved)
        reminded = (
            session.execute(
                select(OutboxMessage.unit_id).where(OutboxMessage.kind == "reminder", OutboxMessage.status == "pending")
            )
            .scalars()
            .all()
        )
        assert d1 not in reminded
