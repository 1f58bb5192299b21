"""The authorisation rules on plain objects (no database)."""

from __future__ import annotations

import pytest

from thidua.web.permissions import Principal, Role, UnitRef, can_act_for_unit, can_read_unit, can_review

pytestmark = pytest.mark.domain  # pure rules: `make test-fast`

PROVINCE = UnitRef(2, 1, "00000001.00000002.")
DISTRICT = UnitRef(3, 2, "00000001.00000002.00000003.")
OTHER_DISTRICT = UnitRef(7, 2, "00000001.00000002.00000007.")
CDCS = UnitRef(4, 3, "00000001.00000002.00000003.00000004.")
OTHER_PROVINCE_CDCS = UnitRef(9, 8, "00000001.00000008.00000009.")


def person(role: Role, unit: UnitRef) -> Principal:
    return Principal(
        user_id=1,
        email="a@b.vn",
        full_name="",
        role=role,
        unit_id=unit.id,
        unit_code="X",
        unit_name="X",
        unit_path=unit.path,
        unit_level="x",
        unit_sector=None,
    )


def test_a_unit_reads_and_acts_only_for_itself() -> None:
    me = person(Role.UNIT_OFFICER, CDCS)
    assert can_read_unit(me, CDCS) and can_act_for_unit(me, CDCS)
    assert not can_read_unit(me, DISTRICT) and not can_act_for_unit(me, DISTRICT)
    assert not can_review(me, CDCS.id, CDCS)


def test_a_reviewer_decides_for_direct_children_only() -> None:
    reviewer = person(Role.REVIEWER, DISTRICT)
    assert can_read_unit(reviewer, CDCS) and can_review(reviewer, DISTRICT.id, CDCS)
    assert not can_act_for_unit(reviewer, CDCS)  # reviews, never submits for the child
    province_reviewer = person(Role.REVIEWER, PROVINCE)
    assert not can_read_unit(province_reviewer, CDCS) and not can_review(province_reviewer, DISTRICT.id, CDCS)
    assert can_review(province_reviewer, PROVINCE.id, DISTRICT)
    assert not can_review(reviewer, OTHER_DISTRICT.id, UnitRef(10, 7, OTHER_DISTRICT.path + "00000010."))
    assert not can_review(reviewer, DISTRICT.id, DISTRICT)  # not its own unit's work


def test_the_office_covers_its_subtree_only() -> None:
    office = person(Role.OFFICE, PROVINCE)
    assert can_read_unit(office, CDCS) and can_review(office, DISTRICT.id, CDCS)
    assert not can_read_unit(office, OTHER_PROVINCE_CDCS) and not can_review(office, 8, OTHER_PROVINCE_CDCS)
    assert not can_act_for_unit(office, CDCS)
