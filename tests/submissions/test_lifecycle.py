"""Submission lifecycle: the pure state machine, then the service with its refusals (each changes nothing)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from thidua.models.status import AssignmentStatus as St
from thidua.models.submissions import (
    Action,
    CampaignClosed,
    FormInvalid,
    InvalidTransition,
    NotOpenYet,
    NotPermitted,
    ReviewStatus,
    StaleVersion,
    Submission,
    UnknownReference,
    next_status,
)
from thidua.models.tables import Assignment, AuditLog, ObligationDef, Unit
from tests.submissions.conftest import CODE, db_state, load_binh_dinh, vn
from thidua.db import session_scope
from thidua.services.submissions import (
    history,
    review_report,
    set_campaign_status,
    submit_report,
    year_end_rating,
    year_end_ratings,
)

ROUND1 = "so-ket-dot-1"
GOOD = {"so_sang_kien": 4, "so_doan_vien_moi": 10}


# ---------------------------------------------------------------------------------------------------
# Pure state machine
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("current", list(St))
def test_submit_is_always_possible_and_waits_for_review(current):
    assert next_status(current, Action.SUBMIT, review_required=True) is St.SUBMITTED
    assert next_status(current, Action.SUBMIT, review_required=False) is St.ACCEPTED


def test_review_only_of_a_waiting_report():
    assert next_status("da_gui", Action.ACCEPT, review_required=True) is St.ACCEPTED
    assert next_status("da_gui", Action.RETURN, review_required=True) is St.RETURNED
    for current, reason in (("chua_gui", "chưa gửi"), ("da_duyet", "đã được duyệt"), ("tra_lai", "đã bị trả lại")):
        with pytest.raises(InvalidTransition, match=reason):
            next_status(current, Action.ACCEPT, review_required=True)


# ---------------------------------------------------------------------------------------------------
# Service
# ---------------------------------------------------------------------------------------------------
def submit(engine, unit="BDH.D1.1", data=None, obligation=ROUND1, when=None, **kw):
    with session_scope(engine) as session:
        return submit_report(
            session,
            campaign_code=CODE,
            obligation_code=obligation,
            unit_code=unit,
            raw=GOOD if data is None else data,
            actor=f"{unit}@example.vn",
            now=when or vn(5, 6),
            **kw,
        )


def review(engine, unit="BDH.D1.1", reviewer="BDH.D1", accept=True, obligation=ROUND1, when=None, **kw):
    with session_scope(engine) as session:
        return review_report(
            session,
            campaign_code=CODE,
            obligation_code=obligation,
            unit_code=unit,
            reviewer_code=reviewer,
            accept=accept,
            actor=reviewer,
            now=when or vn(6, 6),
            **kw,
        )


def _assignment_query(unit: str = "BDH.D1.1", obligation: str = ROUND1):
    return (
        select(Assignment)
        .join(Unit, Unit.id == Assignment.unit_id)
        .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
        .where(Unit.code == unit, ObligationDef.code == obligation)
    )


def assignment(engine, unit="BDH.D1.1", obligation=ROUND1) -> Assignment:
    with session_scope(engine) as session:
        return session.execute(_assignment_query(unit, obligation)).scalars().one()


def test_return_then_resubmit_then_accept(loaded):
    engine = loaded.engine
    first = submit(engine, data={"so_sang_kien": 400, "so_doan_vien_moi": 10})
    assert (first.version, first.status, first.late) == (1, St.SUBMITTED, False)
    returned = review(engine, accept=False, comment="Số sáng kiến quá lớn, kiểm tra lại")
    assert returned.status is St.RETURNED
    second = submit(engine, when=vn(12, 6))  # after the deadline (10/06), but the first report was on time
    assert (second.version, second.status, second.late) == (2, St.SUBMITTED, True)
    review(engine, when=vn(13, 6))
    a = assignment(engine)
    assert (a.status, a.current_version, a.late, a.version) == ("da_duyet", 2, False, 5)
    with session_scope(engine) as session:
        versions = history(session, campaign_code=CODE, obligation_code=ROUND1, unit_code="BDH.D1.1")
        actions = (
            session.execute(
                select(AuditLog.action)
                .where(AuditLog.entity == "assignment", AuditLog.entity_id == str(a.id))
                .order_by(AuditLog.id)
            )
            .scalars()
            .all()
        )
    assert [(v.version, v.review_status, v.late) for v in versions] == [(1, "tra_lai", False), (2, "da_duyet", True)]
    assert (
        versions[0].review_comment == "Số sáng kiến quá lớn, kiểm tra lại" and versions[0].data["so_sang_kien"] == 400
    )
    assert actions == ["submission.submitted", "submission.returned", "submission.submitted", "submission.accepted"]


def test_first_report_after_deadline_is_late(loaded):
    result = submit(loaded.engine, when=vn(11, 6, hour=0, minute=1))
    assert result.late and assignment(loaded.engine).late
    on_time = submit(loaded.engine, unit="BDH.D1.2", when=vn(10, 6, hour=23, minute=59))
    assert not on_time.late


def test_resubmitting_while_waiting_supersedes_the_waiting_version(loaded):
    submit(loaded.engine, data={"so_sang_kien": 1, "so_doan_vien_moi": 1})
    submit(loaded.engine, data={"so_sang_kien": 2, "so_doan_vien_moi": 1}, when=vn(7, 6))
    with session_scope(loaded.engine) as session:
        statuses = session.execute(
            select(Submission.version, Submission.review_status).order_by(Submission.version)
        ).all()
    assert statuses == [(1, ReviewStatus.SUPERSEDED.value), (2, ReviewStatus.PENDING.value)]
    review(loaded.engine, when=vn(8, 6))
    assert assignment(loaded.engine).current_version == 2


def test_obligation_without_review_is_accepted_on_submit(loaded):
    result = submit(loaded.engine, obligation="de-xuat-khen-thuong-dot-2", data={}, when=vn(2, 10))
    assert result.status is St.ACCEPTED
    with pytest.raises(InvalidTransition, match="đã được duyệt"):
        review(loaded.engine, obligation="de-xuat-khen-thuong-dot-2", when=vn(3, 10))


def test_appraised_rating_overrides_the_proposed_one(loaded):
    final = {
        "so_sang_kien": 3,
        "so_doan_vien_moi": 1,
        "cong_trinh_hoan_thanh": "có",
        "xep_loai_de_nghi": "Hoàn thành xuất sắc nhiệm vụ",
    }
    submit(loaded.engine, obligation="tong-ket-nam", data=final, when=vn(1, 12))
    submit(loaded.engine, unit="BDH.D1.2", obligation="tong-ket-nam", data=final, when=vn(1, 12))
    unit1, unit2 = loaded.units["BDH.D1.1"].id, loaded.units["BDH.D1.2"].id
    with session_scope(loaded.engine) as session:
        campaign_id = session.execute(select(Assignment.campaign_id).limit(1)).scalar_one()
        assert year_end_rating(session, campaign_id, unit1) is None  # not accepted yet
    review(loaded.engine, obligation="tong-ket-nam", appraised_rating="hoàn thành tốt nhiệm vụ", when=vn(2, 12))
    review(loaded.engine, unit="BDH.D1.2", obligation="tong-ket-nam", when=vn(2, 12))
    with session_scope(loaded.engine) as session:
        assert year_end_rating(session, campaign_id, unit1) == "Hoàn thành tốt nhiệm vụ"
        assert year_end_rating(session, campaign_id, unit2) == "Hoàn thành xuất sắc nhiệm vụ"
        # Many units at once: the same rule (a unit without a final report has none).
        unit3 = loaded.units["BDH.D1.3"].id if "BDH.D1.3" in loaded.units else None
        asked = [unit1, unit2] + ([unit3] if unit3 is not None else [])
        expected = {unit1: "Hoàn thành tốt nhiệm vụ", unit2: "Hoàn thành xuất sắc nhiệm vụ"}
        assert year_end_ratings(session, campaign_id, asked) == {**dict.fromkeys(asked), **expected}


# ---------------------------------------------------------------------------------------------------
# Refusals: clear message, nothing changed
# ---------------------------------------------------------------------------------------------------
def refused(engine, exc_type, pattern, action) -> str:
    """The action raises exc_type with a message matching pattern, and the database is unchanged."""
    before = db_state(engine)
    with pytest.raises(exc_type, match=pattern) as caught:
        action()
    assert db_state(engine) == before
    return str(caught.value)


def test_wrong_types_out_of_range_missing_required(loaded):
    text = refused(
        loaded.engine,
        FormInvalid,
        "không hợp lệ, chưa ghi gì",
        lambda: submit(loaded.engine, data={"so_sang_kien": "mười", "so_cdcs_thanh_lap": 1001}),
    )
    assert "Số sáng kiến trong đợt [so_sang_kien]: phải là số nguyên, nhận 'mười'" in text
    assert "Số CĐCS mới thành lập [so_cdcs_thanh_lap]: giá trị 1.001 lớn hơn mức tối đa 1.000" in text
    assert "Số đoàn viên mới kết nạp [so_doan_vien_moi]: bắt buộc nhập nhưng đang để trống" in text
    assert "BDH.D1.1" in text and ROUND1 in text


def test_unknown_unit_obligation_campaign(loaded):
    refused(
        loaded.engine, UnknownReference, "không có đơn vị mã 'BDH.D9.9'", lambda: submit(loaded.engine, unit="BDH.D9.9")
    )
    text = refused(
        loaded.engine,
        UnknownReference,
        "không có nghĩa vụ 'so-ket-dot-9'",
        lambda: submit(loaded.engine, obligation="so-ket-dot-9"),
    )
    assert "so-ket-dot-1" in text  # lists what exists
    with session_scope(loaded.engine) as session:
        with pytest.raises(UnknownReference, match="không có chiến dịch mã 'bd-1999'"):
            submit_report(
                session, campaign_code="bd-1999", obligation_code=ROUND1, unit_code="BDH.D1.1", raw=GOOD, actor="x"
            )
    # The province owes no round report (levels: directly-superior unions and CĐCS).
    refused(
        loaded.engine,
        UnknownReference,
        "đơn vị 'BDH' không phải nộp 'so-ket-dot-1'",
        lambda: submit(loaded.engine, unit="BDH"),
    )


def test_a_unit_submits_only_for_itself(loaded):
    refused(
        loaded.engine,
        NotPermitted,
        "'BDH.D1' không được gửi báo cáo thay cho đơn vị 'BDH.D1.1'",
        lambda: submit(loaded.engine, acting_unit_code="BDH.D1"),
    )


def test_review_by_a_non_reviewer_is_refused(loaded):
    submit(loaded.engine)
    for reviewer in ("BDH.D2", "BDH", "BDH.D1.2"):
        message = (
            f"đơn vị '{reviewer}' không được duyệt báo cáo 'so-ket-dot-1' của 'BDH.D1.1' "
            r"\(đơn vị duyệt là 'BDH.D1'\)"
        )
        refused(loaded.engine, NotPermitted, message, lambda: review(loaded.engine, reviewer=reviewer))
    assert review(loaded.engine).status is St.ACCEPTED


def test_return_needs_a_comment_and_rating_needs_accept(loaded):
    submit(loaded.engine)
    refused(
        loaded.engine, InvalidTransition, "phải kèm nhận xét", lambda: review(loaded.engine, accept=False, comment="  ")
    )
    refused(
        loaded.engine,
        FormInvalid,
        "không có trường xếp loại",
        lambda: review(loaded.engine, appraised_rating="Hoàn thành tốt nhiệm vụ"),
    )
    refused(
        loaded.engine,
        InvalidTransition,
        "không thể duyệt: đơn vị chưa gửi",
        lambda: review(loaded.engine, unit="BDH.D1.2"),
    )


def test_bad_appraised_rating(loaded):
    final = {
        "so_sang_kien": 1,
        "so_doan_vien_moi": 1,
        "cong_trinh_hoan_thanh": False,
        "xep_loai_de_nghi": "Hoàn thành nhiệm vụ",
    }
    submit(loaded.engine, obligation="tong-ket-nam", data=final, when=vn(1, 12))
    text = refused(
        loaded.engine,
        FormInvalid,
        "Xếp loại thẩm định không hợp lệ",
        lambda: review(loaded.engine, obligation="tong-ket-nam", appraised_rating="Xuất sắc", when=vn(2, 12)),
    )
    assert "[xep_loai_de_nghi]: giá trị 'Xuất sắc' không thuộc danh sách cho phép" in text


def test_closed_campaign_refuses_until_reopened(loaded):
    submit(loaded.engine)
    with session_scope(loaded.engine) as session:
        assert set_campaign_status(session, CODE, closed=True, actor="office@example.vn")
    refused(
        loaded.engine, CampaignClosed, "đã đóng.*thidua campaign reopen", lambda: submit(loaded.engine, unit="BDH.D1.2")
    )
    refused(loaded.engine, CampaignClosed, "đã đóng", lambda: review(loaded.engine))
    with session_scope(loaded.engine) as session:
        assert set_campaign_status(session, CODE, closed=False, actor="office@example.vn")
        assert not set_campaign_status(session, CODE, closed=False, actor="office@example.vn")
        actions = (
            session.execute(select(AuditLog.action).where(AuditLog.entity == "campaign").order_by(AuditLog.id))
            .scalars()
            .all()
        )
    assert actions[-2:] == ["campaign.closed", "campaign.reopened"]
    assert submit(loaded.engine, unit="BDH.D1.2").status is St.SUBMITTED


def test_not_open_yet(loaded):
    refused(
        loaded.engine,
        NotOpenYet,
        "mở nhận báo cáo từ ngày 01/10/2023",
        lambda: submit(loaded.engine, obligation="de-xuat-khen-thuong-dot-2", data={}, when=vn(30, 9)),
    )


def test_stale_version_is_a_conflict(loaded):
    submit(loaded.engine)
    seen = assignment(loaded.engine).version
    review(loaded.engine, accept=False, comment="Bổ sung gương điển hình", expected_version=seen)
    text = refused(
        loaded.engine, StaleVersion, "đã thay đổi từ lúc bạn mở", lambda: review(loaded.engine, expected_version=seen)
    )
    assert f"phiên bản {seen}, hiện tại {seen + 1}" in text
    assert StaleVersion.retryable and not FormInvalid.retryable


def test_concurrent_reviews_one_wins_the_other_gets_a_conflict(pg_engine):
    """Two reviewers' sessions hold the same assignment; the second to write is told, nothing is lost."""
    from sqlmodel import Session

    load_binh_dinh(pg_engine)
    submit(pg_engine)
    with Session(pg_engine) as slow:
        # The slow reviewer's session holds the assignment as it was (the object is kept alive on purpose).
        opened = slow.execute(_assignment_query()).scalars().one()
        seen_version = opened.version
        review(pg_engine, accept=False, comment="Bổ sung số liệu")  # the fast one returns it and commits
        with pytest.raises(StaleVersion, match="vừa được người khác thay đổi"):
            review_report(
                slow,
                campaign_code=CODE,
                obligation_code=ROUND1,
                unit_code="BDH.D1.1",
                reviewer_code="BDH.D1",
                accept=True,
                actor="BDH.D1",
                now=vn(7, 6),
            )
        slow.rollback()
    final = assignment(pg_engine)
    assert (final.status, final.version) == ("tra_lai", seen_version + 1)


