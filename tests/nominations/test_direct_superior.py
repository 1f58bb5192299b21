"""Issue 11 point 4: "cấp trên trực tiếp" is a relationship. A CĐCS directly under the LĐLĐ tỉnh (the seed's
"CĐCS … trực thuộc") gets the Giấy khen of its direct superior — the province — and has its own row
in the status breakdown."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from thidua.models.tables import Unit
from tests.factories import add_unit
from tests.nominations.conftest import World
from thidua.services import nominations as nom
from thidua.services.campaigns import load_campaign
from thidua.services.status import status_report
from tests.conftest import BINH_DINH_CAMPAIGN


def with_direct_cdcs(world: World) -> str:
    with Session(world.engine) as session:
        province = session.execute(select(Unit).where(Unit.code == "BDH")).scalars().one()
        add_unit(session, "BDH.TT1", "CĐCS Cảng Quy Nhơn", "cdcs", province, "sxkd")
        session.commit()
        world.units["BDH.TT1"] = session.execute(select(Unit.id).where(Unit.code == "BDH.TT1")).scalar_one()
    load_campaign(world.engine, BINH_DINH_CAMPAIGN)  # the new unit owes the campaign's obligations
    world.set_assignment_status("BDH.TT1", "registration", "da_duyet")
    return "BDH.TT1"


def test_a_cdcs_under_the_province_gets_the_giay_khen_of_its_direct_superior(world: World) -> None:
    code = with_direct_cdcs(world)
    (nid,) = world.propose(
        code,
        world.proposal("giay-khen-cap-tren", code, person="Phạm Văn D"),
        send="03/TTr-CĐCS",
        now=datetime(2023, 11, 10, 9),
    )
    view = world.view(nid)
    assert view.deciding_unit_id == world.units["BDH"] and view.current_unit_id == world.units["BDH"]
    assert view.route == ["LĐLĐ tỉnh"]
    world.decide("BDH", [nid])
    assert world.view(nid).status == "decided"


def test_a_direct_cdcs_has_its_own_row_in_the_breakdown(world: World) -> None:
    code = with_direct_cdcs(world)
    with Session(world.engine) as session:
        report = status_report(session, "bd-2023", obligation_code="so-ket-dot-1")
    rows = {r.key: r for r in report.by_group}
    assert set(rows) == {"BDH.D1", "BDH.D2", code}
    assert rows[code].counts.owed == 1 and rows[code].label == "CĐCS Cảng Quy Nhơn (trực thuộc)"
    assert nom is not None
