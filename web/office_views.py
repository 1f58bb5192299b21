"""What the office dashboard shows, gathered in one place (each part is one or two grouped queries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlmodel import Session

from thidua.models.clock import local_to_utc, utc_to_local
from thidua.models.outbox import OutboxMessage, OutboxStatus
from thidua.models.nominations import NominationStatus
from thidua.models.tables import AuditLog, Campaign, Level, ObligationDef, Unit
from thidua.services import nominations as nomination_service
from thidua.services.targets import TargetReport, target_progress
from thidua.services.units import subtree_clause
from thidua.web.figure_cache import FigureCache, Figures
from thidua.services.campaigns import subtree_range
from thidua.web.errors import InvalidInput
from thidua.web.permissions import Principal
from thidua.web.queries import (
    Compliance,
    LateRow,
    compliance_by_branch,
    compliance_by_level,
    compliance_by_obligation,
    overdue_list,
)

REMINDER_KINDS = ("reminder", "escalation", "office_digest")
PROBLEM_STATUSES = (OutboxStatus.FAILED.value, OutboxStatus.UNKNOWN.value, OutboxStatus.PARTIAL.value)
DELIVERY_LABELS = {
    OutboxStatus.SENT.value: "Đã gửi",
    OutboxStatus.PENDING.value: "Chờ gửi",
    OutboxStatus.CLAIMED.value: "Đang gửi",
    OutboxStatus.FAILED.value: "Gửi lỗi",
    OutboxStatus.UNKNOWN.value: "Không rõ đã tới chưa",
    OutboxStatus.PARTIAL.value: "Tới một phần người nhận",
    OutboxStatus.SKIPPED.value: "Bỏ qua (không còn cần)",
}


@dataclass
class Dashboard:
    scope: Unit
    obligations: list[tuple[ObligationDef, Compliance]]
    selected: ObligationDef | None = None
    by_level: list[Compliance] = field(default_factory=list)
    by_branch: list[Compliance] = field(default_factory=list)
    overdue: list[LateRow] = field(default_factory=list)
    overdue_total: int = 0
    delivery: dict[str, int] = field(default_factory=dict)
    failures: list[Any] = field(default_factory=list)
    pipeline: list["PipelineRow"] = field(default_factory=list)

    @property
    def delivery_problems(self) -> int:
        return sum(self.delivery.get(s, 0) for s in PROBLEM_STATUSES)


def scope_unit(session: Session, me: Principal, campaign: Campaign) -> Unit:
    """The deeper of the office's unit and the campaign's participating root."""
    root = session.get(Unit, campaign.root_unit_id)
    mine = session.get(Unit, me.unit_id)
    assert root is not None and mine is not None
    return mine if mine.path.startswith(root.path) else root


def default_obligation(rows: list[tuple[ObligationDef, Compliance]], today: date) -> ObligationDef | None:
    """The report that matters now: the one whose deadline is nearest to today (the coming one on a tie)."""
    reports = [ob for ob, _ in rows if ob.kind != "nomination_window"]
    if not reports:
        return None
    return min(reports, key=lambda ob: (abs((ob.due_on - today).days), ob.due_on < today))


def dashboard(
    session: Session, me: Principal, campaign: Campaign, now: datetime, *, obligation_code: str | None = None
) -> Dashboard:
    scope = scope_unit(session, me, campaign)
    rows = compliance_by_obligation(session, campaign.id, scope.path, now)
    data = Dashboard(scope=scope, obligations=rows)
    today = utc_to_local(now, campaign.timezone).date()
    chosen = [ob for ob, _ in rows if ob.code == obligation_code] if obligation_code else []
    data.selected = chosen[0] if chosen else default_obligation(rows, today)
    if data.selected is not None:
        data.by_level = compliance_by_level(session, data.selected.id, scope.path, now)
        data.by_branch = compliance_by_branch(session, data.selected.id, scope, now)
        data.overdue, data.overdue_total = overdue_list(session, data.selected.id, scope.path, now)
    data.delivery = delivery_counts(session, campaign.id)
    data.failures = failed_mail(session, me, campaign.id, limit=20)
    data.pipeline = nomination_pipeline(session, campaign.id)
    return data


@dataclass(frozen=True)
class PipelineRow:
    level: str
    counts: dict[str, int]  # status -> files

    @property
    def total(self) -> int:
        return sum(self.counts.values())


PIPELINE_COLUMNS = [s.value for s in NominationStatus if s is not NominationStatus.DRAFTED]


def nomination_pipeline(session: Session, campaign_id: int) -> list[PipelineRow]:
    """The nominations service's pipeline (files by current level and status) as one row per level."""
    names = {
        code: short or name for code, short, name in session.execute(select(Level.code, Level.short_name, Level.name))
    }
    grouped: dict[str, dict[str, int]] = {}
    for item in nomination_service.pipeline(session.get_bind(), campaign_id):  # top level first
        if item["status"] != NominationStatus.DRAFTED.value:
            grouped.setdefault(item["level"], {})[item["status"]] = item["count"]
    return [PipelineRow(names.get(level, level), counts) for level, counts in grouped.items()]


