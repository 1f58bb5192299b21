"""Looking up a campaign or a unit by the code a user typed (one query and one message each), and the one light
campaign record (`CampaignInfo`) the reminder and nomination services share.

`error` lets a service raise its own NotFoundError subclass (e.g. submissions' UnknownReference) so its callers'
`except` clauses keep working; the message is the same everywhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from thidua.errors import NotFoundError
from thidua.models.officenames import body_name, office_display_name
from thidua.models.spec.campaign import RoundOfDay  # noqa: F401  (re-exported: callers name it from here)
from thidua.models.tables import Campaign, Unit


def find_campaign(session: Session, code: str) -> Campaign | None:
    return session.execute(select(Campaign).where(col(Campaign.code) == code.strip())).scalars().first()


def find_unit(session: Session, code: str) -> Unit | None:
    return session.execute(select(Unit).where(col(Unit.code) == code.strip())).scalars().first()


def get_campaign(session: Session, code: str, *, error: type[NotFoundError] = NotFoundError) -> Campaign:
    campaign = find_campaign(session, code)
    if campaign is None:
        raise error(f"không có chiến dịch mã '{code.strip()}'")
    return campaign


def get_unit(session: Session, code: str, *, error: type[NotFoundError] = NotFoundError) -> Unit:
    unit = find_unit(session, code)
    if unit is None:
        raise error(f"không có đơn vị mã '{code.strip()}'")
    return unit


@dataclass(frozen=True)
class CampaignInfo:
    """The campaign columns services need without the ORM object (read with Core: cheaper in hot loops)."""

    id: int
    code: str
    title: str
    timezone: str
    owner_email: str
    owner_department: str
    active: bool
    issuer_name: str = ""  # the federation that runs the campaign (its issuing unit)
    year: int = 0
    status: str = "active"
    spec: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def layout(self) -> dict[str, str]:
        """What the mail layout prints about the campaign."""
        return {
            "campaign_title": self.title,
            "office_department": self.owner_department,
            "office_email": self.owner_email,
            "office_name": self.office_name,
        }

    @property
    def office_name(self) -> str:
        """'Ban CSPL&QHLĐ – LĐLĐ tỉnh Bình Định': the sender's name in mail."""
        return office_display_name(self.owner_department, self.issuer_name)

    @property
    def reply_name(self) -> str:
        """'Ban Chính sách pháp luật và Quan hệ lao động – LĐLĐ tỉnh Bình Định': who answers a reply."""
        return " – ".join(p for p in (self.owner_department, body_name(self.issuer_name)) if p)


def _info_rows(session: Session, condition: Any) -> list[CampaignInfo]:
    C = Campaign.__table__  # type: ignore[attr-defined]
    U = Unit.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        select(
            C.c.id,
            C.c.code,
            C.c.title,
            C.c.timezone,
            C.c.owner_email,
            C.c.owner_department,
            C.c.status,
            U.c.name.label("issuer_name"),
            C.c.year,
            C.c.spec,
        )
        .select_from(C.outerjoin(U, U.c.id == C.c.issuing_unit_id))
        .where(condition)
    ).all()
    return [
        CampaignInfo(
            r.id,
            r.code,
            r.title,
            r.timezone,
            r.owner_email,
            r.owner_department,
            r.status == "active",
            r.issuer_name or "",
            r.year,
            r.status,
            r.spec or {},
        )
        for r in rows
    ]


def campaign_info(session: Session, *, campaign_id: int | None = None, code: str | None = None) -> CampaignInfo | None:
    C = Campaign.__table__  # type: ignore[attr-defined]
    found = _info_rows(session, C.c.id == campaign_id if campaign_id is not None else C.c.code == code)
    return found[0] if found else None


def campaign_infos(session: Session, ids: Iterable[int]) -> dict[int, CampaignInfo]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    C = Campaign.__table__  # type: ignore[attr-defined]
    return {info.id: info for info in _info_rows(session, C.c.id.in_(wanted))}


def round_of(session: Session, campaign: Campaign, day: date) -> RoundOfDay | None:
    """The round `day` belongs to under the campaign's `round_boundary` rule (a shared boundary day goes to the
    earlier or to the later round); None outside every round. The one place a date is attributed to a round
    (services.status.round_on_day, in SQLAlchemy Core so that `thidua status` loads no ORM)."""
    from thidua.services.status import round_on_day

    assert campaign.id is not None
    return round_on_day(session, campaign.id, day)