def test_the_year_end_rating_is_that_of_the_latest_accepted_version(loaded):
    """Issue 17 (read set-based for many units): a returned version never counts; of the accepted versions the
    newest does, its appraised rating before the proposed one."""
    final = {"so_sang_kien": 3, "so_doan_vien_moi": 1, "cong_trinh_hoan_thanh": "có"}
    excellent, good, done = "Hoàn thành xuất sắc nhiệm vụ", "Hoàn thành tốt nhiệm vụ", "Hoàn thành nhiệm vụ"
    submit(loaded.engine, obligation="tong-ket-nam", data={**final, "xep_loai_de_nghi": excellent}, when=vn(1, 12))
    review(loaded.engine, obligation="tong-ket-nam", accept=False, comment="Bổ sung", when=vn(2, 12))
    submit(loaded.engine, obligation="tong-ket-nam", data={**final, "xep_loai_de_nghi": good}, when=vn(3, 12))
    review(loaded.engine, obligation="tong-ket-nam", when=vn(4, 12))
    for unit, rating in (("BDH.D1.2", excellent), ("BDH.D1.3", good)):
        data = {**final, "xep_loai_de_nghi": rating}
        submit(loaded.engine, unit=unit, obligation="tong-ket-nam", data=data, when=vn(1, 12))
        review(loaded.engine, unit=unit, obligation="tong-ket-nam", when=vn(4, 12), appraised_rating=done)
        submit(loaded.engine, unit=unit, obligation="tong-ket-nam", data=data, when=vn(5, 12))
    units = [loaded.units[code].id for code in ("BDH.D1.1", "BDH.D1.2", "BDH.D1.3")]
    with session_scope(loaded.engine) as session:
        campaign_id = session.execute(select(Assignment.campaign_id).limit(1)).scalar_one()
        # BDH.D1.2 and .3: version 1 accepted and appraised, version 2 waiting (not counted yet).
        assert year_end_ratings(session, campaign_id, units) == dict(zip(units, (good, done, done)))
        assert [year_end_rating(session, campaign_id, unit) for unit in units] == [good, done, done]
