"""nominations: Campaign context; Reading nominations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.engine import Engine, RowMapping
from sqlmodel import Session

from thidua.models.awards import (
    Candidate,
    DossierEntry,
    review_due_on,
)
from thidua.models.clock import DEFAULT_TZ, end_of_day_utc, local_to_utc, utc_to_local, utcnow
from thidua.models.nominations import (
    InvalidNominationInput,
    NominationError,
    NominationNotFound,
)
from thidua.models.spec.awards import (
    Award,
    AwardCatalogue,
    validate_catalogue_file,
)
from thidua.models.tables import Campaign, Level
from thidua.services.calendars import resolve_config_path
from thidua.services.lookup import CampaignInfo, campaign_info
from thidua.settings import get_settings

from .inputs import _CHUNK, N, U


# ---------------------------------------------------------------------------------------------------
# Campaign context
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _UnitRow:
    id: int
    code: str
    name: str
    level_code: str
    path: str
    parent_id: int | None
    emails: tuple[str, ...]
    active: bool

    def ancestor_ids(self) -> list[int]:
        """Root first, the unit itself last."""
        return [int(part) for part in self.path.split(".") if part]

    def contains(self, other: "_UnitRow") -> bool:
        return other.path.startswith(self.path)


class _Units:
    """Units read once per operation."""

    def __init__(self, session: Session):
        self.session = session
        self.rows: dict[int, _UnitRow] = {}

    def load(self, ids: Iterable[int]) -> dict[int, _UnitRow]:
        wanted = {i for i in ids if i is not None}
        missing = sorted(wanted - set(self.rows))
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            for r in self.session.execute(
                select(
                    U.c.id, U.c.code, U.c.name, U.c.level_code, U.c.path, U.c.parent_id, U.c.emails, U.c.active
                ).where(U.c.id.in_(chunk))
            ):
                self.rows[r.id] = _UnitRow(
                    r.id, r.code, r.name, r.level_code, r.path, r.parent_id, tuple(r.emails or ()), bool(r.active)
                )
        return {i: self.rows[i] for i in wanted if i in self.rows}

    def get(self, unit_id: int) -> _UnitRow:
        found = self.load([unit_id]).get(unit_id)
        if found is None:
            raise InvalidNominationInput(f"Không có đơn vị #{unit_id}")
        return found

    def ancestor_at_level(self, unit: _UnitRow, level: str) -> _UnitRow | None:
        """The unit itself or its nearest ancestor at `level`."""
        ids = unit.ancestor_ids()
        found = self.load(ids)
        for unit_id in reversed(ids):
            row = found.get(unit_id)
            if row is not None and row.level_code == level:
                return row
        return None


@dataclass
class _Ctx:
    campaign: CampaignInfo
    catalogue: AwardCatalogue
    levels: list[str]  # top first
    level_names: dict[str, str]
    review_days: dict[str, int]
    now: datetime
    units: _Units
    open_batches: dict[tuple[int, str, int], int] = field(default_factory=dict)  # (unit, occasion, round) -> id
    others: dict[str, AwardCatalogue] = field(default_factory=dict)  # the campaign's other catalogues, by code

    def catalogue_for(self, row: Mapping[str, Any]) -> AwardCatalogue:
        """The catalogue a stored nomination was made under (the one in force on its date)."""
        return self.others.get(row.get("catalogue_code") or "", self.catalogue)

    @property
    def tz(self) -> str:
        return self.campaign.timezone

    @property
    def today(self) -> date:
        return utc_to_local(self.now, self.tz).date()

    def review_due_at(self, level: str) -> datetime | None:
        due = review_due_on(self.today, level, self.review_days)
        return None if due is None else end_of_day_utc(due, self.tz)

    @property
    def session(self) -> Session:
        return self.units.session

    def level_name(self, code: str) -> str:
        return self.level_names.get(code, code)

    def award(self, code: str) -> Award:
        award = self.catalogue.award(code)
        if award is None:
            raise InvalidNominationInput(
                f"Không có hình thức khen thưởng '{code}' trong danh mục {self.catalogue.code} ({self.catalogue.title})"
            )
        return award


def _aware(now: datetime | None, tz: str = DEFAULT_TZ) -> datetime:
    """`now` as aware UTC; a naive value is a wall-clock time of the campaign's zone."""
    if now is None:
        return utcnow()
    return local_to_utc(now, tz) if now.tzinfo is None else now


@lru_cache(maxsize=16)
def _catalogue_cached(path: str, mtime_ns: int, levels: tuple[str, ...]) -> AwardCatalogue:
    return validate_catalogue_file(Path(path), levels)


def catalogue_paths(campaign: Campaign | CampaignInfo) -> list[Path]:
    awards = (campaign.spec or {}).get("awards") or {}
    relatives = [awards["catalogue"]] if awards.get("catalogue") else list(awards.get("catalogues") or [])
    if not relatives:
        raise NominationError(f"Chiến dịch '{campaign.code}' không khai báo danh mục khen thưởng (awards.catalogue)")
    return [resolve_config_path(relative, get_settings().config_dir) for relative in relatives]


def catalogue_path(campaign: Campaign | CampaignInfo, on: date | None = None) -> Path:
    """The catalogue file in force on `on` (a campaign may span two regulations); with one catalogue, that one."""
    paths = catalogue_paths(campaign)
    if len(paths) == 1:
        return paths[0]
    on = on or utc_to_local(utcnow(), campaign.timezone).date()
    spans = []
    for path in paths:
        catalogue = validate_catalogue_file(path)
        spans.append((catalogue.effective_from or date.min, catalogue.effective_until or date.max, path))
    for start, end, path in spans:
        if start <= on <= end:
            return path
    earlier = [s for s in spans if s[0] <= on]  # outside every span: the latest that had started, else the first
    return max(earlier, key=lambda s: s[0])[2] if earlier else min(spans, key=lambda s: s[0])[2]


