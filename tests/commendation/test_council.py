"""Council sessions: quorum and threshold from the catalogue at their edges, open votes per member and secret
tallies, the minutes (DOCX, BB number), and decisions only for nominations that passed."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from tests.commendation.conftest import person_at_province, use_catalogue
from tests.nominations.conftest import World
from thidua.models.council import Rule, needed_votes, passes, quorum_met
from thidua.models.nominations import InvalidNominationInput, InvalidTransition, RulesRefused
from thidua.services.commendation import council, decisions
from thidua.services.commendation.docx_fill import docx_text

NOW = datetime(2023, 12, 18, 2, 0, tzinfo=timezone.utc)
HALF = Rule(50, True, 50, True, "members")  # "trên 1/2"


@pytest.mark.parametrize(
    "present, members, met", [(5, 9, True), (4, 9, False), (5, 10, False), (6, 10, True), (0, 0, False)]
)
def test_quorum_more_than_half(present: int, members: int, met: bool) -> None:
    assert quorum_met(present, members, HALF) is met


@pytest.mark.parametrize(
    "votes_for, present, members, rule, ok",
    [
        (5, 9, 9, HALF, True),
        (4, 9, 9, HALF, False),
        (5, 10, 10, HALF, False),
        (6, 10, 10, HALF, True),
        (5, 6, 11, HALF, False),  # 5 of 6 present is a majority of those present, not of the 11 members
        (5, 6, 11, Rule(50, True, 50, True, "present"), True),
        (5, 10, 10, Rule(50, True, 50, False, "members"), True),  # "từ 1/2": exactly half passes
        (9, 10, 10, Rule(50, True, 90, False, "members"), True),
        (8, 10, 10, Rule(50, True, 90, False, "members"), False),
        (2, 3, 3, Rule(50, True, 66.67, False, "members"), False),
        (2, 3, 3, Rule(50, True, 66.66, False, "members"), True),
    ],
)
def test_threshold_edges(votes_for: int, present: int, members: int, rule: Rule, ok: bool) -> None:
    assert passes(votes_for, present, members, rule) is ok


def test_needed_votes_is_the_first_that_passes() -> None:
    assert needed_votes(9, 9, HALF) == 5 and needed_votes(10, 10, HALF) == 6
    assert needed_votes(10, 10, Rule(50, True, 50, False, "members")) == 5


MEMBERS = [
    council.Member("Nguyễn Văn Bình", "Chủ tịch Hội đồng"),
    council.Member("Trần Thị Cúc", "Phó Chủ tịch"),
    council.Member("Lê Văn Dũng"),
    council.Member("Phạm Thị Em"),
    council.Member("Võ Văn Phong", "Thư ký"),
]


def _session(world: World, ids: list[int], mode: str = "open", members=MEMBERS) -> int:  # noqa: ANN001
    return council.convene(
        world.engine,
        world.campaign_id,
        world.actor("BDH"),
        title="Họp xét khen thưởng năm 2023",
        held_on=date(2023, 12, 18),
        members=members,
        mode=mode,
        place="Hội trường LĐLĐ tỉnh",
        nomination_ids=ids,
        now=NOW,
    )


def _decide(world: World, ids: list[int], council_id: int | None = None) -> decisions.IssuedDecision:
    return decisions.issue_decision(
        world.engine,
        world.campaign_id,
        world.actor("BDH"),
        decisions.DecisionInput(date(2023, 12, 20), "Nguyễn Văn Bình", council_session_id=council_id),
        nomination_ids=ids,
        now=datetime(2023, 12, 20, 2, tzinfo=timezone.utc),
    )


def test_open_votes_decide_who_passes_and_only_they_are_decided(world: World, tmp_path: Path) -> None:
    an, binh = person_at_province(world, "Nguyễn Văn An"), person_at_province(world, "Trần Thị Bình", cdcs="BDH.D2.1")
    sid = _session(world, [an, binh])
    with pytest.raises(RulesRefused, match="Đang chờ Hội đồng"):
        _decide(world, [an])
    actor = world.actor("BDH")
    council.record_votes(
        world.engine, sid, actor, an, {1: "for", 2: "for", 3: "for", 4: "against", 5: "abstain"}, now=NOW
    )
    council.record_votes(
        world.engine, sid, actor, binh, {1: "for", 2: "for", 3: "against", 4: "against", 5: "against"}, now=NOW
    )
    council.record_votes(
        world.engine, sid, actor, binh, {3: "for"}, now=NOW
    )  # a member changes their vote before closing
    with pytest.raises(InvalidNominationInput, match="thành viên số 9"):
        council.record_votes(world.engine, sid, actor, an, {9: "for"}, now=NOW)
    view = council.close(world.engine, sid, actor, now=NOW)
    assert view.quorum_met and view.minutes_symbol == "1/BB-LĐLĐ"
    results = {i["nomination_id"]: (i["votes_for"], i["votes_against"], i["result"]) for i in view.agenda}
    assert results == {an: (3, 1, "passed"), binh: (3, 2, "passed")}
    with pytest.raises(InvalidTransition, match="đã kết thúc"):
        council.record_votes(world.engine, sid, actor, an, {4: "for"}, now=NOW)
    assert _decide(world, [an, binh], sid).symbol == "1/QĐ-LĐLĐ"
    text = docx_text(council.write_minutes_docx(world.engine, sid, tmp_path / "bb.docx"))
    assert "Số: 1/BB-LĐLĐ" in text and "Chủ trì: Nguyễn Văn Bình. Thư ký: Võ Văn Phong." in text
    assert "có mặt: 5" in text and "trên 50% tổng số thành viên Hội đồng" in text
    assert "Nguyễn Văn An" in text and "Đạt" in text


def test_a_failed_vote_blocks_the_decision(world: World) -> None:
    an, binh = person_at_province(world, "Nguyễn Văn An"), person_at_province(world, "Trần Thị Bình", cdcs="BDH.D2.1")
    sid = _session(world, [an, binh])
    actor = world.actor("BDH")
    council.record_votes(world.engine, sid, actor, an, {1: "for", 2: "for", 3: "for"}, now=NOW)
    council.record_votes(world.engine, sid, actor, binh, {1: "for", 2: "for", 3: "against", 4: "against"}, now=NOW)
    council.close(world.engine, sid, actor, now=NOW)
    assert council.passed_nominations(world.engine, sid) == [an]
    with pytest.raises(RulesRefused, match="Không đạt biểu quyết") as refused:
        _decide(world, [an, binh], sid)
    assert list(refused.value.refusals) == [
        f"Đề nghị #{binh} (Bằng khen của Liên đoàn Lao động tỉnh (toàn diện) – Trần Thị Bình)"
    ]
    assert _decide(world, [an], sid).nomination_ids == [an]


def test_without_quorum_every_item_fails(world: World) -> None:
    an = person_at_province(world)
    members = [council.Member(m.name, m.role, present=i < 2) for i, m in enumerate(MEMBERS)]  # 2 of 5 present
    sid = _session(world, [an], members=members)
    council.record_votes(world.engine, sid, world.actor("BDH"), an, {1: "for", 2: "for"}, now=NOW)
    view = council.close(world.engine, sid, world.actor("BDH"), now=NOW)
    assert view.quorum_met is False and view.agenda[0]["result"] == "failed"
    with pytest.raises(RulesRefused, match="Không đạt"):
        _decide(world, [an], sid)


def test_secret_ballot_tally_is_checked_against_attendance(world: World) -> None:
    an = person_at_province(world)
    sid = _session(world, [an], mode="secret")
    actor = world.actor("BDH")
    council.set_attendance(world.engine, sid, actor, [1, 2, 3, 4], now=NOW)
    with pytest.raises(InvalidNominationInput, match="lớn hơn số thành viên có mặt \\(4\\)"):
        council.record_tally(world.engine, sid, actor, an, votes_for=3, against=2, now=NOW)
    with pytest.raises(InvalidNominationInput, match="bỏ phiếu kín"):
        council.record_votes(world.engine, sid, actor, an, {1: "for"}, now=NOW)
    council.record_tally(world.engine, sid, actor, an, votes_for=3, against=1, now=NOW)  # 3 of 5 members: > 1/2
    assert council.close(world.engine, sid, actor, now=NOW).agenda[0]["result"] == "passed"


def test_where_the_catalogue_requires_the_council_a_decision_needs_a_passing_vote(world: World, tmp_path: Path) -> None:
    an = person_at_province(world)
    use_catalogue(
        world,
        tmp_path,
        {"  threshold_base: members\n  required_for: []": "  threshold_base: members\n  required_for: [ldld_tinh]"},
    )
    with pytest.raises(RulesRefused, match="Chưa được Hội đồng thi đua, khen thưởng xét"):
        _decide(world, [an])
    sid = _session(world, [an])
    council.record_votes(world.engine, sid, world.actor("BDH"), an, {1: "for", 2: "for", 3: "for"}, now=NOW)
    council.close(world.engine, sid, world.actor("BDH"), now=NOW)
    assert _decide(world, [an], sid).symbol == "1/QĐ-LĐLĐ"
