"""Issue 11 point 3: a return goes to the unit that sent the file up (catalogue `return_to: sender`, the
default), and the resubmission climbs back through that level; `return_to: proposer` keeps the short cut."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session

from thidua.models.nominations import InvalidTransition, NotPermitted
from thidua.models.spec.awards import validate_catalogue_file
from thidua.models.tables import Campaign
from thidua.notifications.render import get_renderer
from tests.conftest import CONFIG
from tests.nominations.conftest import World, build_world
from thidua.services import nominations as nom

REASON = "Báo cáo thành tích chưa có xác nhận của thủ trưởng đơn vị"


def at_the_province(world: World) -> int:
    (nid,) = world.propose(
        "BDH.D1.1", world.proposal("bang-khen-ldld-tinh", "BDH.D1.1", person="Trần Thị Bình"), send="07/TTr-CĐCS"
    )
    world.approve("BDH.D1", [nid], datetime(2023, 11, 20, 9))
    world.send("BDH.D1", "42/TTr-LĐLĐ", datetime(2023, 11, 20, 10))
    return nid


def use_catalogue_with(world: World, tmp_path: Path, line: str) -> None:
    copy = tmp_path / "danh-muc.yaml"
    copy.write_text(
        (CONFIG / "awards" / "qd1689_2019.yaml").read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8"
    )
    with Session(world.engine) as session:
        campaign = session.get(Campaign, world.campaign_id)
        spec = dict(campaign.spec)
        spec["awards"] = {**spec["awards"], "catalogue": str(copy)}
        session.execute(update(Campaign).where(Campaign.id == world.campaign_id).values(spec=spec))  # type: ignore[arg-type]
        session.commit()


def test_catalogue_return_to_defaults_to_sender_and_rejects_other_values(tmp_path: Path) -> None:
    assert validate_catalogue_file(CONFIG / "awards" / "qd1689_2019.yaml").return_to == "sender"
    bad = tmp_path / "x.yaml"
    bad.write_text(
        (CONFIG / "awards" / "qd1689_2019.yaml").read_text(encoding="utf-8") + "\nreturn_to: ca-nhan\n",
        encoding="utf-8",
    )
    with pytest.raises(Exception, match="return_to"):
        validate_catalogue_file(bad)


@pytest.fixture
def any_world(any_engine) -> World:
    return build_world(any_engine)


def test_province_return_goes_to_the_district_and_climbs_back_through_it(any_world: World) -> None:
    world = any_world
    nid = at_the_province(world)
    nom.return_for_revision(
        world.engine, world.campaign_id, [nid], world.actor("BDH"), comment=REASON, now=datetime(2023, 11, 25, 9)
    )
    view = world.view(nid)
    assert (view.status, view.current_unit_id, view.returned_by_unit_id) == (
        "returned",
        world.units["BDH.D1"],
        world.units["BDH"],
    )
    # the district is told, with the reason and a link
    (told,) = [m for m in world.outbox_for("BDH.D1") if m.context.get("action") == "return"]
    text = get_renderer().render("nomination_step", told.context).text
    assert f"Lý do: {REASON}" in text and "/don-vi/khen-thuong/" in text
    # the proposer cannot resubmit a file its district holds; the district passes it down
    with pytest.raises(NotPermitted):
        nom.resubmit(world.engine, world.campaign_id, nid, world.actor("BDH.D1.1"), now=datetime(2023, 11, 26, 9))
    nom.return_for_revision(
        world.engine,
        world.campaign_id,
        [nid],
        world.actor("BDH.D1"),
        comment="Bổ sung xác nhận",
        now=datetime(2023, 11, 26, 9),
    )
    view = world.view(nid)
    assert (view.status, view.current_unit_id, view.returned_by_unit_id) == (
        "returned",
        world.units["BDH.D1.1"],
        world.units["BDH.D1"],
    )
    with pytest.raises(InvalidTransition):  # nobody below the proposer
        nom.return_for_revision(
            world.engine, world.campaign_id, [nid], world.actor("BDH.D1.1"), comment="x", now=datetime(2023, 11, 26, 10)
        )
    nom.resubmit(
        world.engine,
        world.campaign_id,
        nid,
        world.actor("BDH.D1.1"),
        comment="Đã bổ sung",
        rating=world.rating,
        now=datetime(2023, 11, 27, 9),
    )
    assert world.view(nid).current_unit_id == world.units["BDH.D1"]  # back through the district
    world.approve("BDH.D1", [nid], datetime(2023, 11, 28, 9))
    world.send("BDH.D1", "50/TTr-LĐLĐ", datetime(2023, 11, 28, 10))  # under the district's own new tờ trình
    assert (world.view(nid).status, world.view(nid).current_unit_id) == ("under_review", world.units["BDH"])


def test_district_may_fix_and_resubmit_a_returned_file_itself(world: World) -> None:
    nid = at_the_province(world)
    nom.return_for_revision(
        world.engine, world.campaign_id, [nid], world.actor("BDH"), comment=REASON, now=datetime(2023, 11, 25, 9)
    )
    nom.resubmit(
        world.engine,
        world.campaign_id,
        nid,
        world.actor("BDH.D1"),
        comment="Huyện đã bổ sung",
        rating=world.rating,
        now=datetime(2023, 11, 26, 9),
    )
    assert (world.view(nid).status, world.view(nid).current_unit_id) == ("under_review", world.units["BDH"])


def test_return_to_proposer_goes_straight_to_the_cdcs(world: World, tmp_path: Path) -> None:
    use_catalogue_with(world, tmp_path, "return_to: proposer")
    nid = at_the_province(world)
    nom.return_for_revision(
        world.engine, world.campaign_id, [nid], world.actor("BDH"), comment=REASON, now=datetime(2023, 11, 25, 9)
    )
    assert world.view(nid).current_unit_id == world.units["BDH.D1.1"]
    nom.resubmit(
        world.engine,
        world.campaign_id,
        nid,
        world.actor("BDH.D1.1"),
        rating=world.rating,
        now=datetime(2023, 11, 27, 9),
    )
    assert world.view(nid).current_unit_id == world.units["BDH"]
