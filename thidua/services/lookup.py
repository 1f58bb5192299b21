"""Looking up a campaign or a unit by the code a user typed: one query and one message each.

`error` lets a service raise its own NotFoundError subclass (e.g. submissions' UnknownReference) so its callers'
`except` clauses keep working; the message is the same everywhere."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from thidua.errors import NotFoundError
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
