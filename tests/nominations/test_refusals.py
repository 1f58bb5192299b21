"""Bad input and every rule through the services: refused with the reason (rule and figure), nothing changed."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session

from thidua.models.nominations import InvalidTransition, NominationNotFound, NotPermitted, RulesRefused
from thidua.models.tables import Campaign
from tests.conftest import CONFIG
from tests.nominations.conftest import DEC_02, DEC_20, GOOD, NOV_10, World, build_world
from thidua.services import nominations as nom

OCT_05 = datetime(2023, 10, 5, 9, 0)  # inside the round-2 window (01/10–20/10/2023)


def refused(world: World, call, error=RulesRefused, match: str | None = None):
    """Run a call that must be refused; assert the database did not change; return the error."""
    before = world.counts()
    with pytest.raises(error, match=re.escape(match) if match else None) as caught:
        call()
    assert world.counts() == before, "a refused request must change nothing"
    return caught.value


def messages(error: RulesRefused) -> list[str]:
    return [r.message for reasons in error.refusals.values() for r in reasons]


# --- input -----------------------------------------------------------------------------------------
def test_unknown_award_form(world: World) -> None:
    error = refused(
        world,
        lambda: world.propose("BDH.D1.1", world.proposal("bang-khen-ubnd-tinh", "BDH.D1.1")),
        nom.InvalidNominationInput,
    )
    assert "không có hình thức khen thưởng 'bang-khen-ubnd-tinh' trong danh mục qd1689-2019" in str(error)


def test_nominee_outside_the_proposers_subtree(world: World) -> None:
    error = refused(
        world,
        lambda: world.propose("BDH.D1.1", world.proposal("cdcs-vung-manh", "BDH.D2.1")),
        nom.InvalidNominationInput,
    )
    assert "CĐCS Đơn vị Mẫu 2-1 (giả lập) không thuộc CĐCS Đơn vị Mẫu 1-1 (giả lập)" in str(error)
    refused(
        world,
        lambda: world.propose("BDH.D1", world.proposal("bang-khen-ldld-tinh", "BDH.D2.1", person="Ngô Văn K")),
        nom.InvalidNominationInput,
        "không thuộc LĐLĐ huyện Thử Nghiệm 1",
    )


def test_wrong_levels_subjects_and_occasions(world: World) -> None:
    cases = [
        (
            "BDH.D1",
            world.proposal("giay-khen-cdcs", "BDH.D1.1", person="A"),
            "LĐLĐ huyện Thử Nghiệm 1 (CĐ cấp trên trực tiếp) không được đề nghị Giấy khen của Ban Chấp hành công đoàn cơ sở",
        ),
        (
            "BDH.D1",
            world.proposal("giay-khen-cap-tren", "BDH.D1"),
            "chỉ khen tập thể cấp CĐCS; LĐLĐ huyện Thử Nghiệm 1 là CĐ cấp trên trực tiếp",
        ),
        ("BDH.D1.1", world.proposal("bang-lao-dong-sang-tao", "BDH.D1.1"), "không khen đối tượng 'Tập thể'"),
        ("BDH.D1.1", world.proposal("cdcs-vung-manh", "BDH.D1.1", occasion="ad_hoc"), "không xét dịp 'Đột xuất'"),
        ("BDH.D1.1", world.proposal("bang-khen-tld-chuyen-de", "BDH.D1.1", theme=" "), "cần ghi chuyên đề"),
        (
            "BDH.D1.1",
            world.proposal("giay-khen-cap-tren", "BDH.D1.1", occasion="round", round_number=7),
            "số đợt hợp lệ",
        ),
    ]
    for proposer, proposal, message in cases:
        refused(world, lambda: world.propose(proposer, proposal), nom.InvalidNominationInput, message)


def test_every_problem_of_several_proposals_is_reported_at_once(world: World) -> None:
    error = refused(
        world,
        lambda: world.propose(
            "BDH.D1.1",
            world.proposal("cdcs-vung-manh", "BDH.D1.1"),
            world.proposal("khong-co", "BDH.D1.1"),
            world.proposal("cdcs-vung-manh", "BDH.D2.2"),
        ),
        nom.InvalidNominationInput,
    )
    lines = str(error).splitlines()
    assert (
        len(lines) == 2 and lines[0].startswith("Đề nghị 2 (khong-co") and lines[1].startswith("Đề nghị 3 (Công đoàn")
    )


def test_proposal_outside_the_window(world: World) -> None:
    refused(
        world,
        lambda: world.propose("BDH.D1.1", world.proposal("cdcs-vung-manh", "BDH.D1.1"), now=datetime(2023, 12, 5, 9)),
        nom.InvalidNominationInput,
        "ngoài thời gian đề xuất: 'Đề xuất khen thưởng tổng kết năm 2023' đối với CĐCS là 01/11/2023 – 30/11/2023; "
        "hôm nay 05/12/2023",
    )
    # The district's own proposals are taken until its own window closes (30/11 + 10 review days).
    assert world.propose("BDH.D1", world.proposal("co-thi-dua-ldld-tinh", "BDH.D1.1"), now=datetime(2023, 12, 5, 9))
    refused(
        world,
        lambda: world.propose(
            "BDH.D1.1", world.proposal("giay-khen-cap-tren", "BDH.D1.1", occasion="round", round_number=1), now=OCT_05
        ),
        nom.InvalidNominationInput,
        "chiến dịch không mở đợt đề xuất khen thưởng cho sơ kết đợt 1",
    )


def test_missing_dossier_item(world: World) -> None:
    proposal = world.proposal("bang-khen-ldld-tinh", "BDH.D1.1", person="Đỗ Thị H")
    del proposal.dossier["bien-ban-hoi-dong"]
    error = refused(world, lambda: world.propose("BDH.D1.1", proposal))
    assert error.rules() == {"ho-so:bien-ban-hoi-dong", "tieu-chuan:council_vote"}
    assert "Thiếu hồ sơ: Biên bản họp Hội đồng thi đua, khen thưởng (có kết quả biểu quyết)" in messages(error)


def test_sending_a_list_needs_the_to_trinh(world: World) -> None:
    world.propose("BDH.D1.1", world.proposal("cdcs-vung-manh", "BDH.D1.1"))
    refused(
        world,
        lambda: nom.send_batch(
            world.engine, world.campaign_id, world.actor("BDH.D1.1"), rating=world.rating, now=NOV_10
        ),
        nom.InvalidNominationInput,
        "cần số tờ trình",
    )
    refused(
        world, lambda: world.send("BDH.D2.1", "1/TTr", NOV_10), NominationNotFound, "không có danh sách đề nghị đang mở"
    )


def test_closed_campaign_refuses_changes(world: World) -> None:
    with Session(world.engine) as session:
        session.execute(update(Campaign).values(status="closed"))
        session.commit()
    refused(
        world,
        lambda: world.propose("BDH.D1.1", world.proposal("cdcs-vung-manh", "BDH.D1.1")),
        nom.NominationError,
        "Chiến dịch 'bd-2023' đã đóng",
    )


# --- who may act -----------------------------------------------------------------------------------
def test_only_the_current_reviewer_acts(world: World) -> None:
    (nid,) = world.propose(
        "BDH.D1.1", world.proposal("bang-khen-ldld-tinh", "BDH.D1.1", person="Mai Văn L"), send="1/TTr"
    )
    for intruder in ("BDH", "BDH.D2", "BDH.D1.1"):
        error = refused(world, lambda: world.approve(intruder, [nid], DEC_02), NotPermitted)
        assert "đang ở LĐLĐ huyện Thử Nghiệm 1 ('Đang xét')" in str(error)
    refused(
        world,
        lambda: nom.return_for_revision(
            world.engine, world.campaign_id, [nid], world.actor("BDH"), comment="x", now=DEC_02
        ),
        NotPermitted,
    )
    refused(world, lambda: world.decide("BDH", [nid]), NotPermitted)
    refused(world, lambda: world.send("BDH.D1", "2/TTr", DEC_02), NominationNotFound)  # nothing approved yet
    refused(world, lambda: world.approve("BDH.D1", [nid, 999], DEC_02), NominationNotFound, "#999")


# --- eligibility -----------------------------------------------------------------------------------
def test_unregistered_unit_is_ineligible_and_rechecked_when_forwarding(world: World) -> None:
    world.set_assignment_status("BDH.D1.2", "registration", "chua_gui")
    error = refused(world, lambda: world.propose("BDH.D1.2", world.proposal("cdcs-vung-manh", "BDH.D1.2")))
    assert error.rules() == {"tieu-chuan:registered"}
    (nid,) = world.propose("BDH.D1.1", world.proposal("cdcs-vung-manh", "BDH.D1.1"), send="3/TTr")
    (other,) = world.propose("BDH.D1.3", world.proposal("co-thi-dua-ldld-tinh", "BDH.D1.3"), send="4/TTr")
    world.set_assignment_status("BDH.D1.3", "registration", "tra_lai")  # registration returned after proposing
    error = refused(world, lambda: world.approve("BDH.D1", [other], DEC_02))
    assert "CĐCS Đơn vị Mẫu 1-3 (giả lập) chưa đăng ký thi đua" in messages(error)[0]
    assert world.view(nid).status == "under_review"


def test_rating_below_the_threshold_shows_the_figure(world: World) -> None:
    world.rating.ratings[world.units["BDH.D1.1"]] = GOOD
    error = refused(world, lambda: world.propose("BDH.D1.1", world.proposal("co-thi-dua-ldld-tinh", "BDH.D1.1")))
    assert messages(error) == [
        "Không đủ tiêu chuẩn Cờ thi đua của Liên đoàn Lao động tỉnh: cần xếp loại cuối năm từ 'Hoàn thành xuất sắc nhiệm vụ' "
        "trở lên; CĐCS Đơn vị Mẫu 1-1 (giả lập): 'Hoàn thành tốt nhiệm vụ'"
    ]
    assert world.propose("BDH.D1.1", world.proposal("cdcs-vung-manh", "BDH.D1.1"))  # "tốt" is enough for this title


def test_round_award_needs_the_accepted_round_report(engine) -> None:
    world = build_world(engine, districts=1, cdcs_per_district=1)
    proposal = world.proposal("bang-khen-ldld-tinh-chuyen-de", "BDH.D1.1", occasion="round", round_number=2)
    error = refused(world, lambda: world.propose("BDH.D1.1", proposal, now=OCT_05))
    assert messages(error) == [
        "Không đủ tiêu chuẩn Bằng khen của Liên đoàn Lao động tỉnh (chuyên đề, sơ kết đợt): "
        "báo cáo sơ kết đợt 2 của CĐCS Đơn vị Mẫu 1-1 (giả lập) chưa được duyệt"
    ]
    world.set_assignment_status("BDH.D1.1", "round_report", "da_duyet", round_number=2)
    assert world.propose("BDH.D1.1", proposal, now=OCT_05)


def test_discipline_and_council_vote(world: World) -> None:
    disciplined = world.proposal(
        "bang-khen-ldld-tinh", "BDH.D1.1", person="Lý Văn M", discipline="Khiển trách năm 2023"
    )
    error = refused(world, lambda: world.propose("BDH.D1.1", disciplined))
    assert error.rules() == {"tieu-chuan:no_discipline"}
    low_vote = world.proposal(
        "bang-khen-ldld-tinh",
        "BDH.D1.1",
        person="Lý Văn M",
        dossier={
            **world.proposal("bang-khen-ldld-tinh", "BDH.D1.1").dossier,
            "bien-ban-hoi-dong": nom.DossierEntry("BB 5/BB", 4, 9),
        },
    )
    error = refused(world, lambda: world.propose("BDH.D1.1", low_vote))
    assert "cần từ 50 % phiếu đồng ý của Hội đồng thi đua, khen thưởng; đạt 44,4 %" in messages(error)[0]


# --- quotas ----------------------------------------------------------------------------------------
def test_thematic_national_award_capped_per_provincial_federation(world: World) -> None:
    people = [
        ("BDH.D1.1", "Nguyễn Văn An"),
        ("BDH.D1.2", "Trần Văn Bình"),
        ("BDH.D1.3", "Lê Văn Cường"),
        ("BDH.D2.1", "Phạm Văn Dũng"),
    ]
    ids = [
        world.propose(unit, world.proposal("bang-khen-tld-chuyen-de", unit, person=name))[0] for unit, name in people
    ]
    fifth = world.proposal("bang-khen-tld-chuyen-de", "BDH.D2.2", person="Hoàng Văn Em")
    error = refused(world, lambda: world.propose("BDH.D2.2", fifth))
    assert error.rules() == {"han-muc:bk-tld-chuyen-de-moi-tinh"}
    assert messages(error) == [
        "Vượt hạn mức: tối đa 4 đề nghị Bằng khen chuyên đề của Tổng LĐLĐ cho mỗi LĐLĐ tỉnh mỗi năm "
        "(Liên đoàn Lao động tỉnh Bình Định); đã có 4"
    ]
    # Counted over what is alive: a withdrawal frees a place.
    nom.withdraw(world.engine, world.campaign_id, ids[0], world.actor("BDH.D1.1"), now=NOV_10)
    assert world.propose("BDH.D2.2", fifth)


def test_individual_provincial_awards_capped_per_proposing_unit(world: World) -> None:
    three = [world.proposal("bang-khen-ldld-tinh", "BDH.D1.1", person=name) for name in ("A Một", "B Hai", "C Ba")]
    error = refused(world, lambda: world.propose("BDH.D1.1", *three))
    assert messages(error)[0] == (
        "Vượt hạn mức: tối đa 2 đề nghị Bằng khen của LĐLĐ tỉnh cho cá nhân cho mỗi đơn vị đề nghị "
        "mỗi năm (CĐCS Đơn vị Mẫu 1-1 (giả lập)); đã có 0, đề nghị thêm 3"
    )
    world.propose("BDH.D1.1", *three[:2])
    error = refused(world, lambda: world.propose("BDH.D1.1", three[2]))
    assert messages(error)[0].endswith("; đã có 2")
    assert world.propose("BDH.D1.2", replace(three[2], nominee_unit_id=world.units["BDH.D1.2"]))  # another proposer


def test_banner_capped_per_district_subtree(world: World) -> None:
    world.propose("BDH.D1.1", world.proposal("co-thi-dua-ldld-tinh", "BDH.D1.1"))
    error = refused(world, lambda: world.propose("BDH.D1.2", world.proposal("co-thi-dua-ldld-tinh", "BDH.D1.2")))
    assert messages(error) == [
        "Vượt hạn mức: tối đa 1 đề nghị Cờ thi đua của LĐLĐ tỉnh cho mỗi CĐ cấp trên trực tiếp mỗi năm "
        "(LĐLĐ huyện Thử Nghiệm 1); đã có 1"
    ]
    assert world.propose("BDH.D2.1", world.proposal("co-thi-dua-ldld-tinh", "BDH.D2.1"))  # another district


def test_round_awards_capped_per_district_and_round(engine) -> None:
    world = build_world(engine, districts=1, cdcs_per_district=6)
    for k in range(1, 7):
        world.set_assignment_status(f"BDH.D1.{k}", "round_report", "da_duyet", round_number=2)
    for k in range(1, 6):
        world.propose(
            f"BDH.D1.{k}",
            world.proposal(
                "bang-khen-ldld-tinh-chuyen-de", f"BDH.D1.{k}", occasion="round", round_number=2, theme="Sơ kết đợt 2"
            ),
            now=OCT_05,
        )
    sixth = world.proposal(
        "bang-khen-ldld-tinh-chuyen-de", "BDH.D1.6", occasion="round", round_number=2, theme="Sơ kết đợt 2"
    )
    error = refused(world, lambda: world.propose("BDH.D1.6", sixth, now=OCT_05))
    assert messages(error) == [
        "Vượt hạn mức: tối đa 5 đề nghị Bằng khen sơ kết đợt của LĐLĐ tỉnh cho mỗi CĐ cấp trên trực "
        "tiếp mỗi đợt (đợt 2) (LĐLĐ huyện Thử Nghiệm 1); đã có 5"
    ]
    # The same award at year end is outside the per-round count.
    assert world.propose("BDH.D1.6", world.proposal("bang-khen-ldld-tinh-chuyen-de", "BDH.D1.6"))


def test_quotas_are_checked_again_when_forwarding(world: World, tmp_path: Path) -> None:
    catalogue = tmp_path / "catalogue.yaml"
    text = (CONFIG / "awards" / "qd1689_2019.yaml").read_text(encoding="utf-8")
    catalogue.write_text(
        text.replace("awards: [co-thi-dua-ldld-tinh]\n    max: 1", "awards: [co-thi-dua-ldld-tinh]\n    max: 2"),
        encoding="utf-8",
    )
    with Session(world.engine) as session:
        campaign = session.get(Campaign, world.campaign_id)
        campaign.spec = {**campaign.spec, "awards": {**campaign.spec["awards"], "catalogue": str(catalogue)}}
        session.add(campaign)
        session.commit()
    (first,) = world.propose("BDH.D1.1", world.proposal("co-thi-dua-ldld-tinh", "BDH.D1.1"), send="1/TTr")
    (second,) = world.propose("BDH.D1.2", world.proposal("co-thi-dua-ldld-tinh", "BDH.D1.2"), send="2/TTr")
    # The regulation tightens the cap while both wait at the district.
    catalogue.write_text(text, encoding="utf-8")
    error = refused(world, lambda: world.approve("BDH.D1", [first], DEC_02))
    assert messages(error)[0].endswith("(LĐLĐ huyện Thử Nghiệm 1); đã có 1")
    nom.reject(
        world.engine,
        world.campaign_id,
        [second],
        world.actor("BDH.D1"),
        comment="Chọn một đơn vị tiêu biểu",
        now=DEC_02,
    )
    world.approve("BDH.D1", [first], DEC_02)
    assert world.view(first).status == "approved"


# --- exclusivity (at decision) ---------------------------------------------------------------------
def test_one_achievement_one_award_at_decision(world: World) -> None:
    (certificate,) = world.propose("BDH.D1.1", world.proposal("giay-khen-cap-tren", "BDH.D1.1"), send="1/TTr")
    (banner,) = world.propose("BDH.D1.1", world.proposal("co-thi-dua-ldld-tinh", "BDH.D1.1"), send="2/TTr")
    world.decide("BDH.D1", [certificate], "30/QĐ-LĐLĐ", date(2023, 11, 30), now=DEC_02)
    world.approve("BDH.D1", [banner], DEC_02)
    world.send("BDH.D1", "50/TTr-LĐLĐ", DEC_02)
    error = refused(world, lambda: world.decide("BDH", [banner]))
    assert error.rules() == {"loai-tru:mot-thanh-tich-mot-hinh-thuc"}
    assert messages(error) == [
        "Một thành tích chỉ đề nghị một hình thức khen thưởng: CĐCS Đơn vị Mẫu 1-1 (giả lập) đã được Giấy khen của công đoàn "
        f"cấp trên trực tiếp cơ sở cho cùng thành tích (quyết định số 30/QĐ-LĐLĐ ngày 30/11/2023, đề nghị #{certificate})"
    ]


def test_comprehensive_or_thematic_in_one_decision(world: World) -> None:
    comprehensive, thematic = world.propose(
        "BDH.D1.1",
        world.proposal("bang-khen-ldld-tinh", "BDH.D1.1"),
        world.proposal("bang-khen-ldld-tinh-chuyen-de", "BDH.D1.1"),
        send="1/TTr",
    )
    world.approve("BDH.D1", [comprehensive, thematic], DEC_02)
    world.send("BDH.D1", "51/TTr-LĐLĐ", DEC_02)
    error = refused(world, lambda: world.decide("BDH", [comprehensive, thematic]))
    assert error.rules() == {"loai-tru:toan-dien-hoac-chuyen-de"}
    assert f"cùng đợt quyết định này, đề nghị #{comprehensive}" in messages(error)[0]
    nom.reject(world.engine, world.campaign_id, [thematic], world.actor("BDH"), comment="Đã khen toàn diện", now=DEC_20)
    assert world.decide("BDH", [comprehensive]) == [comprehensive]


def test_stale_version_is_a_conflict(world: World) -> None:
    (nid,) = world.propose("BDH.D1.1", world.proposal("cdcs-vung-manh", "BDH.D1.1"), send="1/TTr")
    seen = world.view(nid).version
    nom.return_for_revision(
        world.engine, world.campaign_id, [nid], world.actor("BDH.D1"), comment="Bổ sung", now=DEC_02
    )
    error = refused(
        world,
        lambda: nom.withdraw(
            world.engine, world.campaign_id, nid, world.actor("BDH.D1.1"), expected_version=seen, now=DEC_02
        ),
        nom.NominationConflict,
    )
    assert error.retryable and "trạng thái hiện tại: 'Bị trả lại'" in str(error)
    refused(
        world,
        lambda: nom.mark_awarded(
            world.engine, world.campaign_id, [nid], world.actor("BDH.D1.1"), awarded_on=date(2023, 12, 1), now=DEC_02
        ),
        InvalidTransition,
    )
