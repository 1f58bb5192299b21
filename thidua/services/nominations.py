"""Award nominations: proposing, review level by level, batches under a tờ trình, decisions, the register.

Every public function that changes state runs one transaction: it takes the campaign's nomination lock
(PostgreSQL: the campaign row FOR UPDATE; SQLite: BEGIN IMMEDIATE), reads the current rows, checks the
acting unit, the state machine (models.nominations) and the award rules (models.awards: eligibility and
quotas when proposing and forwarding, exclusivity when deciding), then writes with set-based SQL:
UPDATE … WHERE id = ? AND version = ? (executemany), the NominationStep rows, the audit rows and the
e-mails to the proposer (notifications.outbox) — or raises a NominationError and changes nothing.

Batch operations take lists: one nomination is a list of one. Callers that showed the user a version pass
`expected_versions`; a stale one raises NominationConflict.
"""
from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Protocol, Sequence

from sqlalchemy import bindparam, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, RowMapping
from sqlmodel import Session

from thidua.models.awards import (
    Candidate,
    DossierEntry,
    GrantedAward,
    NomineeFacts,
    Refusal,
    achievement_key,
    dossier_refusals,
    eligibility_refusals,
    exclusivity_refusals,
    nominee_key,
    occasion_label,
    quota_group,
    quota_refusal,
    review_due_on,
    reviewer_levels,
    window_closes,
)
from thidua.models.clock import DEFAULT_TZ, end_of_day_utc, fmt_date, fmt_datetime, local_to_utc, utc_to_local, utcnow
from thidua.models.nominations import (
    ALIVE_STATUSES,
    GRANTED_STATUSES,
    InvalidNominationInput,
    InvalidTransition,
    Nomination,
    NominationAction,
    NominationBatch,
    NominationQuotaCount,
    NominationConflict,
    NominationError,
    NominationNotFound,
    NominationStatus,
    NominationStep,
    NotPermitted,
    RulesRefused,
    next_status,
    status_label,
)
from thidua.models.spec.awards import (
    OCCASION_LABELS,
    SUBJECT_LABELS,
    Award,
    AwardCatalogue,
    validate_catalogue_file,
)
from thidua.models.status import SUBMITTED_STATUSES, AssignmentStatus
from thidua.models.tables import Assignment, Campaign, Level, ObligationDef, Round, Unit
from thidua.notifications.outbox import enqueue_many
from thidua.audit import audit_many
from thidua.services.calendars import resolve_config_path
from thidua.services.campaigns import subtree_range
from thidua.services.lookup import CampaignInfo, campaign_info
from thidua.settings import get_settings
from thidua.xlsx_safety import put_row

N = Nomination.__table__  # type: ignore[attr-defined]
B = NominationBatch.__table__  # type: ignore[attr-defined]
S = NominationStep.__table__  # type: ignore[attr-defined]
QC = NominationQuotaCount.__table__  # type: ignore[attr-defined]
U = Unit.__table__  # type: ignore[attr-defined]
_CHUNK = 5000  # ids per IN list (SQLite allows 32766 bound parameters)
_S = NominationStatus
_A = NominationAction
_ALIVE = sorted(s.value for s in ALIVE_STATUSES)
_GRANTED = sorted(s.value for s in GRANTED_STATUSES)


# ---------------------------------------------------------------------------------------------------
# Inputs and results
# ---------------------------------------------------------------------------------------------------
class RatingLookup(Protocol):
    """Port to the year-end rating of a unit (thidua.services.submissions.year_end_rating)."""

    def __call__(self, session: Session, campaign_id: int, unit_id: int) -> str | None: ...


def submissions_rating(session: Session, campaign_id: int, unit_id: int) -> str | None:
    """The production adapter: the appraised rating, else the proposed one, from the year-end report."""
    try:
        from thidua.services.submissions import year_end_rating
    except ImportError as exc:  # the submissions service is another part of the system
        raise NominationError(f"Chưa đọc được xếp loại cuối năm (mô-đun báo cáo chưa sẵn sàng: {exc})") from None
    return year_end_rating(session, campaign_id, unit_id)


@dataclass(frozen=True)
class Actor:
    """Who acts: the unit they act for, and their name for the record (e-mail, or 'cli:CODE')."""

    unit_id: int
    name: str


@dataclass(frozen=True)
class DocumentRef:
    """A tờ trình: number/symbol and date."""

    number: str
    on: date


@dataclass(frozen=True)
class Decision:
    number: str
    on: date | None
    signer: str


@dataclass
class ProposalInput:
    award_code: str
    subject: str  # collective | individual
    nominee_unit_id: int  # the collective, or the person's unit
    achievement: str  # tóm tắt thành tích
    occasion: str = "year_end"
    round_number: int | None = None
    person_name: str = ""
    person_position: str = ""
    theme: str = ""  # chuyên đề, for thematic awards
    discipline: str = ""  # kỷ luật trong năm, if any
    dossier: Mapping[str, DossierEntry] = field(default_factory=dict)
    person_id: int | None = None  # a person of the register (history rules need it)


@dataclass
class ProposalChanges:
    """What a proposer may change in a draft or a returned file (None: unchanged)."""

    achievement: str | None = None
    person_position: str | None = None
    theme: str | None = None
    discipline: str | None = None
    dossier: Mapping[str, DossierEntry] | None = None  # entries given replace those of the same code


@dataclass
class ProposeResult:
    nomination_ids: list[int]
    batch_ids: list[int]  # outgoing lists the proposals joined (empty when the proposer decides itself)
    sent: bool


@dataclass
class BatchResult:
    batch_id: int
    to_unit_id: int
    nomination_ids: list[int]


@dataclass
class WindowClose:
    occasion: str
    round_number: int | None
    title: str
    level: str
    closes_on: date


@dataclass
class CloseResult:
    sent: list[BatchResult] = field(default_factory=list)
    missing_to_trinh: list[dict[str, Any]] = field(default_factory=list)  # open lists that could not leave


@dataclass
class StepView:
    seq: int
    action: str
    from_status: str | None
    to_status: str
    at_unit: str
    to_unit: str
    actor: str
    at: datetime
    comment: str
    review_due_at: datetime | None


@dataclass
class NominationView:
    id: int
    version: int
    status: str
    status_label: str
    award_code: str
    award_name: str
    subject: str
    nominee_name: str
    nominee_position: str
    nominee_unit: str
    occasion: str
    occasion_label: str
    round_number: int | None
    theme: str
    achievement: str
    discipline: str
    dossier: dict[str, Any]
    origin_unit_id: int
    origin_unit: str
    current_unit_id: int
    current_unit: str
    deciding_unit_id: int
    deciding_unit: str
    returned_by_unit_id: int | None
    review_due_at: datetime | None
    decision_number: str
    decision_date: date | None
    decision_signer: str
    awarded_on: date | None
    updated_at: datetime
    route: list[str] = field(default_factory=list)  # levels that review it, bottom-up, ending with the decider
    steps: list[StepView] = field(default_factory=list)
    batch_id: int | None = None  # the list it travels in (outgoing or incoming)


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
            chunk = missing[start:start + _CHUNK]
            for r in self.session.execute(
                select(U.c.id, U.c.code, U.c.name, U.c.level_code, U.c.path, U.c.parent_id, U.c.emails, U.c.active)
                .where(U.c.id.in_(chunk))
            ):
                self.rows[r.id] = _UnitRow(r.id, r.code, r.name, r.level_code, r.path, r.parent_id,
                                           tuple(r.emails or ()), bool(r.active))
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


def campaign_catalogue(session: Session, campaign: Campaign | CampaignInfo,
                       levels: Sequence[str] | None = None, on: date | None = None) -> AwardCatalogue:
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
    return _Ctx(campaign, catalogue, levels, names,
                {k: int(v) for k, v in (awards.get("review_days_per_level") or {}).items()}, moment, _Units(session),
                others=others)


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
        chunk = unique[start:start + _CHUNK]
        for row in session.execute(select(N).where(N.c.id.in_(chunk))).mappings():
            rows[row["id"]] = row
    missing = [i for i in unique if i not in rows or rows[i]["campaign_id"] != campaign_id]
    if missing:
        raise NominationNotFound(f"Không có đề nghị khen thưởng số {', '.join(f'#{i}' for i in missing)} trong chiến dịch này")
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
    return {code: DossierEntry(ref=str(v.get("ref", "")), votes_for=v.get("votes_for"), votes_total=v.get("votes_total"))
            for code, v in (data or {}).items()}


def _dossier_to_json(entries: Mapping[str, DossierEntry]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code, entry in entries.items():
        item: dict[str, Any] = {"ref": entry.ref}
        if entry.votes_for is not None or entry.votes_total is not None:
            item.update(votes_for=entry.votes_for, votes_total=entry.votes_total)
        out[code] = item
    return out


# ---------------------------------------------------------------------------------------------------
# Rules that need the database: eligibility facts, quota counts, granted awards
# ---------------------------------------------------------------------------------------------------
def _units_with_assignment(session: Session, campaign_id: int, unit_ids: set[int], *, kinds: Sequence[str],
                           statuses: Sequence[str], round_number: int | None = None) -> set[int]:
    out: set[int] = set()
    ids = sorted(unit_ids)
    for start in range(0, len(ids), _CHUNK):
        query = (
            select(Assignment.unit_id)  # type: ignore[call-overload]
            .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)  # type: ignore[arg-type]
            .where(Assignment.campaign_id == campaign_id, ObligationDef.kind.in_(kinds),  # type: ignore[attr-defined]
                   Assignment.active.is_(True), Assignment.status.in_(statuses),  # type: ignore[attr-defined]
                   Assignment.unit_id.in_(ids[start:start + _CHUNK]))  # type: ignore[attr-defined]
        )
        if round_number is not None:
            query = query.where(ObligationDef.round_number == round_number)
        out.update(session.execute(query).scalars())
    return out


def _facts(session: Session, ctx: _Ctx, candidates: Sequence[tuple[Candidate, int]],
           rating: RatingLookup) -> list[NomineeFacts]:
    """Facts for (candidate, nominee unit id) pairs, read set-based for what the applicable criteria need."""
    def needs(kind: str) -> list[int]:
        return [unit_id for cand, unit_id in candidates
                if any(c.kind == kind and c.applies(cand.subject, cand.occasion) for c in cand.award.criteria)]

    cid = ctx.campaign.id
    registered = _units_with_assignment(session, cid, set(needs("registered")), kinds=["registration"],
                                        statuses=list(SUBMITTED_STATUSES))
    accepted: dict[int, set[int]] = {}
    by_round: dict[int, set[int]] = defaultdict(set)
    for cand, unit_id in candidates:
        if cand.round_number and any(c.kind == "round_report_accepted" and c.applies(cand.subject, cand.occasion)
                                     for c in cand.award.criteria):
            by_round[cand.round_number].add(unit_id)
    for rnd, unit_ids in by_round.items():
        accepted[rnd] = _units_with_assignment(session, cid, unit_ids, kinds=["round_report", "final_report"],
                                               statuses=[AssignmentStatus.ACCEPTED.value], round_number=rnd)
    ratings = {unit_id: rating(session, cid, unit_id) for unit_id in set(needs("year_end_rating"))}
    standings = _cluster_standings(session, ctx, candidates)
    return [
        NomineeFacts(
            registered=unit_id in registered,
            rating=ratings.get(unit_id),
            round_report_accepted=bool(cand.round_number) and unit_id in accepted.get(cand.round_number or 0, set()),
            cluster=standings.get(unit_id),
        )
        for cand, unit_id in candidates
    ]


