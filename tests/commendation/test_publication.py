"""Publication before the decision: the window lasts the catalogue's days to the end of the last day, comments
need a contact and are refused after the window, and no decision (numbered or recorded) while it is open."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from tests.commendation.conftest import person_at_province
from tests.nominations.conftest import World
from thidua.models.nominations import InvalidNominationInput, NotPermitted, RulesRefused
from thidua.services import nominations as nom
from thidua.services.commendation import decisions, publication

OPEN = datetime(2023, 12, 11, 2, 0, tzinfo=timezone.utc)  # 11/12/2023 09:00 in Bình Định
LAST_MINUTE = datetime(2023, 12, 15, 16, 59, tzinfo=timezone.utc)  # 15/12 23:59 local: still open (5 days: 11–15/12)
CLOSED = datetime(2023, 12, 15, 17, 0, tzinfo=timezone.utc)  # 16/12 00:00 local


def _decide(world: World, nid: int, now: datetime) -> decisions.IssuedDecision:
    return decisions.issue_decision(
        world.engine,
        world.campaign_id,
        world.actor("BDH"),
        decisions.DecisionInput(now.date(), "Nguyễn Văn Bình"),
        nomination_ids=[nid],
        now=now,
    )


def test_decision_is_blocked_until_the_window_closes(world: World) -> None:
    nid = person_at_province(world)
    page = publication.publish(world.engine, world.campaign_id, world.actor("BDH"), [nid], now=OPEN)
    assert page.days == 5 and page.closes_at == CLOSED
    for moment in (OPEN, LAST_MINUTE):
        with pytest.raises(RulesRefused, match="Đang công khai đến hết ngày 15/12/2023") as refused:
            _decide(world, nid, moment)
        assert refused.value.rules() == {"cong-khai:dang-mo"}
    with pytest.raises(RulesRefused):  # the recorded-decision path is held back as well
        nom.decide(
            world.engine,
            world.campaign_id,
            world.actor("BDH"),
            nom.Decision("9/QĐ", date(2023, 12, 14), "X"),
            nomination_ids=[nid],
            now=LAST_MINUTE,
        )
    assert _decide(world, nid, CLOSED).symbol == "1/QĐ-LĐLĐ"  # no number was used by the refusals


def test_comments_need_a_contact_are_kept_and_refused_after_the_window(world: World) -> None:
    nid = person_at_province(world)
    page = publication.publish(world.engine, world.campaign_id, world.actor("BDH"), [nid], days=3, now=OPEN)
    with pytest.raises(publication.CommentRefused) as refused:
        publication.add_comment(world.engine, page.token, name="Trần Văn B", contact="gọi tôi", content="", now=OPEN)
    assert set(refused.value.errors) == {"lien_he", "noi_dung"}
    publication.add_comment(
        world.engine,
        page.token,
        name="Trần Văn B",
        contact="0912 345 678",
        content="Đề nghị xác minh thành tích năm 2023.",
        nomination_id=nid,
        now=OPEN,
    )
    with pytest.raises(publication.CommentRefused, match="hết thời hạn"):
        publication.add_comment(
            world.engine,
            page.token,
            name="C",
            contact="c@example.vn",
            content="muộn",
            now=datetime(2023, 12, 13, 17, 0, tzinfo=timezone.utc),
        )
    public = publication.get_publication(world.engine, page.token, now=datetime(2024, 1, 10, tzinfo=timezone.utc))
    assert not public.is_open and [i["nominee_name"] for i in public.items] == ["Nguyễn Văn An"]
    assert [c["content"] for c in public.comments] == ["Đề nghị xác minh thành tích năm 2023."]
    assert "contact" not in public.comments[0]  # the public page does not show contacts
    office = publication.get_publication(world.engine, page.token, with_contacts=True)
    assert office.comments[0]["contact"] == "0912 345 678"


def test_only_the_deciding_unit_publishes_what_waits_for_its_decision(world: World) -> None:
    (nid,) = world.propose("BDH.D1.1", world.proposal("bang-khen-ldld-tinh", "BDH.D1.1", person="Lê Văn C"))
    with pytest.raises(NotPermitted):  # still in the CĐCS outgoing list: the province does not hold it
        publication.publish(world.engine, world.campaign_id, world.actor("BDH"), [nid], now=OPEN)
    nid = person_at_province(world, "Phạm Thị D")
    publication.publish(world.engine, world.campaign_id, world.actor("BDH"), [nid], now=OPEN)
    with pytest.raises(InvalidNominationInput, match="đang được công khai"):
        publication.publish(world.engine, world.campaign_id, world.actor("BDH"), [nid], now=OPEN)


def test_where_the_catalogue_requires_publication_a_decision_needs_a_closed_one(world: World, tmp_path) -> None:  # noqa: ANN001
    from tests.commendation.conftest import use_catalogue

    nid = person_at_province(world)
    use_catalogue(
        world,
        tmp_path,
        {"publication:\n  days: 5\n  required_for: []": "publication:\n  days: 5\n  required_for: [ldld_tinh]"},
    )
    with pytest.raises(RulesRefused, match="Chưa công khai danh sách 5 ngày"):
        _decide(world, nid, OPEN)
    publication.publish(world.engine, world.campaign_id, world.actor("BDH"), [nid], now=OPEN)
    assert _decide(world, nid, CLOSED).symbol == "1/QĐ-LĐLĐ"