def _levels(session: Session) -> tuple[list[str], dict[str, str]]:
    rows = session.execute(select(Level.code, Level.short_name, Level.name).order_by(Level.rank)).all()  # type: ignore[arg-type]
    return [r.code for r in rows], {r.code: r.short_name or r.name for r in rows}


def campaign_catalogue(
    session: Session, campaign: Campaign | CampaignInfo, levels: Sequence[str] | None = None, on: date | None = None
) -> AwardCatalogue:
    """The validated award catalogue of the campaign in force on `on` (cached until the file changes)."""
    path = catalogue_path(campaign, on)
    if not path.exists():
        raise NominationError(f"Không tìm thấy danh mục khen thưởng '{path}'")
    if levels is None:
        levels, _ = _levels(session)
    return _catalogue_cached(str(path), path.stat().st_mtime_ns, tuple(levels))


def _campaign(session: Session, campaign_id: int) -> CampaignInfo:
    campaign = campaign_info(session, campaign_id=campaign_id)
    if campaign is None:
        raise NominationNotFound(f"Không có chiến dịch #{campaign_id}")
    return campaign


def campaign_by_code(engine: Engine, code: str) -> CampaignInfo:
    with Session(engine) as session:
        campaign = campaign_info(session, code=code)
    if campaign is None:
        raise NominationNotFound(f"Không có chiến dịch mã '{code}'")
    return campaign


def _context(session: Session, campaign_id: int, now: datetime | None, *, for_change: bool = True) -> _Ctx:
    campaign = _campaign(session, campaign_id)
    if for_change and campaign.status != "active":
        raise NominationError(f"Chiến dịch '{campaign.code}' đã đóng: không thay đổi được đề nghị khen thưởng")
    levels, names = _levels(session)
    awards = (campaign.spec or {}).get("awards") or {}
    moment = _aware(now, campaign.timezone)
    today = utc_to_local(moment, campaign.timezone).date()
    catalogue = campaign_catalogue(session, campaign, levels, on=today)
    others = {}
    if len(catalogue_paths(campaign)) > 1:
        for path in catalogue_paths(campaign):
            other = _catalogue_cached(str(path), path.stat().st_mtime_ns, tuple(levels))
            others[other.code] = other
    return _Ctx(
        campaign,
        catalogue,
        levels,
        names,
        {k: int(v) for k, v in (awards.get("review_days_per_level") or {}).items()},
        moment,
        _Units(session),
        others=others,
    )


def _lock(session: Session, campaign_id: int) -> None:
    """Serialise the campaign's nomination changes so that quota counts cannot move under a check."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")
    else:
        session.execute(select(Campaign.id).where(Campaign.id == campaign_id).with_for_update())  # type: ignore[arg-type]


def _change(engine: Engine, campaign_id: int, now: datetime | None):
    """Open a session, take the lock, build the context. Used as `with _change(...) as (session, ctx):`."""
    return _ChangeScope(engine, campaign_id, now)


class _ChangeScope:
    def __init__(self, engine: Engine, campaign_id: int, now: datetime | None):
        self.engine, self.campaign_id, self.now = engine, campaign_id, now

    def __enter__(self) -> tuple[Session, _Ctx]:
        self.session = Session(self.engine, expire_on_commit=False)
        try:
            _lock(self.session, self.campaign_id)
            ctx = _context(self.session, self.campaign_id, self.now)
        except BaseException:
            self.session.rollback()
            self.session.close()
            raise
        return self.session, ctx

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        try:
            if exc_type is None:
                self.session.commit()
            else:
                self.session.rollback()
        finally:
            self.session.close()


# ---------------------------------------------------------------------------------------------------
# Reading nominations
# ---------------------------------------------------------------------------------------------------
def _load(session: Session, ids: Sequence[int], campaign_id: int) -> list[RowMapping]:
    rows: dict[int, RowMapping] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        for row in session.execute(select(N).where(N.c.id.in_(chunk))).mappings():
            rows[row["id"]] = row
    missing = [i for i in unique if i not in rows or rows[i]["campaign_id"] != campaign_id]
    if missing:
        raise NominationNotFound(
            f"Không có đề nghị khen thưởng số {', '.join(f'#{i}' for i in missing)} trong chiến dịch này"
        )
    return [rows[i] for i in unique]


def _label(row: Mapping[str, Any]) -> str:
    return f"Đề nghị #{row['id']} ({row['award_name']} – {row['nominee_name']})"


def _candidate(ctx: _Ctx, row: Mapping[str, Any]) -> Candidate:
    award = ctx.catalogue_for(row).award(row["award_code"]) if row.get("catalogue_code") else None
    return Candidate(
        award=award or ctx.award(row["award_code"]),
        subject=row["subject"],
        occasion=row["occasion"],
        round_number=row["round_number"],
        nominee_label=row["nominee_name"],
        discipline=row["discipline"] or "",
        dossier=_dossier_from_json(row["dossier"]),
    )


def _dossier_from_json(data: Mapping[str, Any] | None) -> dict[str, DossierEntry]:
    return {
        code: DossierEntry(ref=str(v.get("ref", "")), votes_for=v.get("votes_for"), votes_total=v.get("votes_total"))
        for code, v in (data or {}).items()
    }


def _dossier_to_json(entries: Mapping[str, DossierEntry]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code, entry in entries.items():
        item: dict[str, Any] = {"ref": entry.ref}
        if entry.votes_for is not None or entry.votes_total is not None:
            item.update(votes_for=entry.votes_for, votes_total=entry.votes_total)
        out[code] = item
    return out
