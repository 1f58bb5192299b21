"""Who may read and do what. Pure rules over the signed-in person and unit paths; every route asks here.

* Everyone acts for their own unit (submits its reports, proposes its nominations) and reads it.
* A reviewer also reads and decides for the direct children of its unit, and nothing further down.
* The campaign office reads everything in its unit's subtree and may decide there too.
"""

from __future__ import annotations

from dataclasses import dataclass

from thidua.models.accounts import Role  # the roles are domain rules; re-exported for the web
from thidua.web.errors import Forbidden

ROLE_LABELS = {
    Role.UNIT_OFFICER: "Cán bộ đơn vị",
    Role.REVIEWER: "Người duyệt",
    Role.OFFICE: "Văn phòng chiến dịch",
}


@dataclass(frozen=True)
class Principal:
    user_id: int
    email: str
    full_name: str
    role: Role
    unit_id: int
    unit_code: str
    unit_name: str
    unit_path: str
    unit_level: str
    unit_sector: str | None

    @property
    def actor(self) -> str:
        """How the audit log names this person."""
        return self.email

    @property
    def is_reviewer(self) -> bool:
        return self.role == Role.REVIEWER

    @property
    def is_office(self) -> bool:
        return self.role == Role.OFFICE

    @property
    def display_name(self) -> str:
        return self.full_name or self.email


@dataclass(frozen=True)
class UnitRef:
    """The facts about a unit that the rules need."""

    id: int
    parent_id: int | None
    path: str


def in_subtree(path: str, root_path: str) -> bool:
    return path.startswith(root_path)


def can_read_unit(p: Principal, unit: UnitRef) -> bool:
    if unit.id == p.unit_id:
        return True
    if p.is_reviewer:
        return unit.parent_id == p.unit_id
    if p.is_office:
        return in_subtree(unit.path, p.unit_path)
    return False


def can_act_for_unit(p: Principal, unit: UnitRef) -> bool:
    return unit.id == p.unit_id


def can_review(p: Principal, reviewer_unit_id: int | None, unit: UnitRef) -> bool:
    """Decide on a submission or nomination of `unit` that waits for `reviewer_unit_id`'s decision."""
    if unit.id == p.unit_id:
        return False  # nobody reviews their own unit's work
    if p.is_reviewer:
        return reviewer_unit_id == p.unit_id and unit.parent_id == p.unit_id
    if p.is_office:
        return in_subtree(unit.path, p.unit_path)
    return False


def require(allowed: bool, what: str = "thực hiện thao tác này") -> None:
    if not allowed:
        raise Forbidden(f"Tài khoản của bạn không có quyền {what}.")


def require_office(p: Principal) -> None:
    require(p.is_office, "xem trang của văn phòng chiến dịch")


def require_reviewer(p: Principal) -> None:
    require(p.is_reviewer or p.is_office, "duyệt hồ sơ")