def office_figures(
    cache: FigureCache, me: Principal, campaign: Campaign, obligation_code: str | None
) -> tuple[Figures[Dashboard], Figures[list[TargetReport]]]:
    """The dashboard's figures and the campaign's target progress, through the figure cache."""
    board = cache.get(
        ("tong-quan", campaign.id, me.unit_id, obligation_code),
        lambda session: dashboard(session, me, campaign, cache.clock(), obligation_code=obligation_code),
    )
    targets = cache.get(
        ("chi-tieu", campaign.id),
        lambda session: target_progress(session, campaign_code=campaign.code, now=cache.clock()),
    )
    return board, targets


def delivery_counts(session: Session, campaign_id: int) -> dict[str, int]:
    rows = session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.campaign_id == campaign_id, OutboxMessage.kind.in_(REMINDER_KINDS))
        .group_by(OutboxMessage.status)
    ).all()
    return {status: count for status, count in rows}


@dataclass(frozen=True)
class FailedMail:
    id: int
    kind: str
    status: str
    recipient: str
    unit_code: str | None
    unit_name: str | None
    assignment_id: int | None
    attempts: int
    last_error: str | None
    scheduled_at: datetime

    @property
    def status_label(self) -> str:
        return DELIVERY_LABELS.get(self.status, self.status)


