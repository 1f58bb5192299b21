"""The one rich campaign record: `CampaignContext` is a `CampaignInfo` (services/lookup.py) plus what planning,
sending and reports need from the campaign file: its dates, its tree, its working calendar and reminder ladders.

Reminders, reports and the simulation read it from here; nominations keep the light `CampaignInfo` in their
per-operation context. Holidays are cached per file version, so building a context costs two queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from thidua.errors import NotFoundError
from thidua.models.clock import utc_to_local
from thidua.models.spec.reminders import CalendarSpec, Ladder
from thidua.models.tables import Campaign, Unit
from thidua.models.workcalendar import WorkingCalendar
from thidua.services.calendars import campaign_years, days_off_for, load_holidays, resolve_config_path
from thidua.services.lookup import CampaignInfo

U = Unit.__table__  # type: ignore[attr-defined]
C = Campaign.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, kw_only=True)
class CampaignContext(CampaignInfo):
    root_unit_id: int
    issuing_unit_id: int
    root_path: str
    starts_on: date
    ends_on: date
    calendar: WorkingCalendar
    ladders: dict[str, Ladder]
    default_ladder: Ladder | None

    @property
    def office_frequency(self) -> str:
        return self.default_ladder.office_digest if self.default_ladder else "none"

    def today(self, now: datetime) -> date:
        return utc_to_local(now, self.timezone).date()


@lru_cache(maxsize=32)
def _holidays(path: str, mtime: float, extra: tuple[date, ...]) -> frozenset[date]:
    return load_holidays(Path(path), list(extra))


@lru_cache(maxsize=32)
def _package_days_off(calendar_json: str, base: str | None, overrides_mtime: float, years: range) -> frozenset[date]:
    return days_off_for(CalendarSpec.model_validate_json(calendar_json), Path(base) if base else None, years)


def campaign_calendar(spec: dict[str, Any], source_file: str | None, starts_on: date, ends_on: date) -> WorkingCalendar:
    """The campaign's working calendar: its hours and days off (holidays package + overrides, or a holidays file)."""
    calendar_spec = CalendarSpec.model_validate(spec.get("calendar") or {})
    holidays: frozenset[date] = frozenset(calendar_spec.extra_holidays)
    base = Path(source_file).resolve().parent.parent if source_file else None
    if calendar_spec.country is not None:  # the holidays package, corrected by the overrides file
        overrides = resolve_config_path(calendar_spec.overrides_file, base) if calendar_spec.overrides_file else None
        holidays = _package_days_off(
            calendar_spec.model_dump_json(),
            str(base) if base else None,
            overrides.stat().st_mtime if overrides and overrides.exists() else 0.0,
            campaign_years(starts_on, ends_on),
        )
    elif calendar_spec.holidays_file:
        path = resolve_config_path(calendar_spec.holidays_file, base)
        holidays = _holidays(str(path), path.stat().st_mtime, tuple(calendar_spec.extra_holidays))
    return WorkingCalendar(calendar_spec, holidays)


def context_from_row(session: Session, row: Any) -> CampaignContext:
    """`row`: a full row of the campaign table."""
    spec = row.spec or {}
    ladders = {lad.code: lad for lad in (Ladder.model_validate(x) for x in spec.get("reminder_ladders") or [])}
    names = {
        r.id: r
        for r in session.execute(
            select(U.c.id, U.c.path, U.c.name).where(U.c.id.in_([row.root_unit_id, row.issuing_unit_id]))
        )
    }
    issuer = names.get(row.issuing_unit_id)
    return CampaignContext(
        id=row.id,
        code=row.code,
        title=row.title,
        timezone=row.timezone,
        owner_email=row.owner_email,
        owner_department=row.owner_department,
        active=row.status == "active",
        issuer_name=issuer.name if issuer is not None else "",
        year=row.year,
        status=row.status,
        spec=spec,
        root_unit_id=row.root_unit_id,
        issuing_unit_id=row.issuing_unit_id,
        root_path=names[row.root_unit_id].path,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        calendar=campaign_calendar(spec, row.source_file, row.starts_on, row.ends_on),
        ladders=ladders,
        default_ladder=ladders.get(spec.get("default_ladder") or ""),
    )


def campaign_context(session: Session, code: str, *, error: type[NotFoundError] = NotFoundError) -> CampaignContext:
    row = session.execute(select(C).where(C.c.code == code.strip())).first()
    if row is None:
        raise error(f"không có chiến dịch mã '{code.strip()}' (nạp tệp chiến dịch trước: thidua campaign load)")
    return context_from_row(session, row)


def active_campaign_contexts(session: Session) -> list[CampaignContext]:
    rows = session.execute(select(C).where(C.c.status == "active").order_by(C.c.id)).all()
    return [context_from_row(session, row) for row in rows]