def _cluster_standings(session: Session, ctx: _Ctx, candidates: Sequence[tuple[Candidate, int]]) -> dict[int, Any]:
    """Criterion cluster_rank (Cờ thi đua backed by the cụm/khối ranking): the standing of the nominees of the
    criterion's levels in their cluster of the campaign's year."""
    wanted = []
    for cand, unit_id in candidates:
        if unit_id is None:
            continue
        rules = [c for c in cand.award.criteria if c.kind == "cluster_rank" and c.applies(cand.subject, cand.occasion)]
        if rules and any(c.levels is None or ctx.units.get(unit_id).level_code in c.levels for c in rules):
            wanted.append(unit_id)
    if not wanted:
        return {}
    from thidua.services.clusters import standings

    return standings(session, ctx.campaign.id, ctx.campaign.year, wanted)


def _eligibility(session: Session, ctx: _Ctx, rows: Sequence[Mapping[str, Any]], rating: RatingLookup,
                 labels: Sequence[str]) -> dict[str, list[Refusal]]:
    candidates = [(_candidate(ctx, row), row["nominee_unit_id"]) for row in rows]
    facts = _facts(session, ctx, candidates, rating)
    out: dict[str, list[Refusal]] = {}
    for label, (cand, _), fact in zip(labels, candidates, facts):
        refusals = eligibility_refusals(ctx.catalogue, cand, fact)
        if refusals:
            out[label] = refusals
    from thidua.services.commendation.persons import history_rule_refusals

    for label, found in history_rule_refusals(session, ctx, rows, labels).items():
        out.setdefault(label, []).extend(found)
    return out


def _groups_of(ctx: _Ctx, row: Mapping[str, Any], nominees: Mapping[int, _UnitRow],
               roots: dict[int, _UnitRow] | None = None) -> list[Any]:
    """The quota groups a nomination counts in (QuotaGroup), under the campaign's current catalogue."""
    groups = []
    for quota in ctx.catalogue.quotas_for(row["award_code"], row["subject"]):
        root = None
        if quota.per == "subtree":
            assert quota.level is not None
            nominee = nominees.get(row["nominee_unit_id"])
            root = ctx.units.ancestor_at_level(nominee, quota.level) if nominee is not None else None
            if root is not None and roots is not None:
                roots[root.id] = root
        group = quota_group(quota, origin_unit_id=row["origin_unit_id"], subtree_root_id=root.id if root else None,
                            occasion=row["occasion"], round_number=row["round_number"])
        if group is not None:
            groups.append(group)
    return groups


