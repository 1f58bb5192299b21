"""Nominations walked along every path through the service layer (SQLite): up to the province, up to the
Tổng LĐLĐ, returned and resubmitted, rejected, withdrawn, decided by the proposer's own council."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from sqlalchemy import select
from sqlmodel import Session

from thidua.models.clock import utc_to_local
from thidua.models.nominations import InvalidTransition, NominationBatch, NotPermitted
from thidua.models.tables import AuditLog
from thidua.notifications.render import get_renderer
from tests.nominations.conftest import DEC_02, DEC_20, NOV_10, World
from thidua.services import nominations as nom


def actions(world: World, nomination_id: int) -> list[tuple[str, str, str]]:
    return [(s.action, s.to_status, s.to_unit) for s in world.view(nomination_id).steps]


def local_day(moment: datetime | None) -> date | None:
    return None if moment is None else utc_to_local(moment).date()


def test_provincial_award_climbs_from_cdcs_to_the_province_and_is_awarded(world: World) -> None:
    (person,) = world.propose(
        "BDH.D1.1", world.proposal("bang-khen-ldld-tinh", "BDH.D1.1", person="Nguyễn Văn An"), send="05/TTr-CĐCS"
    )
    at_district = world.view(person)
    assert (at_district.status, at_district.current_unit) == ("under_review", "LĐLĐ huyện Thử Nghiệm 1")
    assert local_day(at_district.review_due_at) == date(2023, 11, 20)  # 10 review days for the district
    assert [v.id for v in nom.reviewer_queue(world.engine, world.campaign_id, world.units["BDH.D1"])] == [person]
    assert nom.reviewer_queue(world.engine, world.campaign_id, world.units["BDH"]) == []

    # The district checks it, adds its own list (a banner for one of its CĐCS) and sends both under one tờ trình.
    world.approve("BDH.D1", [person], datetime(2023, 11, 15, 9))
    (own,) = world.propose("BDH.D1", world.proposal("co-thi-dua-ldld-tinh", "BDH.D1.3"), now=datetime(2023, 11, 15, 10))
    sent = world.send("BDH.D1", "40/TTr-LĐLĐ", datetime(2023, 11, 16, 9))
    assert sorted(sent.nomination_ids) == sorted([person, own]) and sent.to_unit_id == world.units["BDH"]
    at_province = world.view(person)
    assert at_province.current_unit == "Liên đoàn Lao động tỉnh Bình Định"
    assert local_day(at_province.review_due_at) == date(2023, 12, 1)  # 15 review days for the province

    nom.decide(
        world.engine,
        world.campaign_id,
        world.actor("BDH"),
        nom.Decision("123/QĐ-LĐLĐ", date(2023, 12, 20), "Chủ tịch"),
        batch_id=sent.batch_id,
        now=DEC_20,
    )
    nom.mark_awarded(
        world.engine,
        world.campaign_id,
        [person],
        world.actor("BDH"),
        awarded_on=date(2023, 12, 28),
        now=datetime(2023, 12, 28, 15),
    )
    final = world.view(person)
    assert (final.status, final.decision_number, final.decision_date, final.awarded_on) == (
        "awarded",
        "123/QĐ-LĐLĐ",
        date(2023, 12, 20),
        date(2023, 12, 28),
    )
    assert world.view(own).status == "decided"

    cdcs, district, province = (
        "CĐCS Đơn vị Mẫu 1-1 (giả lập)",
        "LĐLĐ huyện Thử Nghiệm 1",
        "Liên đoàn Lao động tỉnh Bình Định",
    )
    assert actions(world, person) == [
        ("draft", "drafted", cdcs),
        ("propose", "proposed", cdcs),
        ("send", "under_review", district),
        ("approve", "approved", district),
        ("send", "under_review", province),
        ("decide", "decided", province),
        ("award", "awarded", province),
    ]
    assert [s.actor for s in world.view(person).steps][-2:] == ["bdh@example.vn", "bdh@example.vn"]
    with Session(world.engine) as session:
        audited = (
            session.execute(
                select(AuditLog.action)
                .where(
                    AuditLog.entity == "nomination",  # type: ignore[call-overload]
                    AuditLog.entity_id == str(person),
                )
                .order_by(AuditLog.id)
            )
            .scalars()
            .all()
        )
        batch = session.get(NominationBatch, sent.batch_id)
    assert audited == [f"nomination.{a}" for a in ("draft", "propose", "send", "approve", "send", "decide", "award")]
    assert (batch.status, batch.to_trinh_number, batch.item_count, batch.decision_number) == (
        "sent",
        "40/TTr-LĐLĐ",
        2,
        "123/QĐ-LĐLĐ",
    )

    # The CĐCS is told at every step after its draft; the receiving reviewers are told once per list.
    told = [m for m in world.outbox_for("BDH.D1.1") if m.context.get("nomination_id") == person]
    assert [m.context["action"] for m in told] == ["propose", "send", "approve", "send", "decide", "award"]
    assert {m.recipient for m in told} == {"bdh-d1-1@example.vn"}
    decided_mail = get_renderer().render("nomination_step", told[4].context)
    assert (
        decided_mail.subject
        == "Đã có quyết định khen thưởng: Bằng khen của Liên đoàn Lao động tỉnh (toàn diện) – Nguyễn Văn An"
    )
    assert "Quyết định số 123/QĐ-LĐLĐ ngày 20/12/2023" in decided_mail.text
    (district_notice,) = [m for m in world.outbox_for("BDH.D1") if m.context["audience"] == "reviewer"]
    assert (
        get_renderer().render("nomination_step", district_notice.context).subject
        == "Có 1 đề nghị khen thưởng chờ xét, hạn xét 20/11/2023"
    )


def test_national_award_passes_district_and_province_to_the_tong_ldld(world: World) -> None:
    (nid,) = world.propose("BDH.D1.1", world.proposal("bang-khen-tld-chuyen-de", "BDH.D1.1"), send="06/TTr-CĐCS")
    world.approve("BDH.D1", [nid], datetime(2023, 11, 20, 9))
    world.send("BDH.D1", "41/TTr-LĐLĐ", datetime(2023, 11, 20, 10))
    with pytest.raises(InvalidTransition, match="Chỉ cấp quyết định"):  # the province is not the decider here…
        world.decide("BDH", [nid])
    world.approve("BDH", [nid], datetime(2023, 12, 10, 9))  # …it approves and forwards
    at_national = world.send("BDH", "88/TTr-LĐLĐ", datetime(2023, 12, 10, 10))
    view = world.view(nid)
    assert (view.current_unit, local_day(view.review_due_at)) == ("Tổng Liên đoàn Lao động Việt Nam", date(2024, 1, 9))
    assert at_national.to_unit_id == world.units["TLD"]
    assert view.route == ["CĐ cấp trên trực tiếp", "LĐLĐ tỉnh", "Tổng LĐLĐ"]
    world.decide("TLD", [nid], "55/QĐ-TLĐ", date(2024, 1, 8), now=datetime(2024, 1, 8, 9))
    assert [(a, u) for a, _, u in actions(world, nid) if a in ("send", "decide")] == [
        ("send", "LĐLĐ huyện Thử Nghiệm 1"),
        ("send", "Liên đoàn Lao động tỉnh Bình Định"),
        ("send", "Tổng Liên đoàn Lao động Việt Nam"),
        ("decide", "Tổng Liên đoàn Lao động Việt Nam"),
    ]
    assert [local_day(s.review_due_at) for s in world.view(nid).steps if s.action == "send"] == [
        date(2023, 11, 20),
        date(2023, 12, 5),
        date(2024, 1, 9),
    ]  # 10, 15 and 30 review days


def test_returned_file_is_fixed_and_goes_back_to_the_reviewer_who_returned_it(world: World, tmp_path) -> None:
    from tests.nominations.test_return_to import use_catalogue_with

    use_catalogue_with(world, tmp_path, "return_to: proposer")  # the default (sender) is in test_return_to.py
    (nid,) = world.propose(
        "BDH.D1.1", world.proposal("bang-khen-ldld-tinh", "BDH.D1.1", person="Trần Thị Bình"), send="07/TTr-CĐCS"
    )
    world.approve("BDH.D1", [nid], datetime(2023, 11, 20, 9))
    world.send("BDH.D1", "42/TTr-LĐLĐ", datetime(2023, 11, 20, 10))
    reason = "Báo cáo thành tích chưa có xác nhận của thủ trưởng đơn vị"
    nom.return_for_revision(
        world.engine, world.campaign_id, [nid], world.actor("BDH"), comment=reason, now=datetime(2023, 11, 25, 9)
    )
    returned = world.view(nid)
    assert (returned.status, returned.current_unit_id, returned.returned_by_unit_id) == (
        "returned",
        world.units["BDH.D1.1"],
        world.units["BDH"],
    )
    mail = world.outbox_for("BDH.D1.1")[-1]
    rendered = get_renderer().render("nomination_step", mail.context)
    assert rendered.subject.startswith("Đề nghị khen thưởng bị trả lại")
    assert f"Lý do: {reason}" in rendered.text and "hồ sơ sẽ về lại Liên đoàn Lao động tỉnh Bình Định" in rendered.text

    with pytest.raises(NotPermitted):  # only the proposer resubmits
        nom.resubmit(world.engine, world.campaign_id, nid, world.actor("BDH.D1"), now=datetime(2023, 11, 26, 9))
    fixed = {"bao-cao-thanh-tich": nom.DossierEntry("BC 12/BC-CĐCS (có xác nhận)")}
    nom.resubmit(
        world.engine,
        world.campaign_id,
        nid,
        world.actor("BDH.D1.1"),
        comment="Đã bổ sung xác nhận",
        changes=nom.ProposalChanges(dossier=fixed),
        expected_version=returned.version,
        rating=world.rating,
        now=datetime(2023, 11, 27, 9),
    )
    again = world.view(nid)
    assert (again.status, again.current_unit) == (
        "under_review",
        "Liên đoàn Lao động tỉnh Bình Định",
    )  # not the district
    assert again.dossier["bao-cao-thanh-tich"]["ref"] == "BC 12/BC-CĐCS (có xác nhận)"
    assert local_day(again.review_due_at) == date(2023, 12, 12)
    assert again.steps[-2].comment == reason and again.steps[-1].comment == "Đã bổ sung xác nhận"
    world.decide("BDH", [nid])
    assert world.view(nid).status == "decided"


def test_rejection_is_final_and_needs_a_reason(world: World) -> None:
    (nid,) = world.propose("BDH.D1.2", world.proposal("cdcs-vung-manh", "BDH.D1.2"), send="08/TTr-CĐCS")
    before = world.counts()
    with pytest.raises(nom.InvalidNominationInput, match="cần ghi lý do"):
        nom.reject(world.engine, world.campaign_id, [nid], world.actor("BDH.D1"), comment="  ", now=DEC_02)
    assert world.counts() == before
    nom.reject(
        world.engine, world.campaign_id, [nid], world.actor("BDH.D1"), comment="Chưa đủ 12 tháng hoạt động", now=DEC_02
    )
    assert world.view(nid).status == "rejected"
    with pytest.raises(InvalidTransition, match="Không thể gửi lại"):
        nom.resubmit(world.engine, world.campaign_id, nid, world.actor("BDH.D1.2"), now=DEC_02)
    with pytest.raises(
        InvalidTransition, match="Không thể quyết định khen thưởng: đề nghị đang ở trạng thái 'Không được chấp nhận'"
    ):
        world.decide("BDH.D1", [nid], now=DEC_20)


def test_withdrawal_before_the_decision_only(world: World) -> None:
    waiting, queued = world.propose(
        "BDH.D1.1",
        world.proposal("bang-khen-ldld-tinh", "BDH.D1.1", person="Lê Văn C"),
        world.proposal("cdcs-vung-manh", "BDH.D1.1"),
        send="09/TTr-CĐCS",
    )
    nom.withdraw(
        world.engine, world.campaign_id, waiting, world.actor("BDH.D1.1"), comment="Chuyển sang đợt sau", now=NOV_10
    )
    assert world.view(waiting).status == "withdrawn"
    with pytest.raises(InvalidTransition, match="Không thể duyệt"):  # still held by the district, but withdrawn
        world.approve("BDH.D1", [waiting], DEC_02)
    with pytest.raises(NotPermitted):  # only the proposer withdraws
        nom.withdraw(world.engine, world.campaign_id, queued, world.actor("BDH.D1"), now=DEC_02)
    world.decide("BDH.D1", [queued], "12/QĐ-LĐLĐ", date(2023, 12, 1), now=DEC_02)  # the district decides this title
    with pytest.raises(InvalidTransition, match="Không thể rút đề nghị"):
        nom.withdraw(world.engine, world.campaign_id, queued, world.actor("BDH.D1.1"), now=DEC_02)


def test_withdrawing_the_only_item_of_an_outgoing_list_leaves_nothing_to_send(world: World) -> None:
    (nid,) = world.propose("BDH.D1.1", world.proposal("cdcs-vung-manh", "BDH.D1.1"))
    assert world.view(nid).status == "proposed"
    nom.withdraw(world.engine, world.campaign_id, nid, world.actor("BDH.D1.1"), now=NOV_10)
    with pytest.raises(nom.InvalidNominationInput, match="không có đề nghị nào để gửi"):
        world.send("BDH.D1.1", "10/TTr-CĐCS", NOV_10)


def test_a_unit_at_the_deciding_level_reviews_and_decides_its_own_proposal(world: World) -> None:
    (nid,) = world.propose("BDH.D2.1", world.proposal("giay-khen-cdcs", "BDH.D2.1", person="Phạm Thị Dung"))
    view = world.view(nid)
    assert (view.status, view.current_unit_id) == ("under_review", world.units["BDH.D2.1"])
    assert nom.list_batches(world.engine, world.campaign_id, unit_id=world.units["BDH.D2.1"]) == []
    world.decide("BDH.D2.1", [nid], "03/QĐ-CĐCS", date(2023, 11, 10), now=NOV_10)
    assert world.view(nid).status == "decided"


def test_decision_for_one_nomination_then_for_the_rest_of_the_list(world: World) -> None:
    first, second, third = world.propose(
        "BDH.D1.1",
        world.proposal("giay-khen-cap-tren", "BDH.D1.1", person="Võ Văn E"),
        world.proposal("giay-khen-cap-tren", "BDH.D1.1", person="Đặng Thị G"),
        world.proposal("cdcs-vung-manh", "BDH.D1.1"),
        send="11/TTr-CĐCS",
    )
    (batch,) = nom.list_batches(world.engine, world.campaign_id, unit_id=world.units["BDH.D1.1"])
    batch_id = batch["id"]
    world.decide("BDH.D1", [second], "20/QĐ-LĐLĐ", date(2023, 11, 30), now=DEC_02)
    decided = nom.decide(
        world.engine,
        world.campaign_id,
        world.actor("BDH.D1"),
        nom.Decision("21/QĐ-LĐLĐ", date(2023, 12, 1), "Chủ tịch"),
        batch_id=batch_id,
        now=DEC_02,
    )
    assert sorted(decided) == sorted([first, third])
    assert [world.view(i).decision_number for i in (first, second, third)] == ["21/QĐ-LĐLĐ", "20/QĐ-LĐLĐ", "21/QĐ-LĐLĐ"]


@pytest.mark.parametrize(
    "decision, message",
    [
        (nom.Decision("", date(2023, 12, 1), "Chủ tịch"), "thiếu số quyết định"),
        (nom.Decision("22/QĐ-LĐLĐ", None, "Chủ tịch"), "thiếu ngày quyết định"),
        (nom.Decision("22/QĐ-LĐLĐ", date(2023, 12, 1), ""), "thiếu người ký"),
        (
            nom.Decision("22/QĐ-LĐLĐ", date(2023, 12, 31), "Chủ tịch"),
            "ngày quyết định 31/12/2023 sau hôm nay (02/12/2023)",
        ),
    ],
)
def test_decision_without_number_date_or_signer_is_refused_and_changes_nothing(world: World, decision, message) -> None:
    (nid,) = world.propose("BDH.D1.1", world.proposal("cdcs-vung-manh", "BDH.D1.1"), send="12/TTr-CĐCS")
    before = world.counts()
    with pytest.raises(nom.InvalidNominationInput, match=re.escape(message)):
        nom.decide(world.engine, world.campaign_id, world.actor("BDH.D1"), decision, nomination_ids=[nid], now=DEC_02)
    assert world.counts() == before and world.view(nid).status == "under_review"


def test_a_draft_is_edited_then_proposed(world: World) -> None:
    (nid,) = nom.draft(
        world.engine,
        world.campaign_id,
        world.actor("BDH.D2.2"),
        [world.proposal("giay-khen-cap-tren", "BDH.D2.2", person="Hồ Văn Hải")],
        now=NOV_10,
    )
    assert world.view(nid).status == "drafted"
    assert nom.reviewer_queue(world.engine, world.campaign_id, world.units["BDH.D2"]) == []
    version = nom.edit(
        world.engine,
        world.campaign_id,
        nid,
        world.actor("BDH.D2.2"),
        nom.ProposalChanges(achievement="Có 2 sáng kiến được công nhận", person_position="Tổ trưởng"),
        expected_version=1,
        now=NOV_10,
    )
    with pytest.raises(nom.NominationConflict, match="phiên bản 2, bạn xem phiên bản 1"):
        nom.propose(
            world.engine,
            world.campaign_id,
            world.actor("BDH.D2.2"),
            draft_ids=[nid],
            expected_versions={nid: 1},
            rating=world.rating,
            now=NOV_10,
        )
    nom.propose(
        world.engine,
        world.campaign_id,
        world.actor("BDH.D2.2"),
        draft_ids=[nid],
        expected_versions={nid: version},
        send=nom.DocumentRef("02/TTr-CĐCS", NOV_10.date()),
        rating=world.rating,
        now=NOV_10,
    )
    view = world.view(nid)
    assert (view.status, view.current_unit, view.achievement, view.nominee_position) == (
        "under_review",
        "LĐLĐ huyện Thử Nghiệm 2",
        "Có 2 sáng kiến được công nhận",
        "Tổ trưởng",
    )
    assert [s.action for s in view.steps] == ["draft", "edit", "propose", "send"]