def failed_mail(session: Session, me: Principal, campaign_id: int | None, *, limit: int) -> list[FailedMail]:
    """Reminders that did not (surely) arrive, newest first: someone should phone these units."""
    query = (
        select(
            OutboxMessage.id,
            OutboxMessage.kind,
            OutboxMessage.status,
            OutboxMessage.recipient,
            Unit.code,
            Unit.name,
            OutboxMessage.assignment_id,
            OutboxMessage.attempts,
            OutboxMessage.last_error,
            OutboxMessage.scheduled_at,
        )
        .outerjoin(Unit, Unit.id == OutboxMessage.unit_id)
        .where(
            OutboxMessage.status.in_(PROBLEM_STATUSES),
            OutboxMessage.kind.in_(REMINDER_KINDS),  # type: ignore[attr-defined]
            or_(Unit.id.is_(None), subtree_clause(me.unit_path)),
        )
        .order_by(OutboxMessage.scheduled_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    )
    if campaign_id is not None:
        query = query.where(OutboxMessage.campaign_id == campaign_id)
    return [FailedMail(*row) for row in session.execute(query).all()]


# ---------------------------------------------------------------------------------------------------
# Audit log
# ---------------------------------------------------------------------------------------------------
def audit_conditions(
    session: Session,
    me: Principal,
    unit_code: str | None,
    since: date | None,
    until: date | None,
    action_prefix: str | None,
    *,
    tz: str,
) -> list[Any]:
    """Filters on the audit log, within the office's subtree (entries about no unit are campaign-wide).
    InvalidInput names the unit field when the code is unknown or outside the subtree."""
    low, high = subtree_range(me.unit_path)
    conditions: list[Any] = [
        or_(AuditLog.unit_id.is_(None), AuditLog.unit_id.in_(select(Unit.id).where(Unit.path >= low, Unit.path < high)))
    ]
    if unit_code and unit_code.strip():
        unit = session.execute(select(Unit).where(Unit.code == unit_code.strip())).scalars().first()
        if unit is None or not unit.path.startswith(me.unit_path):
            raise InvalidInput(
                "Không tìm được đơn vị.", {"don_vi": f"Không có đơn vị mã '{unit_code.strip()}' trong phạm vi của bạn."}
            )
        conditions.append(AuditLog.unit_id == unit.id)
    if since:
        conditions.append(AuditLog.at >= local_to_utc(datetime.combine(since, time.min), tz))
    if until:
        conditions.append(AuditLog.at < local_to_utc(datetime.combine(until + timedelta(days=1), time.min), tz))
    if action_prefix and action_prefix.strip():
        conditions.append(AuditLog.action.like(action_prefix.strip().replace("%", "") + "%"))
    return conditions


def audit_page(session: Session, conditions: list[Any], *, page: int, size: int) -> tuple[int, list[Any]]:
    total = session.execute(select(func.count()).select_from(AuditLog).where(*conditions)).scalar_one()
    rows = session.execute(
        select(AuditLog, Unit.code, Unit.name)
        .outerjoin(Unit, Unit.id == AuditLog.unit_id)
        .where(*conditions)
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(size)
        .offset((page - 1) * size)
    ).all()
    return total, list(rows)


# ---------------------------------------------------------------------------------------------------
# Target charts: the scope against its target, then the units of the breakdown compared with each other
# ---------------------------------------------------------------------------------------------------
ADDITIVE_ROLLUPS = ("sum", "count")  # the breakdown's figures add up to the scope's


@dataclass(frozen=True)
class ChartBar:
    name: str  # the whole unit name (wrapped by the page between words, never cut)
    value: str  # as people read it
    width: float  # 0–100: the bar's length in the chart's scale
    tone: str  # 'dat' | 'dung-tien-do' | 'cham'


@dataclass(frozen=True)
class TargetChart:
    scope: list[ChartBar]
    parts: list[ChartBar]  # sorted, the largest first
    parts_note: str
    marker: float | None  # where the target sits in the parts' scale (rates), else None


def _tone(progress: Any) -> str:
    if progress.achieved:
        return "dat"
    return "dung-tien-do" if progress.on_track in (True, None) else "cham"


def _amount(value: float | None, target: Any) -> str:
    from thidua.models.vnformat import fmt_number, fmt_percent

    if target.unit_of_measure.strip() == "%":
        return fmt_percent(value, missing="—")
    text = fmt_number(value, 0 if target.rollup in ADDITIVE_ROLLUPS else 1, missing="—")
    return f"{text} {target.unit_of_measure}".strip()


def target_chart(target: TargetReport) -> TargetChart:
    """The scope's bar against the target (capped at 100 %), then the breakdown sorted by its figure: for a sum
    or a count each unit's contribution scaled to the largest (a district is not judged against the whole
    province's target), for a rate each unit's rate on a scale that shows the target as a marker."""
    from thidua.models.vnformat import fmt_fraction, fmt_number, fmt_percent, fmt_share

    additive = target.rollup in ADDITIVE_ROLLUPS
    scope = []
    for row in target.scope:
        p = row.progress
        if additive:
            shown = f"{fmt_fraction(p.figure.value, target.target)} {target.unit_of_measure} ({fmt_percent(p.percent_of_target, missing='—')})"
        else:
            shown = f"{_amount(p.figure.value, target)} (chỉ tiêu {_amount(target.target, target)})"
        scope.append(ChartBar(row.unit_name, shown, min(p.percent_of_target or 0.0, 100.0), _tone(p)))
    whole = target.scope[0].progress.figure.value if target.scope else None
    parts_sorted = sorted(target.breakdown, key=lambda r: (-(r.progress.figure.value or 0.0), r.unit_name))
    values = [r.progress.figure.value or 0.0 for r in parts_sorted]
    scale = max(values + ([] if additive else [target.target]), default=0.0) or 1.0
    parts = []
    for row, value in zip(parts_sorted, values):
        text = _amount(row.progress.figure.value, target)
        if additive and whole:
            text += f" ({fmt_share(value, whole)} tổng số)"
        parts.append(ChartBar(row.unit_name, text, 100.0 * value / scale, _tone(row.progress)))
    if additive:
        note = "Đóng góp của từng đơn vị, xếp từ nhiều đến ít; thanh dài nhất là đơn vị đóng góp nhiều nhất."
        marker = None
    else:
        note = (
            f"Xếp từ cao đến thấp; vạch đỏ là chỉ tiêu {_amount(target.target, target)}."
            if target.unit_of_measure.strip() == "%"
            else f"Xếp từ cao đến thấp; vạch đỏ là chỉ tiêu {fmt_number(target.target)}."
        )
        marker = 100.0 * target.target / scale
    return TargetChart(scope, parts, note, marker)
