"""Pure award rules and the nomination state machine, on plain objects (milliseconds, no database)."""

from __future__ import annotations

from datetime import date

import pytest

from thidua.models.awards import (
    Candidate,
    DossierEntry,
    GrantedAward,
    NomineeFacts,
    achievement_key,
    dossier_refusals,
    eligibility_refusals,
    exclusivity_refusals,
    nominee_key,
    quota_group,
    quota_refusal,
    rating_meets,
    reviewer_levels,
    window_closes,
)
from thidua.models.nominations import (
    InvalidTransition,
    NominationAction as A,
    NominationStatus as S,
    allowed_actions,
    next_status,
)
from thidua.models.spec.awards import Quota
from tests.nominations.conftest import BEST, CATALOGUE, GOOD, full_dossier

pytestmark = pytest.mark.domain  # pure rules: `make test-fast`

LEVELS = ["tong_ldld", "ldld_tinh", "cap_tren_truc_tiep", "cdcs"]
REGISTERED_BEST = NomineeFacts(registered=True, rating=BEST, round_report_accepted=True)


def candidate(
    award: str,
    subject: str = "collective",
    occasion: str = "year_end",
    round_number: int | None = None,
    discipline: str = "",
    dossier: dict | None = None,
) -> Candidate:
    spec = CATALOGUE.award(award)
    assert spec is not None
    return Candidate(
        spec,
        subject,
        occasion,
        round_number,
        "CĐCS Cảng Quy Nhơn",
        discipline,
        full_dossier(award) if dossier is None else dossier,
    )


def rules(refusals) -> list[str]:
    return [r.rule for r in refusals]


# --- eligibility -----------------------------------------------------------------------------------
def test_rating_scale_is_ordered_best_first() -> None:
    ratings = CATALOGUE.ratings
    assert rating_meets(ratings, BEST, GOOD) and rating_meets(ratings, GOOD, GOOD)
    assert not rating_meets(ratings, GOOD, BEST)
    assert not rating_meets(ratings, None, GOOD) and not rating_meets(ratings, "Xuất sắc", GOOD)


def test_eligible_collective_passes_every_criterion() -> None:
    assert eligibility_refusals(CATALOGUE, candidate("co-thi-dua-ldld-tinh"), REGISTERED_BEST) == []


def test_unregistered_unit_is_refused_naming_the_rule() -> None:
    facts = NomineeFacts(registered=False, rating=GOOD, round_report_accepted=False)
    (refusal,) = eligibility_refusals(CATALOGUE, candidate("cdcs-vung-manh"), facts)
    assert refusal.rule == "tieu-chuan:registered"
    assert "CĐCS Cảng Quy Nhơn chưa đăng ký thi đua" in refusal.message


@pytest.mark.parametrize("rating, shown", [(GOOD, f"'{GOOD}'"), (None, "chưa có xếp loại")])
def test_rating_below_threshold_is_refused_with_both_figures(rating, shown) -> None:
    facts = NomineeFacts(registered=True, rating=rating, round_report_accepted=True)
    (refusal,) = eligibility_refusals(CATALOGUE, candidate("bang-khen-ldld-tinh"), facts)
    assert refusal.rule == "tieu-chuan:year_end_rating"
    assert f"cần xếp loại cuối năm từ '{BEST}' trở lên; CĐCS Cảng Quy Nhơn: {shown}" in refusal.message


def test_criteria_apply_only_to_their_subjects_and_occasions() -> None:
    no_facts = NomineeFacts(registered=False, rating=None, round_report_accepted=False)
    # Rating and registration are asked of collectives only; a person is judged on discipline and the vote.
    assert eligibility_refusals(CATALOGUE, candidate("bang-khen-ldld-tinh", "individual"), no_facts) == []
    # The round report is asked for round awards only.
    round_refusals = eligibility_refusals(
        CATALOGUE, candidate("giay-khen-cap-tren", occasion="round", round_number=2), NomineeFacts(True, None, False)
    )
    assert rules(round_refusals) == ["tieu-chuan:round_report_accepted"]
    assert "báo cáo sơ kết đợt 2" in round_refusals[0].message
    year_end = eligibility_refusals(CATALOGUE, candidate("giay-khen-cap-tren"), NomineeFacts(True, GOOD, False))
    assert year_end == []