def _quotas(session: Session, ctx: _Ctx, rows: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> dict[str, list[Refusal]]:
    """Quota check for nominations being proposed or forwarded now. Counts every live nomination of the
    campaign in each group; those being moved count as 'adding', the rest as 'existing'."""
    groups: dict[Any, list[int]] = defaultdict(list)  # QuotaGroup -> indexes of rows
    roots: dict[int, _UnitRow] = {}
    nominees = ctx.units.load(r["nominee_unit_id"] for r in rows)
    for index, row in enumerate(rows):
        for group in _groups_of(ctx, row, nominees, roots):
            groups[group].append(index)
    if not groups:
        return {}
    quotas = {q.code: q for q in ctx.catalogue.quotas}
    totals = _live_counts(session, ctx, groups, quotas, roots)
    out: dict[str, list[Refusal]] = defaultdict(list)
    for group, indexes in groups.items():
        quota = quotas[group.quota_code]
        moving_alive = sum(1 for i in indexes if rows[i]["status"] in _ALIVE)
        root = roots.get(group.scope_id) if quota.per == "subtree" and group.scope_id else None
        scope_name = root.name if root else (ctx.units.get(group.scope_id).name if quota.per == "proposer" and group.scope_id else "")
        refusal = quota_refusal(quota, existing=totals.get(group, 0) - moving_alive, adding=len(indexes),
                                level_name=ctx.level_name(quota.level or ""), scope_name=scope_name,
                                round_number=group.round_number)
        if refusal is not None:
            for i in indexes:
                out[labels[i]].append(refusal)
    return dict(out)


def _quota_key(quota: Any) -> str:
    """Names a quota's definition (not its maximum): counts stay valid while it is unchanged."""
    definition = "|".join([quota.code, ",".join(sorted(quota.awards)), ",".join(sorted(quota.subjects or [])),
                           quota.per, quota.level or "", quota.period])
    return f"{quota.code[:80]}#{hashlib.sha1(definition.encode()).hexdigest()[:16]}"


def _counter_key(ctx: _Ctx, group: Any) -> tuple[str, int, int]:
    quota = next(q for q in ctx.catalogue.quotas if q.code == group.quota_code)
    return _quota_key(quota), group.scope_id or 0, group.round_number or 0


def _live_counts(session: Session, ctx: _Ctx, groups: Mapping[Any, list[int]], quotas: Mapping[str, Any],
                 roots: Mapping[int, _UnitRow]) -> dict[Any, int]:
    """Live nominations per quota group, from the counters (`nomination_quota_count`); a group without one is
    counted from the nominations (below) and its counter written, in the caller's transaction."""
    keys = {group: _counter_key(ctx, group) for group in groups}
    stored = {(r.quota_key, r.scope_id, r.round_number): r.live for r in session.execute(
        select(QC.c.quota_key, QC.c.scope_id, QC.c.round_number, QC.c.live)
        .where(QC.c.campaign_id == ctx.campaign.id, QC.c.quota_key.in_({k[0] for k in keys.values()}))).all()}
    counts = {group: stored[key] for group, key in keys.items() if key in stored}
    missing = [group for group in groups if group not in counts]
    if missing:
        fresh = _count_live(session, ctx, missing, quotas, roots)
        values = [{"campaign_id": ctx.campaign.id, "quota_key": keys[g][0], "scope_id": keys[g][1],
                   "round_number": keys[g][2], "live": fresh[g]} for g in missing]
        insert_ = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
        session.execute(insert_(QC).on_conflict_do_nothing(), values)
        counts.update(fresh)
    return counts


def _count_live(session: Session, ctx: _Ctx, groups: Sequence[Any], quotas: Mapping[str, Any],
                roots: Mapping[int, _UnitRow]) -> dict[Any, int]:
    """Live nominations per quota group counted from the nominations: one grouped query per quota and round
    (one per root for subtrees)."""
    wanted: dict[tuple[str, int | None], list[Any]] = defaultdict(list)
    for group in groups:
        wanted[(group.quota_code, group.round_number)].append(group)
    counts: dict[Any, int] = {}
    for (code, rnd), members in wanted.items():
        quota = quotas[code]
        conditions = [N.c.campaign_id == ctx.campaign.id, N.c.award_code.in_(quota.awards), N.c.status.in_(_ALIVE)]
        if quota.subjects:
            conditions.append(N.c.subject.in_(quota.subjects))
        if rnd is not None:
            conditions += [N.c.occasion == "round", N.c.round_number == rnd]
        if quota.per == "campaign":
            total = session.execute(select(func.count()).select_from(N).where(*conditions)).scalar_one()
            for group in members:
                counts[group] = total
        elif quota.per == "proposer":
            ids = [g.scope_id for g in members]
            found = dict(session.execute(
                select(N.c.origin_unit_id, func.count()).where(*conditions, N.c.origin_unit_id.in_(ids))
                .group_by(N.c.origin_unit_id)).all())
            for group in members:
                counts[group] = found.get(group.scope_id, 0)
        else:  # subtree: one range scan of the root's subtree on the unit path index per root
            for group in members:
                low, high = subtree_range(roots[group.scope_id].path)
                counts[group] = session.execute(
                    select(func.count()).select_from(N.join(U, U.c.id == N.c.nominee_unit_id))
                    .where(*conditions, U.c.path >= low, U.c.path < high)).scalar_one()
    return counts


def _adjust_quota_counts(session: Session, ctx: _Ctx, moves: Sequence["_Move"]) -> None:
    """Keep the counters in step with a transition, in its transaction: -1 in every group a nomination left
    (it stops being live, or changes award, subject or nominee), +1 in every group it joins. Counters of
    quota definitions the catalogue no longer has are dropped (they could not be kept in step)."""
    keys = sorted({_quota_key(q) for q in ctx.catalogue.quotas})
    session.execute(QC.delete().where(QC.c.campaign_id == ctx.campaign.id, QC.c.quota_key.not_in(keys)))
    before = [m.row for m in moves]
    after = [{**m.row, **m.values, "status": m.to_status} for m in moves]
    nominees = ctx.units.load({r["nominee_unit_id"] for r in (*before, *after)})
    delta: Counter[tuple[str, int, int]] = Counter()
    for old, new in zip(before, after):
        if old["status"] in _ALIVE:
            for group in _groups_of(ctx, old, nominees):
                delta[_counter_key(ctx, group)] -= 1
        if new["status"] in _ALIVE:
            for group in _groups_of(ctx, new, nominees):
                delta[_counter_key(ctx, group)] += 1
    changes = [{"b_key": k[0], "b_scope": k[1], "b_round": k[2], "b_delta": d} for k, d in delta.items() if d]
    if changes:
        session.execute(
            update(QC).where(QC.c.campaign_id == ctx.campaign.id, QC.c.quota_key == bindparam("b_key"),
                             QC.c.scope_id == bindparam("b_scope"), QC.c.round_number == bindparam("b_round"))
            .values(live=QC.c.live + bindparam("b_delta")), changes)


def forget_quota_counts(session: Session) -> None:
    """The unit tree changed (a move, a level, a reorganisation): subtree groups may have changed, so every
    counter is counted again when next needed."""
    session.execute(QC.delete())


def _granted(session: Session, year: int, keys: set[str]) -> list[GrantedAward]:
    out: list[GrantedAward] = []
    key_list = sorted(keys)
    for start in range(0, len(key_list), _CHUNK):
        rows = session.execute(
            select(N).join(Campaign.__table__, Campaign.__table__.c.id == N.c.campaign_id)  # type: ignore[attr-defined]
            .where(Campaign.__table__.c.year == year, N.c.status.in_(_GRANTED),  # type: ignore[attr-defined]
                   N.c.nominee_key.in_(key_list[start:start + _CHUNK]))
        ).mappings()
        out.extend(_granted_award(row) for row in rows)
    return out


def _granted_award(row: Mapping[str, Any]) -> GrantedAward:
    return GrantedAward(
        nomination_id=row["id"], award_code=row["award_code"], award_name=row["award_name"],
        award_kind=row["award_kind"], scope=row["award_scope"], deciding_level=row["deciding_level"],
        occasion=row["occasion"], subject=row["subject"], nominee_key=row["nominee_key"],
        achievement_key=row["achievement_key"],
        decision_number=row["decision_number"], decision_date=row["decision_date"],
    )


# ---------------------------------------------------------------------------------------------------
# Proposal shape and window (input checks before any rule)
# ---------------------------------------------------------------------------------------------------
def _shape_problems(ctx: _Ctx, origin: _UnitRow, p: ProposalInput) -> tuple[list[str], Award | None, _UnitRow | None]:
    """Problems with the proposal as given, the award, and the deciding unit."""
    problems: list[str] = []
    award = ctx.catalogue.award(p.award_code)
    if award is None:
        known = ", ".join(a.code for a in ctx.catalogue.awards)
        return [f"không có hình thức khen thưởng '{p.award_code}' trong danh mục {ctx.catalogue.code} (có: {known})"], None, None
    if origin.level_code not in award.proposed_by:
        allowed = ", ".join(ctx.level_name(lvl) for lvl in award.proposed_by)
        problems.append(f"{origin.name} ({ctx.level_name(origin.level_code)}) không được đề nghị {award.name}; "
                        f"cấp được đề nghị: {allowed}")
    if p.subject not in award.subjects:
        problems.append(f"{award.name} không khen đối tượng '{SUBJECT_LABELS.get(p.subject, p.subject)}'")
    if p.occasion not in award.occasions:
        allowed = ", ".join(OCCASION_LABELS[o] for o in award.occasions)
        problems.append(f"{award.name} không xét dịp '{OCCASION_LABELS.get(p.occasion, p.occasion)}' (chỉ xét: {allowed})")
    if p.occasion == "round":
        rounds = [r.number for r in _rounds(ctx)]
        if p.round_number not in rounds:
            problems.append(f"sơ kết đợt cần số đợt hợp lệ ({', '.join(map(str, rounds))}); nhận: {p.round_number}")
    elif p.round_number is not None:
        problems.append("chỉ đề nghị sơ kết đợt mới ghi số đợt")
    if not p.achievement.strip():
        problems.append("thiếu tóm tắt thành tích")
    if award.scope == "thematic" and not p.theme.strip():
        problems.append(f"{award.name} là khen chuyên đề: cần ghi chuyên đề (theme)")
    nominee = ctx.units.load([p.nominee_unit_id]).get(p.nominee_unit_id)
    if nominee is None or not nominee.active:
        problems.append(f"không có đơn vị #{p.nominee_unit_id} (hoặc đơn vị đã ngừng hoạt động)")
    else:
        if not origin.contains(nominee):
            problems.append(f"{nominee.name} không thuộc {origin.name}: đơn vị chỉ đề nghị khen thưởng tập thể, "
                            "cá nhân thuộc đơn vị mình")
        if p.subject == "collective" and award.nominee_levels and nominee.level_code not in award.nominee_levels:
            allowed = ", ".join(ctx.level_name(lvl) for lvl in award.nominee_levels)
            problems.append(f"{award.name} chỉ khen tập thể cấp {allowed}; {nominee.name} là "
                            f"{ctx.level_name(nominee.level_code)}")
    if p.subject == "individual" and not p.person_name.strip():
        problems.append("khen cá nhân cần họ tên người được đề nghị")
    if p.subject == "collective" and p.person_name.strip():
        problems.append("khen tập thể không ghi họ tên cá nhân")
    decider = ctx.units.ancestor_at_level(origin, award.decided_by)
    if decider is None and origin.parent_id is not None and award.decided_by in ctx.levels \
            and ctx.levels.index(award.decided_by) == ctx.levels.index(origin.level_code) - 1:
        # "Cấp trên trực tiếp" is a relationship: a CĐCS directly under the province has the province as its
        # direct superior, which then gives the award meant for that tier.
        decider = ctx.units.get(origin.parent_id)
    if decider is None:
        problems.append(f"{origin.name} không có đơn vị cấp {ctx.level_name(award.decided_by)} phía trên để quyết định {award.name}")
    return problems, award, decider


def _rounds(ctx: _Ctx) -> list[Round]:
    return list(ctx.session.execute(select(Round).where(Round.campaign_id == ctx.campaign.id)).scalars())  # type: ignore[arg-type]


def _windows(session: Session, campaign_id: int) -> list[ObligationDef]:
    return list(session.execute(
        select(ObligationDef).where(ObligationDef.campaign_id == campaign_id,  # type: ignore[arg-type]
                                    ObligationDef.kind == "nomination_window", ObligationDef.active.is_(True))  # type: ignore[attr-defined]
        .order_by(ObligationDef.due_on)
    ).scalars())


def _window_for(windows: Sequence[ObligationDef], occasion: str, round_number: int | None) -> ObligationDef | None:
    wanted = round_number if occasion == "round" else None
    return next((w for w in windows if w.round_number == wanted), None)


def _window_problem(ctx: _Ctx, windows: Sequence[ObligationDef], origin: _UnitRow, occasion: str,
                    round_number: int | None) -> str | None:
    """Round and year-end proposals are taken while the origin level's window is open; ad-hoc ones any time."""
    if occasion == "ad_hoc":
        return None
    window = _window_for(windows, occasion, round_number)
    if window is None:
        return f"chiến dịch không mở đợt đề xuất khen thưởng cho {occasion_label(occasion, round_number).lower()}"
    closes = window_closes(window.due_on, ctx.levels, ctx.review_days)[origin.level_code]
    opens = window.opens_on
    if (opens is not None and ctx.today < opens) or ctx.today > closes:
        span = f"{fmt_date(opens)} – {fmt_date(closes)}" if opens else f"đến {fmt_date(closes)}"
        return (f"ngoài thời gian đề xuất: '{window.title}' đối với {ctx.level_name(origin.level_code)} là {span}; "
                f"hôm nay {fmt_date(ctx.today)}")
    return None


# ---------------------------------------------------------------------------------------------------
# Writing: transitions, steps, audit, mail
# ---------------------------------------------------------------------------------------------------
@dataclass
class _Move:
    row: Mapping[str, Any]
    to_status: str
    values: dict[str, Any]  # columns to set besides status/version/updated_at
    to_unit_id: int | None
    review_due_at: datetime | None = None
    batch_id: int | None = None


def _apply_moves(session: Session, ctx: _Ctx, action: NominationAction, actor: Actor, moves: Sequence[_Move], *,
                 comment: str = "", expected_versions: Mapping[int, int] | None = None,
                 extra_context: Mapping[str, Any] | None = None, extra_audit: Sequence[Mapping[str, Any]] = (),
                 extra_mail: Sequence[Mapping[str, Any]] = ()) -> None:
    """One UPDATE … WHERE id = ? AND version = ? per nomination (executemany), then the steps, the audit rows and
    the mail, each in one statement (`extra_*`: rows of the same operation, e.g. the batch's audit row)."""
    if not moves:
        return
    columns = sorted(moves[0].values)
    params = []
    for move in moves:
        expected = (expected_versions or {}).get(move.row["id"], move.row["version"])
        params.append({"b_id": move.row["id"], "b_version": expected, "v_status": move.to_status,
                       "v_version": expected + 1, **{f"v_{c}": move.values[c] for c in columns}})
    statement = (
        update(N).where(N.c.id == bindparam("b_id"), N.c.version == bindparam("b_version"))
        .values(status=bindparam("v_status"), version=bindparam("v_version"), updated_at=ctx.now,
                **{c: bindparam(f"v_{c}") for c in columns})
    )
    changed = session.execute(statement, params).rowcount
    if changed != len(moves):
        raise NominationConflict("Đề nghị vừa được người khác thay đổi; hãy tải lại và thực hiện lại")
    _adjust_quota_counts(session, ctx, moves)
    session.execute(insert(S), [
        {"nomination_id": m.row["id"], "seq": p["v_version"], "action": action.value, "from_status": m.row["status"],
         "to_status": m.to_status, "at_unit_id": actor.unit_id, "to_unit_id": m.to_unit_id, "actor": actor.name,
         "at": ctx.now, "comment": comment, "review_due_at": m.review_due_at, "batch_id": m.batch_id}
        for m, p in zip(moves, params)
    ])
    audit_many(session, [*(
        {"at": ctx.now, "actor": actor.name, "action": f"nomination.{action.value}", "entity": "nomination",
         "entity_id": m.row["id"], "campaign_id": ctx.campaign.id, "unit_id": actor.unit_id, "note": comment,
         "before": {"status": m.row["status"], "version": p["b_version"], "current_unit_id": m.row["current_unit_id"]},
         "after": {"status": m.to_status, "version": p["v_version"], "current_unit_id": m.to_unit_id,
                   **{k: v for k, v in m.values.items() if k not in ("dossier", "updated_at")}}}
        for m, p in zip(moves, params)
    ), *extra_audit])
    mail = _proposer_mail(ctx, action, actor, moves, [p["v_version"] for p in params], comment, extra_context or {})
    enqueue_many(session, [*mail, *extra_mail])


def _link(nomination_id: int) -> str:
    return f"{get_settings().base_url.rstrip('/')}/don-vi/khen-thuong/{nomination_id}"


def _base_context(ctx: _Ctx) -> dict[str, Any]:
    return {"campaign_title": ctx.campaign.title, "office_department": ctx.campaign.owner_department,
            "office_email": ctx.campaign.owner_email}


def _proposer_mail(ctx: _Ctx, action: NominationAction, actor: Actor, moves: Sequence[_Move], seqs: Sequence[int],
                   comment: str, extra: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One e-mail per step to each address of the proposing unit (queued in the step's transaction)."""
    units = ctx.units.load([actor.unit_id] + [m.row["origin_unit_id"] for m in moves] + [m.to_unit_id for m in moves if m.to_unit_id])
    acting = units[actor.unit_id]
    rows = []
    for move, seq in zip(moves, seqs):
        row, origin = move.row, units[move.row["origin_unit_id"]]
        holder = units.get(move.to_unit_id) if move.to_unit_id else None
        context = {
            **_base_context(ctx), "audience": "proposer", "unit_name": origin.name, "nomination_id": row["id"],
            "award_name": row["award_name"], "nominee_name": row["nominee_name"],
            "subject_label": SUBJECT_LABELS.get(row["subject"], row["subject"]),
            "occasion_label": occasion_label(row["occasion"], row["round_number"]),
            "action": action.value, "status": move.to_status, "status_label": status_label(move.to_status),
            "acting_unit": acting.name, "holder_unit": holder.name if holder else "", "comment": comment,
            "at": fmt_datetime(ctx.now, ctx.tz),
            "review_due": fmt_date(utc_to_local(move.review_due_at, ctx.tz)) if move.review_due_at else "",
            "decision_number": move.values.get("decision_number", row["decision_number"]) or "",
            "decision_date": fmt_date(move.values.get("decision_date", row["decision_date"])),
            "decision_signer": move.values.get("decision_signer", row["decision_signer"]) or "",
            "link": _link(row["id"]), "count": 1, "to_trinh_number": "", "to_trinh_date": "", **extra,
        }
        told = [(origin, context)]
        if action is _A.RETURN and holder is not None and holder.id != origin.id:
            told.append((holder, {**context, "unit_name": holder.name, "returned_to_sender": True}))
        for unit, unit_context in told:
            for email in dict.fromkeys(unit.emails):
                if email == actor.name:  # nobody is mailed about their own action
                    continue
                rows.append({"key": f"nom:{row['id']}:{seq}:{email}", "kind": "nomination", "recipient": email,
                             "template": "nomination_step", "context": unit_context, "campaign_id": ctx.campaign.id,
                             "unit_id": unit.id, "scheduled_at": ctx.now})
    return rows


def _reviewer_mail(ctx: _Ctx, key: str, reviewer: _UnitRow, count: int, review_due_at: datetime | None,
                   sender: _UnitRow, first_id: int) -> list[dict[str, Any]]:
    """Tell the receiving unit that files wait for it (one e-mail per arrival, not per nomination)."""
    context = {
        **_base_context(ctx), "audience": "reviewer", "unit_name": reviewer.name, "count": count,
        "acting_unit": sender.name, "review_due": fmt_date(utc_to_local(review_due_at, ctx.tz)) if review_due_at else "",
        "link": _link(first_id) if count == 1 else f"{get_settings().base_url.rstrip('/')}/xet-duyet",
        "at": fmt_datetime(ctx.now, ctx.tz),
    }
    return [{"key": f"{key}:{email}", "kind": "nomination", "recipient": email, "template": "nomination_step",
             "context": context, "campaign_id": ctx.campaign.id, "unit_id": reviewer.id, "scheduled_at": ctx.now}
            for email in dict.fromkeys(reviewer.emails)]


def _check_versions(rows: Sequence[Mapping[str, Any]], expected_versions: Mapping[int, int] | None) -> None:
    for row in rows:
        expected = (expected_versions or {}).get(row["id"])
        if expected is not None and expected != row["version"]:
            raise NominationConflict(
                f"{_label(row)} đã được thay đổi sau khi bạn mở (phiên bản {row['version']}, bạn xem phiên bản "
                f"{expected}); trạng thái hiện tại: '{status_label(row['status'])}'. Hãy tải lại và thực hiện lại."
            )


def _evidence_missing(session: Session, ctx: _Ctx, rows: Sequence[Mapping[str, Any]],
                      labels: Sequence[str]) -> dict[str, list[Refusal]]:
    """Required evidence files missing (the catalogue's checklist): a file is not forwarded without them."""
    from thidua.services.commendation.evidence import missing_refusals

    return missing_refusals(session, ctx.catalogue, rows, labels)


def _raise_problems(problems: Mapping[str, Sequence[str]]) -> None:
    if problems:
        raise InvalidNominationInput("\n".join(f"{label}: {'; '.join(items)}" for label, items in problems.items()))


def _raise_refusals(*groups: Mapping[str, list[Refusal]]) -> None:
    merged: dict[str, list[Refusal]] = defaultdict(list)
    for group in groups:
        for label, refusals in group.items():
            merged[label].extend(refusals)
    if merged:
        raise RulesRefused(dict(merged))


def _transition_or_error(row: Mapping[str, Any], action: NominationAction, *, at_deciding_unit: bool) -> str:
    try:
        return next_status(row["status"], action, at_deciding_unit=at_deciding_unit).value
    except InvalidTransition as exc:
        raise InvalidTransition(f"{_label(row)}: {exc}") from None


def _open_batch(session: Session, ctx: _Ctx, holder: _UnitRow, occasion: str, round_number: int | None) -> int:
    """The holder's open outgoing list for an occasion, created on first use (callers hold the lock)."""
    rnd = round_number or 0
    key = (holder.id, occasion, rnd)
    if key in ctx.open_batches:
        return ctx.open_batches[key]
    found = session.execute(select(B.c.id).where(
        B.c.campaign_id == ctx.campaign.id, B.c.from_unit_id == holder.id, B.c.occasion == occasion,
        B.c.round_number == rnd, B.c.status == "open")).scalar()
    if found is None:
        if holder.parent_id is None:
            raise InvalidNominationInput(f"{holder.name} không có cấp trên để gửi danh sách đề nghị")
        found = session.execute(insert(B).returning(B.c.id), {
            "campaign_id": ctx.campaign.id, "from_unit_id": holder.id, "to_unit_id": holder.parent_id,
            "from_level": holder.level_code, "occasion": occasion, "round_number": rnd, "status": "open",
            "to_trinh_number": "", "sent_by": "", "item_count": 0, "decision_number": "", "version": 1,
            "created_at": ctx.now}).scalar_one()
    ctx.open_batches[key] = found
    return found


# ---------------------------------------------------------------------------------------------------
# Proposing
# ---------------------------------------------------------------------------------------------------
def _new_rows(ctx: _Ctx, origin: _UnitRow, proposals: Sequence[ProposalInput], actor: Actor) -> list[dict[str, Any]]:
    """Validate the proposals as given and build their rows (status drafted), or raise listing every problem."""
    problems: dict[str, list[str]] = {}
    rows: list[dict[str, Any]] = []
    for index, p in enumerate(proposals, start=1):
        found, award, decider = _shape_problems(ctx, origin, p)
        nominee = ctx.units.load([p.nominee_unit_id]).get(p.nominee_unit_id)
        who = p.person_name.strip() if p.subject == "individual" else (nominee.name if nominee else f"#{p.nominee_unit_id}")
        label = f"Đề nghị {index} ({award.name if award else p.award_code} – {who})"
        if p.person_id is not None and not found:
            from thidua.services.commendation.persons import person_problems

            found = (["chỉ khen cá nhân mới chọn người trong sổ đoàn viên"] if p.subject != "individual"
                     else person_problems(ctx.session, p.person_id, p.nominee_unit_id, p.person_name))
        if found:
            problems[label] = found
            continue
        assert award is not None and decider is not None and nominee is not None
        rows.append({
            "campaign_id": ctx.campaign.id, "catalogue_code": ctx.catalogue.code, "award_code": award.code,
            "award_name": award.name, "award_kind": award.kind, "award_scope": award.scope, "subject": p.subject,
            "nominee_unit_id": nominee.id, "nominee_name": who, "nominee_position": p.person_position.strip(),
            "nominee_key": f"ps:{p.person_id}" if p.person_id else nominee_key(p.subject, nominee.id, p.person_name),
            "person_id": p.person_id,
            "occasion": p.occasion, "round_number": p.round_number, "theme": p.theme.strip(),
            "achievement": p.achievement.strip(),
            "achievement_key": achievement_key(ctx.campaign.id, p.occasion, p.round_number,
                                               p.theme if award.scope == "thematic" else ""),
            "discipline": p.discipline.strip(), "dossier": _dossier_to_json(p.dossier),
            "origin_unit_id": origin.id, "origin_level": origin.level_code, "deciding_level": decider.level_code,
            "deciding_unit_id": decider.id, "status": _S.DRAFTED.value, "current_unit_id": origin.id,
            "current_level": origin.level_code, "returned_by_unit_id": None, "batch_id": None,
            "review_due_at": None, "decision_number": "", "decision_date": None, "decision_signer": "",
            "awarded_on": None, "created_by": actor.name, "created_at": ctx.now, "updated_at": ctx.now, "version": 1,
            "_label": label,
        })
    _raise_problems(problems)
    return rows


def _insert_drafts(session: Session, ctx: _Ctx, rows: list[dict[str, Any]], actor: Actor) -> list[int]:
    payload = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    ids = list(session.execute(insert(N).returning(N.c.id, sort_by_parameter_order=True), payload).scalars())
    session.execute(insert(S), [
        {"nomination_id": i, "seq": 1, "action": _A.DRAFT.value, "from_status": None, "to_status": _S.DRAFTED.value,
         "at_unit_id": actor.unit_id, "to_unit_id": actor.unit_id, "actor": actor.name, "at": ctx.now, "comment": "",
         "review_due_at": None, "batch_id": None} for i in ids])
    audit_many(session, (
        {"at": ctx.now, "actor": actor.name, "action": "nomination.draft", "entity": "nomination", "entity_id": i,
         "campaign_id": ctx.campaign.id, "unit_id": actor.unit_id,
         "after": {"status": _S.DRAFTED.value, "award_code": row["award_code"], "nominee": row["nominee_name"]}}
        for i, row in zip(ids, rows)))
    for i, row in zip(ids, rows):
        row["id"] = i
    return ids


def _acting_unit(ctx: _Ctx, actor: Actor) -> _UnitRow:
    unit = ctx.units.get(actor.unit_id)
    if not unit.active:
        raise NotPermitted(f"{unit.name} đã ngừng hoạt động")
    return unit


def draft(engine: Engine, campaign_id: int, actor: Actor, proposals: Sequence[ProposalInput], *,
          now: datetime | None = None) -> list[int]:
    """Save proposals as drafts of the acting unit (input checked; rules are checked when proposing)."""
    if not proposals:
        raise InvalidNominationInput("Không có đề nghị nào")
    with _change(engine, campaign_id, now) as (session, ctx):
        origin = _acting_unit(ctx, actor)
        return _insert_drafts(session, ctx, _new_rows(ctx, origin, proposals, actor), actor)


def propose(engine: Engine, campaign_id: int, actor: Actor, proposals: Sequence[ProposalInput] = (), *,
            draft_ids: Sequence[int] = (), send: DocumentRef | None = None, rating: RatingLookup | None = None,
            expected_versions: Mapping[int, int] | None = None, now: datetime | None = None) -> ProposeResult:
    """Propose new proposals and/or the acting unit's drafts. Checks the window, the dossier, eligibility and
    quotas; the proposals join the unit's outgoing list (or, when the unit decides the award itself, go under
    its own review). With `send`, the list leaves at once under that tờ trình."""
    if not proposals and not draft_ids:
        raise InvalidNominationInput("Không có đề nghị nào")
    with _change(engine, campaign_id, now) as (session, ctx):
        origin = _acting_unit(ctx, actor)
        new_rows = _new_rows(ctx, origin, proposals, actor)
        drafts = [dict(r) for r in _load(session, draft_ids, campaign_id)] if draft_ids else []
        _check_versions(drafts, expected_versions)
        problems: dict[str, list[str]] = {}
        for row in drafts:
            if row["origin_unit_id"] != origin.id:
                raise NotPermitted(f"{_label(row)} là của đơn vị khác; chỉ đơn vị đề nghị mới gửi được")
            _transition_or_error(row, _A.PROPOSE, at_deciding_unit=False)
            row["_label"] = _label(row)
        windows = _windows(session, campaign_id)
        for row in new_rows + drafts:
            window = _window_problem(ctx, windows, origin, row["occasion"], row["round_number"])
            if window:
                problems.setdefault(row["_label"], []).append(window)
        _raise_problems(problems)
        rows = new_rows + drafts
        labels = [r["_label"] for r in rows]
        dossier = {r["_label"]: found for r in rows if (found := dossier_refusals(ctx.catalogue, _candidate(ctx, r)))}
        _raise_refusals(dossier, _eligibility(session, ctx, rows, rating or submissions_rating, labels),
                        _quotas(session, ctx, rows, labels))
        if new_rows:
            _insert_drafts(session, ctx, new_rows, actor)
            for row in new_rows:
                row["version"] = 1
        moves, batch_ids = [], []
        for row in rows:
            self_decides = row["deciding_unit_id"] == origin.id
            to_status = next_status(row["status"], _A.PROPOSE, at_deciding_unit=self_decides).value
            if self_decides:  # its own council reviews it: no list to send
                due = ctx.review_due_at(origin.level_code)
                moves.append(_Move(row, to_status, {"review_due_at": due, "batch_id": None}, origin.id, due))
            else:
                batch_id = _open_batch(session, ctx, origin, row["occasion"], row["round_number"])
                batch_ids.append(batch_id)
                moves.append(_Move(row, to_status, {"review_due_at": None, "batch_id": batch_id}, origin.id, None, batch_id))
        own_review = [mail for m in moves if m.to_status == _S.UNDER_REVIEW.value
                      for mail in _reviewer_mail(ctx, f"nomq:{m.row['id']}:{m.row['version'] + 1}", origin, 1,
                                                 m.review_due_at, origin, m.row["id"])]
        _apply_moves(session, ctx, _A.PROPOSE, actor, moves, extra_mail=own_review)
        ids = [r["id"] for r in rows]
        unique_batches = list(dict.fromkeys(batch_ids))
        if send is not None:
            for batch_id in unique_batches:
                _send(session, ctx, actor, batch_id, send, rating or submissions_rating, checked=frozenset(ids))
        return ProposeResult(ids, unique_batches, send is not None and bool(unique_batches))


# ---------------------------------------------------------------------------------------------------
# Proposer actions on its own files
# ---------------------------------------------------------------------------------------------------
def _own_rows(session: Session, ctx: _Ctx, ids: Sequence[int], actor: Actor,
              expected_versions: Mapping[int, int] | None) -> list[dict[str, Any]]:
    rows = [dict(r) for r in _load(session, ids, ctx.campaign.id)]
    _check_versions(rows, expected_versions)
    for row in rows:
        if row["origin_unit_id"] != actor.unit_id:
            raise NotPermitted(f"{_label(row)}: chỉ đơn vị đề nghị ({ctx.units.get(row['origin_unit_id']).name}) "
                               "mới được làm việc này")
    return rows


def _edited(ctx: _Ctx, row: dict[str, Any], changes: ProposalChanges) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if changes.achievement is not None:
        if not changes.achievement.strip():
            raise InvalidNominationInput(f"{_label(row)}: thiếu tóm tắt thành tích")
        values["achievement"] = changes.achievement.strip()
    if changes.person_position is not None:
        values["nominee_position"] = changes.person_position.strip()
    if changes.discipline is not None:
        values["discipline"] = changes.discipline.strip()
    if changes.theme is not None:
        if row["award_scope"] == "thematic" and not changes.theme.strip():
            raise InvalidNominationInput(f"{_label(row)}: khen chuyên đề cần ghi chuyên đề (theme)")
        values["theme"] = changes.theme.strip()
        if row["award_scope"] == "thematic":
            values["achievement_key"] = achievement_key(ctx.campaign.id, row["occasion"], row["round_number"], values["theme"])
    if changes.dossier is not None:
        values["dossier"] = {**(row["dossier"] or {}), **_dossier_to_json(changes.dossier)}
    return values


def edit(engine: Engine, campaign_id: int, nomination_id: int, actor: Actor, changes: ProposalChanges, *,
         expected_version: int | None = None, now: datetime | None = None) -> int:
    """Change a draft or a returned file (status unchanged). Returns the new version."""
    with _change(engine, campaign_id, now) as (session, ctx):
        (row,) = _own_rows(session, ctx, [nomination_id], actor, _versions(nomination_id, expected_version))
        to_status = _transition_or_error(row, _A.EDIT, at_deciding_unit=False)
        values = _edited(ctx, row, changes)
        if not values:
            raise InvalidNominationInput("Không có thay đổi nào")
        _apply_moves(session, ctx, _A.EDIT, actor, [_Move(row, to_status, values, row["current_unit_id"])],
                     expected_versions=_versions(nomination_id, expected_version))
        return row["version"] + 1


def _versions(nomination_id: int, version: int | None) -> dict[int, int] | None:
    return None if version is None else {nomination_id: version}


def resubmit(engine: Engine, campaign_id: int, nomination_id: int, actor: Actor, *,
             changes: ProposalChanges | None = None, comment: str = "", expected_version: int | None = None,
             rating: RatingLookup | None = None, now: datetime | None = None) -> None:
    """Send a returned file back to the reviewer who returned it, with the changes asked for."""
    with _change(engine, campaign_id, now) as (session, ctx):
        expected = _versions(nomination_id, expected_version)
        rows = [dict(r) for r in _load(session, [nomination_id], campaign_id)]
        _check_versions(rows, expected)
        (row,) = rows
        if row["status"] == _S.RETURNED.value and row["current_unit_id"] != actor.unit_id:
            raise NotPermitted(f"{_label(row)}: hồ sơ đang được trả về {ctx.units.get(row['current_unit_id']).name}; "
                               "chỉ đơn vị đang giữ hồ sơ mới gửi lại được")
        if row["status"] != _S.RETURNED.value and row["origin_unit_id"] != actor.unit_id:
            raise NotPermitted(f"{_label(row)}: chỉ đơn vị đề nghị ({ctx.units.get(row['origin_unit_id']).name}) "
                               "mới được làm việc này")
        to_status = _transition_or_error(row, _A.RESUBMIT, at_deciding_unit=False)
        values = _edited(ctx, row, changes) if changes else {}
        updated = {**row, **values}
        updated["_label"] = _label(row)
        reviewer = ctx.units.get(row["returned_by_unit_id"])
        dossier = dossier_refusals(ctx.catalogue_for(updated), _candidate(ctx, updated))
        _raise_refusals({updated["_label"]: dossier} if dossier else {},
                        _eligibility(session, ctx, [updated], rating or submissions_rating, [updated["_label"]]),
                        _quotas(session, ctx, [updated], [updated["_label"]]),
                        _evidence_missing(session, ctx, [updated], [updated["_label"]]))
        due = ctx.review_due_at(reviewer.level_code)
        values.update(current_unit_id=reviewer.id, current_level=reviewer.level_code, review_due_at=due)
        notice = _reviewer_mail(ctx, f"nomq:{row['id']}:{row['version'] + 1}", reviewer, 1, due,
                                ctx.units.get(actor.unit_id), row["id"])
        _apply_moves(session, ctx, _A.RESUBMIT, actor, [_Move(row, to_status, values, reviewer.id, due)],
                     comment=comment, expected_versions=expected, extra_mail=notice)


def withdraw(engine: Engine, campaign_id: int, nomination_id: int, actor: Actor, *, comment: str = "",
             expected_version: int | None = None, now: datetime | None = None) -> None:
    """The proposer takes its proposal back (until it is decided)."""
    with _change(engine, campaign_id, now) as (session, ctx):
        expected = _versions(nomination_id, expected_version)
        (row,) = _own_rows(session, ctx, [nomination_id], actor, expected)
        to_status = _transition_or_error(row, _A.WITHDRAW, at_deciding_unit=False)
        keep_batch = row["batch_id"] if row["status"] not in (_S.PROPOSED.value, _S.APPROVED.value) else None
        _apply_moves(session, ctx, _A.WITHDRAW, actor,
                     [_Move(row, to_status, {"review_due_at": None, "batch_id": keep_batch}, row["current_unit_id"])],
                     comment=comment, expected_versions=expected)


# ---------------------------------------------------------------------------------------------------
# Reviewer actions
# ---------------------------------------------------------------------------------------------------
def _held_rows(session: Session, ctx: _Ctx, ids: Sequence[int], actor: Actor,
               expected_versions: Mapping[int, int] | None) -> list[dict[str, Any]]:
    if not ids:
        raise InvalidNominationInput("Không có đề nghị nào được chọn")
    rows = [dict(r) for r in _load(session, ids, ctx.campaign.id)]
    _check_versions(rows, expected_versions)
    for row in rows:
        row["_label"] = _label(row)
        if row["current_unit_id"] != actor.unit_id:
            holder = ctx.units.get(row["current_unit_id"])
            raise NotPermitted(f"{row['_label']} đang ở {holder.name} ('{status_label(row['status'])}'); "
                               f"{ctx.units.get(actor.unit_id).name} không phải đơn vị đang xét")
    return rows


def approve(engine: Engine, campaign_id: int, nomination_ids: Sequence[int], actor: Actor, *, comment: str = "",
            expected_versions: Mapping[int, int] | None = None, rating: RatingLookup | None = None,
            now: datetime | None = None) -> list[int]:
    """Approve at this level: the files join this level's outgoing list to the direct superior. Eligibility
    and quotas are checked again. Returns the outgoing list ids."""
    with _change(engine, campaign_id, now) as (session, ctx):
        rows = _held_rows(session, ctx, nomination_ids, actor, expected_versions)
        holder = ctx.units.get(actor.unit_id)
        for row in rows:
            row["_to"] = _transition_or_error(row, _A.APPROVE, at_deciding_unit=row["deciding_unit_id"] == holder.id)
        labels = [r["_label"] for r in rows]
        _raise_refusals(_eligibility(session, ctx, rows, rating or submissions_rating, labels), _quotas(session, ctx, rows, labels),
                        _evidence_missing(session, ctx, rows, labels))
        moves = []
        for row in rows:
            batch_id = _open_batch(session, ctx, holder, row["occasion"], row["round_number"])
            moves.append(_Move(row, row["_to"], {"review_due_at": None, "batch_id": batch_id}, holder.id, None, batch_id))
        _apply_moves(session, ctx, _A.APPROVE, actor, moves, comment=comment, expected_versions=expected_versions)
        return list(dict.fromkeys(m.batch_id for m in moves if m.batch_id is not None))


def return_for_revision(engine: Engine, campaign_id: int, nomination_ids: Sequence[int], actor: Actor, *, comment: str,
                        expected_versions: Mapping[int, int] | None = None, now: datetime | None = None) -> None:
    """Return files to their proposer with the reason; resubmission comes back to this unit."""
    if not comment.strip():
        raise InvalidNominationInput("Trả lại hồ sơ cần ghi lý do (nội dung cần bổ sung, sửa đổi)")
    with _change(engine, campaign_id, now) as (session, ctx):
        rows = _held_rows(session, ctx, nomination_ids, actor, expected_versions)
        moves = []
        for row in rows:
            if row["status"] == _S.RETURNED.value and row["origin_unit_id"] == actor.unit_id:
                raise InvalidTransition(f"{_label(row)}: đơn vị đề nghị không trả lại được nữa; hãy sửa và gửi lại, "
                                        "hoặc rút đề nghị")
            to_status = _transition_or_error(row, _A.RETURN, at_deciding_unit=row["deciding_unit_id"] == actor.unit_id)
            incoming = row["batch_id"] if row["status"] == _S.UNDER_REVIEW.value else None
            to_unit = ctx.units.get(_sender_of(session, row) if ctx.catalogue.return_to == "sender" else row["origin_unit_id"])
            moves.append(_Move(row, to_status, {"current_unit_id": to_unit.id, "current_level": to_unit.level_code,
                                                "returned_by_unit_id": actor.unit_id, "review_due_at": None,
                                                "batch_id": incoming}, to_unit.id))
        _apply_moves(session, ctx, _A.RETURN, actor, moves, comment=comment.strip(), expected_versions=expected_versions)


def _sender_of(session: Session, row: Mapping[str, Any]) -> int:
    """The unit that sent the file to its current holder (by a list or a resubmission); the proposer if none."""
    holder = row["current_unit_id"]
    sender = session.execute(
        select(S.c.at_unit_id).where(S.c.nomination_id == row["id"], S.c.to_unit_id == holder, S.c.at_unit_id != holder,
                                     S.c.action.in_([_A.SEND.value, _A.RESUBMIT.value]))
        .order_by(S.c.seq.desc()).limit(1)).scalar()
    return sender if sender is not None else row["origin_unit_id"]


def reject(engine: Engine, campaign_id: int, nomination_ids: Sequence[int], actor: Actor, *, comment: str,
           expected_versions: Mapping[int, int] | None = None, now: datetime | None = None) -> None:
    """Refuse files for good, with the reason."""
    if not comment.strip():
        raise InvalidNominationInput("Không chấp nhận đề nghị cần ghi lý do")
    with _change(engine, campaign_id, now) as (session, ctx):
        rows = _held_rows(session, ctx, nomination_ids, actor, expected_versions)
        moves = []
        for row in rows:
            to_status = _transition_or_error(row, _A.REJECT, at_deciding_unit=row["deciding_unit_id"] == actor.unit_id)
            incoming = row["batch_id"] if row["status"] == _S.UNDER_REVIEW.value else None
            moves.append(_Move(row, to_status, {"review_due_at": None, "batch_id": incoming}, actor.unit_id))
        _apply_moves(session, ctx, _A.REJECT, actor, moves, comment=comment.strip(), expected_versions=expected_versions)


def _decision_problems(decision: Decision, today: date) -> list[str]:
    problems = []
    if not decision.number.strip():
        problems.append("thiếu số quyết định")
    if decision.on is None:
        problems.append("thiếu ngày quyết định")
    elif decision.on > today:
        problems.append(f"ngày quyết định {fmt_date(decision.on)} sau hôm nay ({fmt_date(today)})")
    if not decision.signer.strip():
        problems.append("thiếu người ký quyết định")
    return problems


def decide(engine: Engine, campaign_id: int, actor: Actor, decision: Decision, *,
           nomination_ids: Sequence[int] = (), batch_id: int | None = None,
           expected_versions: Mapping[int, int] | None = None, now: datetime | None = None) -> list[int]:
    """Record the deciding level's decision for the listed files, or for every file of an incoming list still
    under review here. Exclusivity rules are checked against what the nominees already hold this year."""
    if not nomination_ids and batch_id is None:
        raise InvalidNominationInput("Cần chọn đề nghị hoặc danh sách (tờ trình) để ra quyết định")
    with _change(engine, campaign_id, now) as (session, ctx):
        return decide_in(session, ctx, actor, decision, nomination_ids=nomination_ids, batch_id=batch_id,
                         expected_versions=expected_versions)


def decide_in(session: Session, ctx: _Ctx, actor: Actor, decision: Decision, *, nomination_ids: Sequence[int] = (),
              batch_id: int | None = None, expected_versions: Mapping[int, int] | None = None) -> list[int]:
    """decide() inside the caller's locked transaction (thidua.services.commendation numbers the decision)."""
    campaign_id = ctx.campaign.id
    problems = _decision_problems(decision, ctx.today)
    if problems:
        raise InvalidNominationInput("Quyết định khen thưởng: " + "; ".join(problems))
    ids = list(nomination_ids)
    if batch_id is not None:
        batch = session.execute(select(B).where(B.c.id == batch_id, B.c.campaign_id == campaign_id)).mappings().first()
        if batch is None:
            raise NominationNotFound(f"Không có danh sách đề nghị #{batch_id}")
        if batch["to_unit_id"] != actor.unit_id or batch["status"] != "sent":
            raise NotPermitted(f"Danh sách #{batch_id} không phải danh sách gửi đến {ctx.units.get(actor.unit_id).name}")
        ids += list(session.execute(select(N.c.id).where(
            N.c.batch_id == batch_id, N.c.status == _S.UNDER_REVIEW.value, N.c.current_unit_id == actor.unit_id)
            .order_by(N.c.id)).scalars())
        if not ids:
            raise InvalidNominationInput(f"Danh sách #{batch_id} không còn đề nghị nào đang chờ quyết định")
    rows = _held_rows(session, ctx, ids, actor, expected_versions)
    for row in rows:
        row["_to"] = _transition_or_error(row, _A.DECIDE, at_deciding_unit=row["deciding_unit_id"] == actor.unit_id)
    from thidua.services.commendation.gates import decision_refusals

    _raise_refusals(decision_refusals(session, ctx, rows))  # evidence, publication window, council vote
    granted = _granted(session, ctx.campaign.year, {r["nominee_key"] for r in rows})
    refusals: dict[str, list[Refusal]] = {}
    for row in rows:
        candidate = _granted_award(row)  # shown to later items of this decision as "cùng đợt quyết định này"
        found = exclusivity_refusals(ctx.catalogue_for(row), candidate, granted, row["nominee_name"])
        if found:
            refusals[row["_label"]] = found
        granted.append(candidate)
    _raise_refusals(refusals)
    values = {"decision_number": decision.number.strip(), "decision_date": decision.on,
              "decision_signer": decision.signer.strip(), "review_due_at": None}
    _apply_moves(session, ctx, _A.DECIDE, actor, [_Move(r, r["_to"], values, actor.unit_id) for r in rows],
                 expected_versions=expected_versions)
    if batch_id is not None:
        session.execute(update(B).where(B.c.id == batch_id).values(
            decision_number=decision.number.strip(), decision_date=decision.on, version=B.c.version + 1))
    return [r["id"] for r in rows]


def mark_awarded(engine: Engine, campaign_id: int, nomination_ids: Sequence[int], actor: Actor, *, awarded_on: date,
                 now: datetime | None = None) -> None:
    """The award was handed over (trao tặng)."""
    with _change(engine, campaign_id, now) as (session, ctx):
        if awarded_on > ctx.today:
            raise InvalidNominationInput(f"Ngày trao tặng {fmt_date(awarded_on)} sau hôm nay ({fmt_date(ctx.today)})")
        rows = _held_rows(session, ctx, nomination_ids, actor, None)
        moves = []
        for row in rows:
            to_status = _transition_or_error(row, _A.AWARD, at_deciding_unit=True)
            if row["decision_date"] and awarded_on < row["decision_date"]:
                raise InvalidNominationInput(f"{row['_label']}: ngày trao tặng trước ngày quyết định {fmt_date(row['decision_date'])}")
            moves.append(_Move(row, to_status, {"awarded_on": awarded_on}, actor.unit_id))
        _apply_moves(session, ctx, _A.AWARD, actor, moves)


# ---------------------------------------------------------------------------------------------------
# Batches: a level's list goes to its direct superior under one tờ trình
# ---------------------------------------------------------------------------------------------------
def _batch_for(session: Session, ctx: _Ctx, actor: Actor, batch_id: int | None, occasion: str | None,
               round_number: int | None) -> RowMapping:
    if batch_id is not None:
        batch = session.execute(select(B).where(B.c.id == batch_id, B.c.campaign_id == ctx.campaign.id)).mappings().first()
        if batch is None:
            raise NominationNotFound(f"Không có danh sách đề nghị #{batch_id}")
    else:
        batch = session.execute(select(B).where(
            B.c.campaign_id == ctx.campaign.id, B.c.from_unit_id == actor.unit_id, B.c.status == "open",
            B.c.occasion == (occasion or "year_end"), B.c.round_number == (round_number or 0))).mappings().first()
        if batch is None:
            raise NominationNotFound(f"{ctx.units.get(actor.unit_id).name} không có danh sách đề nghị đang mở cho "
                                     f"{occasion_label(occasion or 'year_end', round_number).lower()}")
    if batch["from_unit_id"] != actor.unit_id:
        raise NotPermitted(f"Danh sách #{batch['id']} là của {ctx.units.get(batch['from_unit_id']).name}")
    if batch["status"] != "open":
        raise InvalidTransition(f"Danh sách #{batch['id']} đã gửi ngày {fmt_datetime(batch['sent_at'], ctx.tz)} "
                                f"(tờ trình {batch['to_trinh_number']})")
    return batch


def prepare_batch(engine: Engine, campaign_id: int, actor: Actor, to_trinh: DocumentRef, *, batch_id: int | None = None,
                  occasion: str | None = None, round_number: int | None = None, now: datetime | None = None) -> int:
    """Record the tờ trình of an open list so that it leaves automatically when the level's window closes."""
    with _change(engine, campaign_id, now) as (session, ctx):
        _document_problems(to_trinh, ctx.today)
        batch = _batch_for(session, ctx, actor, batch_id, occasion, round_number)
        changed = session.execute(update(B).where(B.c.id == batch["id"], B.c.version == batch["version"]).values(
            to_trinh_number=to_trinh.number.strip(), to_trinh_date=to_trinh.on, version=batch["version"] + 1)).rowcount
        if changed != 1:
            raise NominationConflict(f"Danh sách #{batch['id']} vừa được thay đổi; hãy tải lại")
        audit_many(session, [{"at": ctx.now, "actor": actor.name, "action": "nomination_batch.prepared",
                              "entity": "nomination_batch", "entity_id": batch["id"], "campaign_id": campaign_id,
                              "unit_id": actor.unit_id, "after": {"to_trinh_number": to_trinh.number, "to_trinh_date": to_trinh.on}}])
        return batch["id"]


def _document_problems(doc: DocumentRef | None, today: date) -> None:
    if doc is None or not doc.number.strip():
        raise InvalidNominationInput("Gửi danh sách đề nghị cần số tờ trình")
    if doc.on is None:
        raise InvalidNominationInput("Gửi danh sách đề nghị cần ngày tờ trình")
    if doc.on > today:
        raise InvalidNominationInput(f"Ngày tờ trình {fmt_date(doc.on)} sau hôm nay ({fmt_date(today)})")


def send_batch(engine: Engine, campaign_id: int, actor: Actor, *, batch_id: int | None = None,
               occasion: str | None = None, round_number: int | None = None, to_trinh: DocumentRef | None = None,
               rating: RatingLookup | None = None, now: datetime | None = None) -> BatchResult:
    """Send the acting unit's open list (by id, or by occasion) to its direct superior under a tờ trình.
    Eligibility and quotas are checked again for every file; nothing leaves unless all pass."""
    with _change(engine, campaign_id, now) as (session, ctx):
        batch = _batch_for(session, ctx, actor, batch_id, occasion, round_number)
        return _send(session, ctx, actor, batch["id"], to_trinh, rating or submissions_rating)


def _send(session: Session, ctx: _Ctx, actor: Actor, batch_id: int, to_trinh: DocumentRef | None,
          rating: RatingLookup, *, checked: frozenset[int] = frozenset()) -> BatchResult:
    """`checked`: nominations whose rules were checked earlier in this transaction (not checked twice)."""
    batch = session.execute(select(B).where(B.c.id == batch_id)).mappings().one()
    if to_trinh is None and batch["to_trinh_number"]:
        to_trinh = DocumentRef(batch["to_trinh_number"], batch["to_trinh_date"])
    _document_problems(to_trinh, ctx.today)
    assert to_trinh is not None
    rows = [dict(r) for r in session.execute(select(N).where(
        N.c.batch_id == batch_id, N.c.status.in_([_S.PROPOSED.value, _S.APPROVED.value])).order_by(N.c.id)).mappings()]
    if not rows:
        raise InvalidNominationInput(f"Danh sách #{batch_id} không có đề nghị nào để gửi")
    for row in rows:
        row["_label"] = _label(row)
    unchecked = [r for r in rows if r["id"] not in checked]
    labels = [r["_label"] for r in unchecked]
    _raise_refusals(_eligibility(session, ctx, unchecked, rating, labels), _quotas(session, ctx, unchecked, labels),
                    _evidence_missing(session, ctx, rows, [r["_label"] for r in rows]))
    target = ctx.units.get(batch["to_unit_id"])
    changed = session.execute(update(B).where(B.c.id == batch_id, B.c.version == batch["version"], B.c.status == "open").values(
        status="sent", to_trinh_number=to_trinh.number.strip(), to_trinh_date=to_trinh.on, sent_at=ctx.now,
        sent_by=actor.name, item_count=len(rows), version=batch["version"] + 1)).rowcount
    if changed != 1:
        raise NominationConflict(f"Danh sách #{batch_id} vừa được gửi hoặc thay đổi; hãy tải lại")
    due = ctx.review_due_at(target.level_code)
    values = {"current_unit_id": target.id, "current_level": target.level_code, "review_due_at": due, "batch_id": batch_id}
    moves = [_Move(row, _S.UNDER_REVIEW.value, values, target.id, due, batch_id) for row in rows]
    batch_audit = {"at": ctx.now, "actor": actor.name, "action": "nomination_batch.sent", "entity": "nomination_batch",
                   "entity_id": batch_id, "campaign_id": ctx.campaign.id, "unit_id": actor.unit_id,
                   "after": {"to_unit_id": target.id, "count": len(rows), "to_trinh_number": to_trinh.number}}
    notice = _reviewer_mail(ctx, f"nombatch:{batch_id}", target, len(rows), due, ctx.units.get(batch["from_unit_id"]),
                            rows[0]["id"])
    _apply_moves(session, ctx, _A.SEND, actor, moves, comment=f"Tờ trình số {to_trinh.number.strip()} ngày {fmt_date(to_trinh.on)}",
                 extra_context={"to_trinh_number": to_trinh.number.strip(), "to_trinh_date": fmt_date(to_trinh.on)},
                 extra_audit=[batch_audit], extra_mail=notice)
    _fulfil_window(session, ctx, batch["from_unit_id"], batch["occasion"], batch["round_number"] or None, actor, {
        "danh_sach": batch_id, "so_de_nghi": len(rows), "to_trinh": to_trinh.number.strip(),
        "ngay_to_trinh": fmt_date(to_trinh.on)})
    return BatchResult(batch_id, target.id, [r["id"] for r in rows])


# ---------------------------------------------------------------------------------------------------
# The proposal window as an obligation: fulfilled by sending the list, or by declaring there is none
# ---------------------------------------------------------------------------------------------------
def _fulfil_window(session: Session, ctx: _Ctx, unit_id: int, occasion: str, round_number: int | None,
                   actor: Actor, data: dict[str, Any]) -> bool:
    """Record the unit's part of the window's obligation as done (a submission, so that reminders stop and
    status, digests and reports count it). False when the unit owes nothing there or has already done it."""
    from thidua.services.submissions import _apply_submissions, _Planned, obligation_spec  # submissions imports us lazily

    if occasion == "ad_hoc":
        return False
    window = _window_for(_windows(session, ctx.campaign.id), occasion, round_number)
    if window is None:
        return False
    assignment = session.execute(select(Assignment).where(
        Assignment.obligation_id == window.id, Assignment.unit_id == unit_id, Assignment.active.is_(True))  # type: ignore[arg-type,attr-defined]
    ).scalars().first()
    if assignment is None or assignment.status in SUBMITTED_STATUSES:
        return False
    unit = session.get(Unit, unit_id)
    _apply_submissions(session, ctx.campaign, window, obligation_spec(window),  # type: ignore[arg-type]
                       [_Planned(assignment, unit, data)], actor=actor.name, now=ctx.now, source="nomination", accept=False)
    return True


def declare_no_proposals(engine: Engine, campaign_id: int, actor: Actor, *, occasion: str = "year_end",
                         round_number: int | None = None, now: datetime | None = None) -> str:
    """The unit declares it proposes nobody in this window ("không có đề nghị"): its obligation is done.
    Refused while it has proposals waiting in an unsent list. Returns the window's title."""
    with _change(engine, campaign_id, now) as (session, ctx):
        origin = _acting_unit(ctx, actor)
        if occasion not in ("year_end", "round"):
            raise InvalidNominationInput("Chỉ khai báo 'không có đề nghị' cho đợt sơ kết hoặc tổng kết năm")
        windows = _windows(session, campaign_id)
        window = _window_for(windows, occasion, round_number)
        if window is None:
            raise InvalidNominationInput(
                f"chiến dịch không mở đợt đề xuất khen thưởng cho {occasion_label(occasion, round_number).lower()}")
        if window.opens_on is not None and ctx.today < window.opens_on:
            raise InvalidNominationInput(f"'{window.title}' mở từ ngày {fmt_date(window.opens_on)}; "
                                         f"hôm nay {fmt_date(ctx.today)}")
        waiting = session.execute(select(func.count()).select_from(N).join(B, B.c.id == N.c.batch_id).where(
            B.c.campaign_id == campaign_id, B.c.from_unit_id == origin.id, B.c.status == "open",
            B.c.occasion == occasion, B.c.round_number == (round_number or 0),
            N.c.status.in_(_ALIVE))).scalar_one()
        if waiting:
            raise InvalidNominationInput(f"{origin.name} còn {waiting} đề nghị chưa gửi trong '{window.title}': "
                                         "hãy gửi danh sách kèm tờ trình, hoặc rút các đề nghị đó trước")
        if not _fulfil_window(session, ctx, origin.id, occasion, round_number, actor, {"khong_co_de_nghi": True}):
            raise InvalidTransition(f"{origin.name} không còn nợ '{window.title}' (đã gửi danh sách hoặc đã khai báo)")
        return window.title


# ---------------------------------------------------------------------------------------------------
# Windows: each level's outgoing lists leave when its window closes
# ---------------------------------------------------------------------------------------------------
def window_schedule(engine: Engine, campaign_id: int) -> list[WindowClose]:
    with Session(engine) as session:
        ctx = _context(session, campaign_id, None, for_change=False)
        out = []
        for window in _windows(session, campaign_id):
            occasion = "round" if window.round_number is not None else "year_end"
            for level, closes in window_closes(window.due_on, ctx.levels, ctx.review_days).items():
                out.append(WindowClose(occasion, window.round_number, window.title, level, closes))
        return out


def close_windows(engine: Engine, campaign_id: int, *, now: datetime | None = None,
                  rating: RatingLookup | None = None) -> CloseResult:
    """Send every open list whose level's window closed before today and whose tờ trình is recorded; report
    the lists that cannot leave. Lists are sent lowest level first so that a day's closings chain upward.
    Each list is its own transaction: one refused list does not hold back the others."""
    result = CloseResult()
    now = _aware(now)
    system = "system:dong-cua-so-khen-thuong"
    with Session(engine) as session:
        ctx = _context(session, campaign_id, now)
        rank = {lvl: i for i, lvl in enumerate(ctx.levels)}
        due: list[tuple[int, RowMapping]] = []
        for window in _windows(session, campaign_id):
            occasion = "round" if window.round_number is not None else "year_end"
            for level, closes in window_closes(window.due_on, ctx.levels, ctx.review_days).items():
                if closes >= ctx.today:
                    continue
                for batch in session.execute(select(B).where(
                        B.c.campaign_id == campaign_id, B.c.status == "open", B.c.from_level == level,
                        B.c.occasion == occasion, B.c.round_number == (window.round_number or 0))).mappings():
                    due.append((rank[level], batch))
    for _, batch in sorted(due, key=lambda item: -item[0]):
        actor = Actor(batch["from_unit_id"], system)
        if not batch["to_trinh_number"]:
            result.missing_to_trinh.append({"batch_id": batch["id"], "unit_id": batch["from_unit_id"],
                                            "reason": "chưa có số tờ trình"})
            continue
        try:
            result.sent.append(send_batch(engine, campaign_id, actor, batch_id=batch["id"], rating=rating, now=now))
        except NominationError as exc:
            result.missing_to_trinh.append({"batch_id": batch["id"], "unit_id": batch["from_unit_id"], "reason": str(exc)})
    return result


# ---------------------------------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------------------------------
def get_nomination(engine: Engine, nomination_id: int) -> NominationView:
    with Session(engine) as session:
        row = session.execute(select(N).where(N.c.id == nomination_id)).mappings().first()
        if row is None:
            raise NominationNotFound(f"Không có đề nghị khen thưởng #{nomination_id}")
        steps = list(session.execute(select(S).where(S.c.nomination_id == nomination_id).order_by(S.c.seq)).mappings())
        units = _Units(session)
        names = {i: u.name for i, u in units.load(
            [row["nominee_unit_id"], row["origin_unit_id"], row["current_unit_id"], row["deciding_unit_id"]]
            + [s["at_unit_id"] for s in steps] + [s["to_unit_id"] for s in steps if s["to_unit_id"]]).items()}
        view = _view(row, names)
        levels, level_names = _levels(session)
        # The route follows the tree (each unit's direct superior), not the list of levels: a CĐCS directly
        # under the province goes straight there.
        origin = units.get(row["origin_unit_id"])
        above = [u for u in (units.load(origin.ancestor_ids()).get(i) for i in reversed(origin.ancestor_ids()[:-1])) if u]
        chain = []
        for unit in above:
            chain.append(unit.level_code)
            if unit.id == row["deciding_unit_id"]:
                break
        if not chain or chain[-1] != row["deciding_level"]:  # the decider is not an ancestor (data of old files)
            chain = reviewer_levels(levels, row["origin_level"], row["deciding_level"])
        view.route = [level_names[lvl] for lvl in chain]
        view.steps = [StepView(s["seq"], s["action"], s["from_status"], s["to_status"], names.get(s["at_unit_id"], ""),
                               names.get(s["to_unit_id"], "") if s["to_unit_id"] else "", s["actor"], s["at"],
                               s["comment"], s["review_due_at"]) for s in steps]
        return view


def _view(row: Mapping[str, Any], names: Mapping[int, str]) -> NominationView:
    return NominationView(
        id=row["id"], version=row["version"], status=row["status"], status_label=status_label(row["status"]),
        award_code=row["award_code"], award_name=row["award_name"], subject=row["subject"],
        nominee_name=row["nominee_name"], nominee_position=row["nominee_position"],
        nominee_unit=names.get(row["nominee_unit_id"], ""), occasion=row["occasion"],
        occasion_label=occasion_label(row["occasion"], row["round_number"]), round_number=row["round_number"],
        theme=row["theme"], achievement=row["achievement"], discipline=row["discipline"], dossier=dict(row["dossier"] or {}),
        origin_unit_id=row["origin_unit_id"], origin_unit=names.get(row["origin_unit_id"], ""),
        current_unit_id=row["current_unit_id"], current_unit=names.get(row["current_unit_id"], ""),
        deciding_unit_id=row["deciding_unit_id"], deciding_unit=names.get(row["deciding_unit_id"], ""),
        returned_by_unit_id=row["returned_by_unit_id"], review_due_at=row["review_due_at"],
        decision_number=row["decision_number"], decision_date=row["decision_date"],
        decision_signer=row["decision_signer"], awarded_on=row["awarded_on"], updated_at=row["updated_at"],
        batch_id=row["batch_id"],
    )


def list_nominations(engine: Engine, campaign_id: int, *, holder_unit_id: int | None = None,
                     origin_unit_id: int | None = None, within_unit_id: int | None = None,
                     statuses: Sequence[str] | None = None, award_code: str | None = None,
                     limit: int | None = None, offset: int = 0) -> list[NominationView]:
    """Nominations of a campaign, oldest change first. `holder_unit_id` + status under_review is a
    reviewer's queue; `within_unit_id` keeps those whose nominee is in that unit's subtree."""
    with Session(engine) as session:
        query = select(N).where(N.c.campaign_id == campaign_id)
        if holder_unit_id is not None:
            query = query.where(N.c.current_unit_id == holder_unit_id)
        if origin_unit_id is not None:
            query = query.where(N.c.origin_unit_id == origin_unit_id)
        if statuses:
            query = query.where(N.c.status.in_(list(statuses)))
        if award_code:
            query = query.where(N.c.award_code == award_code)
        if within_unit_id is not None:
            root_path = session.execute(select(U.c.path).where(U.c.id == within_unit_id)).scalar()
            if root_path is None:
                raise NominationNotFound(f"Không có đơn vị #{within_unit_id}")
            low, high = subtree_range(root_path)
            query = query.where(exists().where(U.c.id == N.c.nominee_unit_id, U.c.path >= low, U.c.path < high))
        query = query.order_by(N.c.updated_at, N.c.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        rows = list(session.execute(query).mappings())
        names = {i: u.name for i, u in _Units(session).load(
            {r[k] for r in rows for k in ("nominee_unit_id", "origin_unit_id", "current_unit_id", "deciding_unit_id")}).items()}
        return [_view(r, names) for r in rows]


def reviewer_queue(engine: Engine, campaign_id: int, unit_id: int, *, limit: int | None = None) -> list[NominationView]:
    """What waits for this unit's decision, oldest first."""
    return list_nominations(engine, campaign_id, holder_unit_id=unit_id, statuses=[_S.UNDER_REVIEW.value], limit=limit)


def list_batches(engine: Engine, campaign_id: int, *, unit_id: int | None = None) -> list[dict[str, Any]]:
    """Lists sent or received by a unit (all when None), newest first, with their live counts."""
    with Session(engine) as session:
        query = select(B).where(B.c.campaign_id == campaign_id)
        if unit_id is not None:
            query = query.where(or_(B.c.from_unit_id == unit_id, B.c.to_unit_id == unit_id))
        batches = list(session.execute(query.order_by(B.c.id.desc())).mappings())
        counts = dict(session.execute(select(N.c.batch_id, func.count()).where(
            N.c.batch_id.in_([b["id"] for b in batches]), N.c.status.in_(_ALIVE)).group_by(N.c.batch_id)).all()) if batches else {}
        names = {i: u.name for i, u in _Units(session).load({b["from_unit_id"] for b in batches} | {b["to_unit_id"] for b in batches}).items()}
        return [{**dict(b), "from_unit": names.get(b["from_unit_id"], ""), "to_unit": names.get(b["to_unit_id"], ""),
                 "live_count": counts.get(b["id"], 0),
                 "occasion_label": occasion_label(b["occasion"], b["round_number"] or None)} for b in batches]


def pipeline(engine: Engine, campaign_id: int) -> list[dict[str, Any]]:
    """Counts by level where the files are and by status (the office's pipeline view)."""
    with Session(engine) as session:
        rank = dict(session.execute(select(Level.code, Level.rank)).all())  # type: ignore[arg-type]
        rows = session.execute(select(N.c.current_level, N.c.status, func.count()).where(N.c.campaign_id == campaign_id)
                               .group_by(N.c.current_level, N.c.status)).all()
        return sorted(({"level": lvl, "status": st, "status_label": status_label(st), "count": n} for lvl, st, n in rows),
                      key=lambda r: (-rank.get(r["level"], 0), r["status"]))


def overdue_reviews(engine: Engine, campaign_id: int, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Reviewers past their deadline: unit, number of files, the oldest deadline."""
    now = _aware(now)
    with Session(engine) as session:
        rows = session.execute(select(N.c.current_unit_id, func.count(), func.min(N.c.review_due_at)).where(
            N.c.campaign_id == campaign_id, N.c.status == _S.UNDER_REVIEW.value, N.c.review_due_at < now)
            .group_by(N.c.current_unit_id)).all()
        names = {i: u.name for i, u in _Units(session).load(r[0] for r in rows).items()}
        return [{"unit_id": unit_id, "unit": names.get(unit_id, ""), "count": count, "oldest_due_at": oldest}
                for unit_id, count, oldest in rows]


def remind_overdue_reviewers(engine: Engine, campaign_id: int, *, now: datetime | None = None) -> int:
    """Queue one reminder per overdue reviewer unit and day (the outbox key makes a second run a no-op)."""
    now = _aware(now)
    overdue = overdue_reviews(engine, campaign_id, now=now)
    if not overdue:
        return 0
    with Session(engine) as session, session.begin():
        ctx = _context(session, campaign_id, now, for_change=False)
        queued = 0
        for item in overdue:
            unit = ctx.units.get(item["unit_id"])
            context = {**_base_context(ctx), "audience": "overdue", "unit_name": unit.name, "count": item["count"],
                       "review_due": fmt_date(utc_to_local(item["oldest_due_at"], ctx.tz)), "acting_unit": "",
                       "link": f"{get_settings().base_url.rstrip('/')}/xet-duyet", "at": fmt_datetime(now, ctx.tz)}
            queued += enqueue_many(session, [
                {"key": f"nomrem:{campaign_id}:{unit.id}:{ctx.today.isoformat()}:{email}", "kind": "nomination",
                 "recipient": email, "template": "nomination_step", "context": context, "campaign_id": campaign_id,
                 "unit_id": unit.id, "scheduled_at": now} for email in dict.fromkeys(unit.emails)])
        return queued


# ---------------------------------------------------------------------------------------------------
# Spreadsheets: a level's consolidated proposal list, and the campaign's award register
# ---------------------------------------------------------------------------------------------------
_LIST_HEADERS = ["STT", "Số đề nghị", "Hình thức khen thưởng", "Đối tượng", "Tên tập thể / Họ tên", "Chức vụ",
                 "Đơn vị", "Dịp", "Chuyên đề", "Tóm tắt thành tích", "Đơn vị đề nghị", "Trạng thái", "Đang ở",
                 "Tờ trình", "Quyết định"]
_REGISTER_HEADERS = ["STT", "Số quyết định", "Ngày quyết định", "Cấp quyết định", "Người ký", "Hình thức khen thưởng",
                     "Đối tượng", "Tên tập thể / Họ tên", "Chức vụ", "Đơn vị", "Dịp", "Chuyên đề",
                     "Tóm tắt thành tích", "Đơn vị đề nghị", "Ngày trao tặng", "Số đề nghị"]


def _sheet_header(ws, title: str, lines: Sequence[str], headers: Sequence[str]) -> None:  # noqa: ANN001
    from openpyxl.styles import Alignment, Font

    put_row(ws, [title])
    ws.cell(row=1, column=1).font = Font(bold=True, size=13)
    for line in lines:
        put_row(ws, [line])
    ws.append([])
    put_row(ws, list(headers))
    header_row = ws.max_row
    for col in range(1, len(headers) + 1):
        cell = ws.cell(row=header_row, column=col)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    ws.freeze_panes = f"A{header_row + 1}"  # a string: creating the cell would push the first row down


def _print_ready(ws) -> None:  # noqa: ANN001
    """Dates and numbers typed, body text wrapped in its column, A4 print setup with the header row repeated."""
    from openpyxl.styles import Alignment

    from thidua.xlsx_layout import print_setup, set_formats

    header_row = int(ws.freeze_panes[1:]) - 1  # _sheet_header freezes the rows down to the header
    set_formats(ws, header_row + 1)
    wrap = Alignment(wrap_text=True, vertical="top")
    for row in ws.iter_rows(min_row=header_row + 1):
        for cell in row:
            cell.alignment = wrap
    print_setup(ws, header_row=header_row)


def write_proposal_list(engine: Engine, campaign_id: int, unit_id: int, out: Path, *, occasion: str | None = None,
                        round_number: int | None = None, now: datetime | None = None) -> Path:
    """The consolidated list of a level: every file that reached this unit (its own proposals and those sent
    to it), with where each one is now; a summary sheet counts them per award against the quotas."""
    from openpyxl import Workbook

    with Session(engine) as session:
        ctx = _context(session, campaign_id, now, for_change=False)
        unit = ctx.units.get(unit_id)
        reached = select(S.c.nomination_id).where(S.c.to_unit_id == unit_id)
        query = select(N).where(N.c.campaign_id == campaign_id, or_(N.c.id.in_(reached), N.c.origin_unit_id == unit_id),
                                N.c.status != _S.DRAFTED.value)
        if occasion:
            query = query.where(N.c.occasion == occasion)
        if round_number is not None:
            query = query.where(N.c.round_number == round_number)
        rows = list(session.execute(query.order_by(N.c.award_code, N.c.subject, N.c.id)).mappings())
        batches = {b["id"]: b for b in session.execute(select(B).where(B.c.id.in_({r["batch_id"] for r in rows if r["batch_id"]}))).mappings()}
        names = {i: u.name for i, u in ctx.units.load({r[k] for r in rows for k in ("nominee_unit_id", "origin_unit_id", "current_unit_id")}).items()}
        wb = Workbook()
        ws = wb.active
        ws.title = "Danh sách đề nghị"
        scope = occasion_label(occasion, round_number) if occasion else "tất cả các dịp"
        _sheet_header(ws, f"DANH SÁCH ĐỀ NGHỊ KHEN THƯỞNG – {unit.name.upper()}",
                      [ctx.campaign.title, f"Dịp: {scope}. Lập ngày {fmt_date(ctx.today)}."], _LIST_HEADERS)
        for i, r in enumerate(rows, start=1):
            batch = batches.get(r["batch_id"])
            to_trinh = f"{batch['to_trinh_number']} ngày {fmt_date(batch['to_trinh_date'])}" if batch and batch["to_trinh_number"] else ""
            decision = f"{r['decision_number']} ngày {fmt_date(r['decision_date'])}" if r["decision_number"] else ""
            put_row(ws, [i, r["id"], r["award_name"], SUBJECT_LABELS.get(r["subject"], r["subject"]), r["nominee_name"],
                       r["nominee_position"], names.get(r["nominee_unit_id"], ""), occasion_label(r["occasion"], r["round_number"]),
                       r["theme"], r["achievement"], names.get(r["origin_unit_id"], ""), status_label(r["status"]),
                       names.get(r["current_unit_id"], ""), to_trinh, decision])
        summary = wb.create_sheet("Tổng hợp")
        _sheet_header(summary, f"TỔNG HỢP ĐỀ NGHỊ KHEN THƯỞNG – {unit.name.upper()}", [ctx.campaign.title],
                      ["Hình thức khen thưởng", "Tập thể", "Cá nhân", "Còn hiệu lực", "Bị trả lại", "Không chấp nhận / đã rút",
                       "Đã quyết định"])
        per_award: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in rows:
            counts = per_award[r["award_name"]]
            counts[r["subject"]] += 1
            counts["alive"] += r["status"] in _ALIVE
            counts["returned"] += r["status"] == _S.RETURNED.value
            counts["dead"] += r["status"] in (_S.REJECTED.value, _S.WITHDRAWN.value)
            counts["granted"] += r["status"] in _GRANTED
        for name, counts in sorted(per_award.items()):
            put_row(summary, [name, counts["collective"], counts["individual"], counts["alive"], counts["returned"],
                            counts["dead"], counts["granted"]])
        for sheet, widths in ((ws, [5, 8, 26, 9, 22, 14, 22, 13, 16, 40, 22, 16, 22, 18, 18]), (summary, [50, 10, 10, 14, 12, 24, 14])):
            for col, width in enumerate(widths, start=1):
                sheet.column_dimensions[sheet.cell(row=1, column=col).column_letter].width = width
            _print_ready(sheet)
        out.parent.mkdir(parents=True, exist_ok=True)
        wb.save(out)
        return out


def write_award_register(engine: Engine, campaign_id: int, out: Path, *, now: datetime | None = None) -> Path:
    """Sổ theo dõi khen thưởng: every award decided in the campaign, by deciding level and decision.
    `now` dates the register ("Lập ngày"; default: today)."""
    from openpyxl import Workbook

    with Session(engine) as session:
        ctx = _context(session, campaign_id, now, for_change=False)
        rank = {lvl: i for i, lvl in enumerate(ctx.levels)}
        rows = sorted(session.execute(select(N).where(N.c.campaign_id == campaign_id, N.c.status.in_(_GRANTED))).mappings(),
                      key=lambda r: (rank.get(r["deciding_level"], 99), r["decision_date"] or date.min, r["decision_number"], r["id"]))
        names = {i: u.name for i, u in ctx.units.load({r[k] for r in rows for k in ("nominee_unit_id", "origin_unit_id", "deciding_unit_id")}).items()}
        wb = Workbook()
        ws = wb.active
        ws.title = "Sổ theo dõi khen thưởng"
        _sheet_header(ws, "SỔ THEO DÕI KHEN THƯỞNG", [ctx.campaign.title,
                                                       f"Danh mục: {ctx.catalogue.title}. Lập ngày {fmt_date(ctx.today)}."],
                      _REGISTER_HEADERS)
        for i, r in enumerate(rows, start=1):
            put_row(ws, [i, r["decision_number"], r["decision_date"],
                       f"{ctx.level_name(r['deciding_level'])} – {names.get(r['deciding_unit_id'], '')}", r["decision_signer"],
                       r["award_name"], SUBJECT_LABELS.get(r["subject"], r["subject"]), r["nominee_name"], r["nominee_position"],
                       names.get(r["nominee_unit_id"], ""), occasion_label(r["occasion"], r["round_number"]), r["theme"],
                       r["achievement"], names.get(r["origin_unit_id"], ""), r["awarded_on"], r["id"]])
        for col, width in enumerate([5, 14, 11, 26, 20, 26, 9, 24, 14, 24, 14, 16, 40, 24, 11, 8], start=1):
            ws.column_dimensions[ws.cell(row=1, column=col).column_letter].width = width
        _print_ready(ws)
        out.parent.mkdir(parents=True, exist_ok=True)
        wb.save(out)
        return out
