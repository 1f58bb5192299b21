"""The nominations test world (Bình Định 2023, small tree) and a person's provincial Bằng khen at the province."""
from __future__ import annotations

from datetime import datetime

from tests.nominations.conftest import World, build_world, world, world_template  # noqa: F401  (fixtures)

PERSON_AWARD = "bang-khen-ldld-tinh"


def person_at_province(world: World, name: str = "Nguyễn Văn An", cdcs: str = "BDH.D1.1") -> int:
    """A person's Bằng khen proposed by a CĐCS, approved by its district and sent to the province."""
    district = cdcs.rsplit(".", 1)[0]
    (nomination_id,) = world.propose(cdcs, world.proposal(PERSON_AWARD, cdcs, person=name), send=f"05/TTr-{cdcs}")
    world.approve(district, [nomination_id], datetime(2023, 11, 15, 9))
    world.send(district, f"40/TTr-{district}", datetime(2023, 11, 16, 9))
    return nomination_id