def test_discipline_and_council_vote() -> None:
    (refusal,) = eligibility_refusals(
        CATALOGUE, candidate("bang-khen-tld", "individual", discipline="Khiển trách"), REGISTERED_BEST
    )
    assert refusal.rule == "tieu-chuan:no_discipline" and "(Khiển trách)" in refusal.message
    low_vote = candidate("bang-khen-tld", "individual", dossier=full_dossier("bang-khen-tld", votes=(5, 11)))
    (refusal,) = eligibility_refusals(CATALOGUE, low_vote, REGISTERED_BEST)
    assert refusal.rule == "tieu-chuan:council_vote"
    assert "cần từ 50 % phiếu đồng ý" in refusal.message and "đạt 45,5 %" in refusal.message
    enough = candidate("bang-khen-tld", "individual", dossier=full_dossier("bang-khen-tld", votes=(6, 11)))
    assert eligibility_refusals(CATALOGUE, enough, REGISTERED_BEST) == []


# --- dossier ---------------------------------------------------------------------------------------
def test_dossier_complete_passes_and_the_batch_document_is_not_asked_of_the_proposer() -> None:
    assert dossier_refusals(CATALOGUE, candidate("bang-khen-tld")) == []
    assert "to-trinh" not in full_dossier("bang-khen-tld")


def test_missing_and_incoherent_dossier_items_are_named() -> None:
    dossier = full_dossier("bang-khen-tld")
    del dossier["danh-sach-trich-ngang"]
    dossier["bien-ban-hoi-dong"] = DossierEntry("BB 01/BB-HĐ", 12, 11)
    dossier["giay-phep-lai-xe"] = DossierEntry("GPLX")
    refusals = {r.rule: r.message for r in dossier_refusals(CATALOGUE, candidate("bang-khen-tld", dossier=dossier))}
    assert refusals["ho-so:danh-sach-trich-ngang"] == "Thiếu hồ sơ: Danh sách trích ngang đối tượng đề nghị khen thưởng"
    assert "kết quả biểu quyết không hợp lệ (12/11)" in refusals["ho-so:bien-ban-hoi-dong"]
    assert refusals["ho-so:giay-phep-lai-xe"].startswith("Hồ sơ 'giay-phep-lai-xe' không thuộc hồ sơ của")
    no_vote = {**full_dossier("bang-khen-tld"), "bien-ban-hoi-dong": DossierEntry("BB 01/BB-HĐ")}
    (refusal,) = dossier_refusals(CATALOGUE, candidate("bang-khen-tld", dossier=no_vote))
    assert "thiếu kết quả biểu quyết" in refusal.message


# --- quotas ----------------------------------------------------------------------------------------
THEMATIC_CAP = next(q for q in CATALOGUE.quotas if q.code == "bk-tld-chuyen-de-moi-tinh")


def test_quota_message_names_the_limit_the_scope_and_the_count() -> None:
    refusal = quota_refusal(
        THEMATIC_CAP, existing=4, adding=1, level_name="LĐLĐ tỉnh", scope_name="Liên đoàn Lao động tỉnh Bình Định"
    )
    assert refusal is not None and refusal.rule == "han-muc:bk-tld-chuyen-de-moi-tinh"
    assert refusal.message == (
        "Vượt hạn mức: tối đa 4 đề nghị Bằng khen chuyên đề của Tổng LĐLĐ cho mỗi LĐLĐ tỉnh "
        "mỗi năm (Liên đoàn Lao động tỉnh Bình Định); đã có 4"
    )
    assert quota_refusal(THEMATIC_CAP, existing=3, adding=1) is None
    several = quota_refusal(THEMATIC_CAP, existing=3, adding=2, level_name="LĐLĐ tỉnh")
    assert several is not None and several.message.endswith("đã có 3, đề nghị thêm 2")


def test_quota_kinds_word_their_scope_and_period() -> None:
    per_proposer = Quota(code="q", title="đề nghị thử", awards=["x"], max=2, per="proposer")
    per_campaign = Quota(code="q", title="đề nghị thử", awards=["x"], max=2, per="campaign")
    per_round = Quota(
        code="q", title="đề nghị thử", awards=["x"], max=5, per="subtree", level="cap_tren_truc_tiep", period="round"
    )
    assert (
        "tối đa 2 đề nghị thử cho mỗi đơn vị đề nghị mỗi năm"
        in quota_refusal(per_proposer, existing=2, adding=1).message
    )
    assert "trong toàn chiến dịch mỗi năm" in quota_refusal(per_campaign, existing=2, adding=1).message
    message = quota_refusal(per_round, existing=5, adding=1, level_name="CĐ cấp trên trực tiếp", round_number=2).message
    assert "tối đa 5 đề nghị thử cho mỗi CĐ cấp trên trực tiếp mỗi đợt (đợt 2)" in message


def test_quota_groups() -> None:
    per_round = Quota(
        code="q", title="t", awards=["x"], max=5, per="subtree", level="cap_tren_truc_tiep", period="round"
    )
    assert quota_group(per_round, origin_unit_id=9, subtree_root_id=3, occasion="year_end", round_number=None) is None
    group = quota_group(per_round, origin_unit_id=9, subtree_root_id=3, occasion="round", round_number=2)
    assert (group.scope_id, group.round_number) == (3, 2)
    assert (
        quota_group(THEMATIC_CAP, origin_unit_id=9, subtree_root_id=None, occasion="year_end", round_number=None)
        is None
    )
    per_proposer = Quota(code="p", title="t", awards=["x"], max=1, per="proposer")
    assert (
        quota_group(per_proposer, origin_unit_id=9, subtree_root_id=None, occasion="ad_hoc", round_number=None).scope_id
        == 9
    )


# --- exclusivity -----------------------------------------------------------------------------------
def granted(
    nomination_id: int,
    award: str,
    *,
    occasion: str = "year_end",
    theme: str = "",
    subject: str = "collective",
    number: str = "",
) -> GrantedAward:
    spec = CATALOGUE.award(award)
    assert spec is not None
    return GrantedAward(
        nomination_id,
        spec.code,
        spec.name,
        spec.kind,
        spec.scope,
        spec.decided_by,
        occasion,
        subject,
        nominee_key(subject, 17, "Lê Thị C" if subject == "individual" else ""),
        achievement_key(1, occasion, 2 if occasion == "round" else None, theme if spec.scope == "thematic" else ""),
        number,
        date(2023, 12, 1) if number else None,
    )


def test_one_achievement_earns_one_award() -> None:
    earlier = granted(1, "giay-khen-cap-tren", number="45/QĐ-LĐLĐ")
    (refusal,) = exclusivity_refusals(CATALOGUE, granted(2, "co-thi-dua-ldld-tinh"), [earlier], "CĐCS X")
    assert refusal.rule == "loai-tru:mot-thanh-tich-mot-hinh-thuc"
    assert "CĐCS X đã được Giấy khen của công đoàn cấp trên trực tiếp cơ sở cho cùng thành tích" in refusal.message
    assert "quyết định số 45/QĐ-LĐLĐ ngày 01/12/2023" in refusal.message
    # A round award is another achievement; a title is counted apart from certificates and banners.
    assert (
        exclusivity_refusals(CATALOGUE, granted(3, "giay-khen-cap-tren", occasion="round"), [earlier], "CĐCS X") == []
    )
    assert exclusivity_refusals(CATALOGUE, granted(4, "cdcs-vung-manh"), [earlier], "CĐCS X") == []


def test_comprehensive_or_thematic_at_one_deciding_level() -> None:
    comprehensive = granted(1, "bang-khen-ldld-tinh", number="100/QĐ-LĐLĐ")
    thematic = granted(2, "bang-khen-ldld-tinh-chuyen-de", theme="An toàn vệ sinh lao động")
    (refusal,) = exclusivity_refusals(CATALOGUE, thematic, [comprehensive], "CĐCS X")
    assert refusal.rule == "loai-tru:toan-dien-hoac-chuyen-de"
    assert "đã được Bằng khen của Liên đoàn Lao động tỉnh (toàn diện) (khen toàn diện)" in refusal.message
    # Another deciding level, a round award, or an individual are outside the rule.
    national_thematic = granted(3, "bang-khen-tld-chuyen-de", theme="An toàn vệ sinh lao động")
    assert exclusivity_refusals(CATALOGUE, national_thematic, [comprehensive], "CĐCS X") == []
    round_thematic = granted(4, "bang-khen-ldld-tinh-chuyen-de", occasion="round", theme="Đợt 2")
    assert exclusivity_refusals(CATALOGUE, round_thematic, [comprehensive], "CĐCS X") == []
    person_comprehensive = granted(5, "bang-khen-ldld-tinh", subject="individual", number="7/QĐ")
    person_thematic = granted(6, "bang-khen-ldld-tinh-chuyen-de", subject="individual", theme="ATVSLĐ")
    assert exclusivity_refusals(CATALOGUE, person_thematic, [person_comprehensive], "Lê Thị C") == []


def test_other_nominees_never_conflict() -> None:
    mine = granted(2, "co-thi-dua-ldld-tinh")
    other = GrantedAward(
        1,
        "giay-khen-cap-tren",
        "Giấy khen",
        "certificate",
        "none",
        "cap_tren_truc_tiep",
        "year_end",
        "collective",
        "u:99",
        mine.achievement_key,
        "1/QĐ",
        date(2023, 12, 1),
    )
    assert exclusivity_refusals(CATALOGUE, mine, [other], "CĐCS X") == []


# --- identity, route, windows ----------------------------------------------------------------------
def test_person_identity_ignores_case_spacing_and_unicode_form() -> None:
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "Nguyễn Văn An")
    assert nominee_key("individual", 5, "  nguyễn  văn AN ") == nominee_key("individual", 5, decomposed)
    assert nominee_key("individual", 5, "Nguyễn Văn An") != nominee_key("individual", 6, "Nguyễn Văn An")
    assert nominee_key("collective", 5) == "u:5"


@pytest.mark.parametrize(
    "origin, decider, chain",
    [
        ("cdcs", "ldld_tinh", ["cap_tren_truc_tiep", "ldld_tinh"]),
        ("cdcs", "tong_ldld", ["cap_tren_truc_tiep", "ldld_tinh", "tong_ldld"]),
        ("cap_tren_truc_tiep", "tong_ldld", ["ldld_tinh", "tong_ldld"]),
        ("cdcs", "cdcs", ["cdcs"]),
    ],
)
def test_reviewer_chain_climbs_to_the_deciding_level(origin, decider, chain) -> None:
    assert reviewer_levels(LEVELS, origin, decider) == chain


def test_each_level_window_closes_after_the_one_below_plus_its_review_days() -> None:
    closes = window_closes(date(2023, 11, 30), LEVELS, {"cap_tren_truc_tiep": 10, "ldld_tinh": 15, "tong_ldld": 30})
    assert closes == {
        "cdcs": date(2023, 11, 30),
        "cap_tren_truc_tiep": date(2023, 12, 10),
        "ldld_tinh": date(2023, 12, 25),
        "tong_ldld": date(2024, 1, 24),
    }


# --- state machine ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "status, action, deciding, expected",
    [
        (S.DRAFTED, A.PROPOSE, False, S.PROPOSED),
        (S.DRAFTED, A.PROPOSE, True, S.UNDER_REVIEW),
        (S.PROPOSED, A.SEND, False, S.UNDER_REVIEW),
        (S.UNDER_REVIEW, A.APPROVE, False, S.APPROVED),
        (S.APPROVED, A.SEND, False, S.UNDER_REVIEW),
        (S.UNDER_REVIEW, A.RETURN, True, S.RETURNED),
        (S.APPROVED, A.RETURN, False, S.RETURNED),
        (S.RETURNED, A.RESUBMIT, False, S.UNDER_REVIEW),
        (S.UNDER_REVIEW, A.REJECT, True, S.REJECTED),
        (S.UNDER_REVIEW, A.DECIDE, True, S.DECIDED),
        (S.DECIDED, A.AWARD, True, S.AWARDED),
        (S.UNDER_REVIEW, A.WITHDRAW, False, S.WITHDRAWN),
        (S.RETURNED, A.EDIT, False, S.RETURNED),
    ],
)
def test_allowed_transitions(status, action, deciding, expected) -> None:
    assert next_status(status, action, at_deciding_unit=deciding) is expected


@pytest.mark.parametrize(
    "status, action, deciding, message",
    [
        (S.DRAFTED, A.DECIDE, True, "Không thể quyết định khen thưởng: đề nghị đang ở trạng thái 'Nháp'"),
        (S.UNDER_REVIEW, A.APPROVE, True, "hãy ra quyết định khen thưởng"),
        (S.UNDER_REVIEW, A.DECIDE, False, "Chỉ cấp quyết định"),
        (
            S.DECIDED,
            A.WITHDRAW,
            False,
            "Không thể rút đề nghị: đề nghị đang ở trạng thái 'Đã có quyết định khen thưởng'",
        ),
        (S.REJECTED, A.RESUBMIT, False, "Không thể gửi lại"),
        (S.WITHDRAWN, A.APPROVE, False, "Không thể duyệt"),
        (S.UNDER_REVIEW, A.RESUBMIT, False, "Không thể gửi lại"),
    ],
)
def test_refused_transitions_say_why(status, action, deciding, message) -> None:
    with pytest.raises(InvalidTransition, match=message):
        next_status(status, action, at_deciding_unit=deciding)


def test_allowed_actions_for_a_reviewer_below_the_deciding_level() -> None:
    assert set(allowed_actions(S.UNDER_REVIEW, at_deciding_unit=False)) == {A.APPROVE, A.RETURN, A.REJECT, A.WITHDRAW}
    assert set(allowed_actions(S.UNDER_REVIEW, at_deciding_unit=True)) == {A.DECIDE, A.RETURN, A.REJECT, A.WITHDRAW}
