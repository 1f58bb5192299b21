"""Target progress at any date, for the scope (the province) and each breakdown unit (each district).

As of a date D a report counts when it was sent by the end of D and, for obligations that consolidate
accepted reports only, accepted by then; per assignment only its latest such version counts. SQL selects
those reports with their unit's path; each is matched to its scope and breakdown unit by path prefix (a
dictionary look-up per path segment), and models.targets rolls them up and forecasts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, literal, or_, select
from sqlalchemy.orm import Session

from thidua.models.clock import end_of_day_utc, utc_to_local, utcnow
from thidua.models.periods import label_of_key
from thidua.models.spec.campaign import TargetSpec
from thidua.models.submissions import UnknownReference
from thidua.models.tables import Assignment, Campaign, ObligationDef, Round, Target, Unit
from thidua.models.targets import Progress, Report, progress, rollup_figure
from thidua.services.campaigns import subtree_range
from thidua.services.consolidation import SEGMENT, counted_submissions
from thidua.services.selectors import selector_clause
from thidua.services.submissions import get_campaign, obligation_spec
from thidua.services.units import load_attribute_schema

A = Assignment.__table__  # type: ignore[attr-defined]
U = Unit.__table__  # type: ignore[attr-defined]


@dataclass
class TargetRow:
    unit_code: str
    unit_name: str
    progress: Progress


@dataclass
class TargetReport:
    code: str
    title: str
    rollup: str
    target: float
    unit_of_measure: str
    deadline: date
    at: date
    scope: list[TargetRow]  # usually one row: the province
    breakdown: list[TargetRow] = field(default_factory=list)
    breakdown_level: str | None = None
    groups: list[TargetRow] = field(default_factory=list)  # per attribute value or per cụm/khối thi đua
    groups_by: str | None = None  # 'thuộc tính <code>' | 'cụm/khối thi đua (<level>)'
    figures_to: date | None = None  # set when every source is a báo cáo nhanh: the day its figures are counted to


def target_progress(
    session: Session,
    *,
    campaign_code: str,
    at: date | None = None,
    target_code: str | None = None,
    now: datetime | None = None,
) -> list[TargetReport]:
    """Progress of the campaign's targets (or one of them) as of the end of local date `at` (default today)."""
    campaign = get_campaign(session, campaign_code)
    at = at or utc_to_local(now or utcnow(), campaign.timezone).date()
    query = select(Target).where(Target.campaign_id == campaign.id).order_by(Target.id)  # type: ignore[arg-type]
    if target_code is not None:
        query = query.where(Target.code == target_code)  # type: ignore[arg-type]
    targets = session.execute(query).scalars().all()
    if target_code is not None and not targets:
        raise UnknownReference(f"chiến dịch '{campaign.code}' không có chỉ tiêu '{target_code}'")
    return [_one_target(session, campaign, TargetSpec.model_validate(t.definition), at, t.quotas) for t in targets]


def _units_of_level(session: Session, level: str, low: str, high: str) -> list[tuple[int, str, str, str]]:
    return [
        tuple(r)
        for r in session.execute(  # type: ignore[misc]
            select(U.c.id, U.c.code, U.c.name, U.c.path)
            .where(U.c.level_code == level, U.c.path >= low, U.c.path < high)
            .order_by(U.c.path)
        )
    ]


def _ancestors_in(path: str, by_path: dict[str, int]) -> list[int]:
    """Ids of the units in `by_path` whose path is a prefix of `path` (itself included)."""
    return [by_path[path[:end]] for end in range(SEGMENT, len(path) + 1, SEGMENT) if path[:end] in by_path]


def _one_target(
    session: Session, campaign: Campaign, spec: TargetSpec, at: date, quotas: dict[str, float] | None = None
) -> TargetReport:
    root = session.execute(select(U.c.id, U.c.code, U.c.name, U.c.path).where(U.c.id == campaign.root_unit_id)).one()
    low, high = subtree_range(root.path)
    scopes = _units_of_level(session, spec.scope_level, low, high) if spec.scope_level else [tuple(root)]
    breakdown = _units_of_level(session, spec.breakdown_level, low, high) if spec.breakdown_level else []
    moment = end_of_day_utc(at, campaign.timezone)
    obligations = (
        session.execute(
            select(ObligationDef).where(
                ObligationDef.campaign_id == campaign.id,  # type: ignore[arg-type]
                or_(
                    ObligationDef.code.in_(spec.source.obligations),  # type: ignore[attr-defined]
                    ObligationDef.series.in_(spec.source.obligations),  # type: ignore[union-attr]
                ),
            )
        )
        .scalars()
        .all()
    )

    schema = load_attribute_schema()
    numerator = selector_clause(session, spec.source.where, schema)
    reports: list[tuple[str, Report]] = []  # (unit path, report)
    owing: dict[int, str] = {}  # unit id -> path
    periods_due: dict[int, set[int]] = {}  # every_period: unit id -> the period obligations due by `at`
    owing_by_obligation: dict[int, dict[int, str]] = {}
    for obligation in obligations:
        levels = spec.source.levels or obligation.levels
        field_levels = next((f.levels for f in obligation_spec(obligation).fields if f.code == spec.source.field), None)
        if field_levels is not None:  # a field reported by some levels only: other levels' values never count
            levels = [level for level in levels if level in field_levels]
        in_scope = and_(U.c.path >= low, U.c.path < high, U.c.level_code.in_(levels), numerator)
        counted = counted_submissions(obligation.id, obligation_spec(obligation).consolidate_accepted_only, at=moment)  # type: ignore[arg-type]
        value_column = (
            counted.c.appraised_rating if spec.source.assessment == "appraisal" else counted.c.data[spec.source.field]
        )
        if spec.source.denominator_field:
            base_column = counted.c.data[spec.source.denominator_field]
        elif spec.source.denominator_attribute:
            base_column = U.c.attributes[spec.source.denominator_attribute]
        else:
            base_column = literal(None)
        for unit_id, path, value, base in session.execute(
            select(U.c.id, U.c.path, value_column, base_column)
            .select_from(counted.join(U, U.c.id == counted.c.unit_id))
            .where(in_scope)
        ):
            reports.append((path, Report(unit_id, value, obligation.id, base)))
        owed = session.execute(
            select(U.c.id, U.c.path)
            .select_from(A.join(U, U.c.id == A.c.unit_id))
            .where(A.c.obligation_id == obligation.id, A.c.active.is_(True), in_scope)
        ).all()
        owing.update(owed)
        owing_by_obligation[obligation.id] = dict(owed)  # type: ignore[index]
        if spec.source.every_period and obligation.due_on <= at:  # a period counts once it is due
            for unit_id, _ in owed:
                periods_due.setdefault(unit_id, set()).add(obligation.id)  # type: ignore[arg-type]

    if spec.denominator is not None:  # an explicit set, owed or not
        owing = dict(
            session.execute(
                select(U.c.id, U.c.path).where(
                    U.c.path >= low,
                    U.c.path < high,
                    U.c.active.is_(True),
                    U.c.level_code.in_(spec.denominator.levels),
                    selector_clause(session, spec.denominator.where, schema),
                )
            ).all()
        )

    # When data is in hand: the reports due by `at` cover the campaign's start to the end of their periods.
    covers = _coverage(session, campaign, obligations)
    due = [o for o in obligations if o.due_on <= at]
    data_through = max((covers[o.id] for o in due), default=None)  # type: ignore[index]
    first_due = min((o.due_on for o in obligations), default=None)
    last_through = max(covers.values(), default=None)
    whole: dict[str, float | None] = {}  # the scope's figure, for contributions' share of it

    def figure_row(
        code: str,
        name: str,
        unit_reports: list[Report],
        unit_owing: list[int],
        value: float | None = None,
        judged: bool = True,
        within: str | None = None,
        period: ObligationDef | None = None,
    ) -> TargetRow:
        """period: a row judged on one period alone (each_period) has that period's data and due date."""
        through, first, last = data_through, first_due, last_through
        if period is not None:
            covered = covers[period.id]  # type: ignore[index]
            through, first, last = (covered if period.due_on <= at else None), period.due_on, covered
        return TargetRow(
            code,
            name,
            progress(
                spec.rollup,
                rollup_figure(
                    spec.rollup,
                    spec.source.condition,
                    unit_reports,
                    unit_owing,
                    periods_due if spec.source.every_period else None,
                ),
                spec.value if value is None else value,
                start=campaign.starts_on,
                at=at,
                deadline=spec.deadline,
                op=spec.op,
                judged=judged,
                data_through=through,
                first_due=first,
                last_through=last,
                whole=whole.get(within or ""),
            ),
        )

    single_scope = scopes[0][1] if len(scopes) == 1 else None

    def group_row(code: str, name: str, unit_reports: list[Report], unit_owing: list[int]) -> TargetRow:
        """A group (attribute value, cụm/khối) is a part of the scope: a total is its contribution."""
        return figure_row(code, name, unit_reports, unit_owing, None, spec.rollup not in TOTALS, single_scope)

    def groups() -> tuple[list[TargetRow], str | None]:
        """Per value of a unit attribute, or per cụm/khối thi đua of the units of a level."""
        if spec.breakdown_attribute:
            key = spec.breakdown_attribute
            ids = {r.unit_id for _, r in reports} | set(owing)
            values: dict[int, list[str]] = {}
            for unit_id, attributes in session.execute(
                select(U.c.id, U.c.attributes).where(U.c.path >= low, U.c.path < high, U.c.attributes[key].is_not(None))
            ):
                if unit_id in ids and (attributes or {}).get(key) is not None:
                    value = attributes[key]
                    values[unit_id] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            return _by_group(values.get, reports, owing, group_row), f"thuộc tính {key}"
        if spec.breakdown_cluster_level:
            from thidua.services.clusters import cluster_names_by_unit

            level_units = session.execute(
                select(U.c.id, U.c.path, U.c.cluster).where(
                    U.c.level_code == spec.breakdown_cluster_level, U.c.path >= low, U.c.path < high
                )
            ).all()
            members = cluster_names_by_unit(session, campaign.year)
            # the campaign year's cụm/khối membership; the unit file's label for units with none
            clusters = {
                path: members.get(unit_id, label)
                for unit_id, path, label in level_units
                if members.get(unit_id, label) is not None
            }
            path_of = {r.unit_id: path for path, r in reports} | owing

            def cluster_of(unit_id: int) -> list[str] | None:
                path = path_of[unit_id]
                found = [
                    clusters[path[:end]] for end in range(SEGMENT, len(path) + 1, SEGMENT) if path[:end] in clusters
                ]
                return found[-1:] or None

            return _by_group(
                cluster_of, reports, owing, group_row
            ), f"cụm/khối thi đua ({spec.breakdown_cluster_level})"
        return [], None

    def grouped(units: list[tuple[int, str, str, str]], *, part: bool = False) -> list[TargetRow]:
        """One figure per unit over its subtree: each path is matched to the unit whose path is its prefix.
        part: the units are parts of the scope (districts of the province): a total with no share assigned to a
        unit is its contribution, not a verdict against the whole's value."""
        by_path = {u[3]: u[0] for u in units}
        bucket_reports: dict[int, list[Report]] = {u[0]: [] for u in units}
        bucket_owing: dict[int, list[int]] = {u[0]: [] for u in units}
        for path, report in reports:
            for unit_id in _ancestors_in(path, by_path):
                bucket_reports[unit_id].append(report)
        for owing_id, path in owing.items():
            for unit_id in _ancestors_in(path, by_path):
                bucket_owing[unit_id].append(owing_id)
        # a breakdown unit with an assigned quota (chỉ tiêu giao) is judged against its own value; without one,
        # a total (sum, count) is the unit's contribution; a rate (share, ratio, average) applies to each part
        rows = []
        for u in units:
            quota = (quotas or {}).get(u[1])
            judged = not part or quota is not None or spec.rollup not in TOTALS
            within = next((s_[1] for s_ in scopes if u[3].startswith(s_[3])), None) if part else None
            rows.append(figure_row(u[1], u[2], bucket_reports[u[0]], bucket_owing[u[0]], quota, judged, within))
        return rows

    if spec.source.each_period:  # judged in each period: a row per period; scope and breakdown show the latest due
        periods = sorted((o for o in obligations if o.period_key), key=lambda o: o.due_on)

        def period_owing(o: ObligationDef) -> dict[int, str]:  # an explicit denominator is the same every period
            return owing if spec.denominator is not None else owing_by_obligation.get(o.id, {})  # type: ignore[arg-type]

        group_rows = [
            figure_row(
                o.period_key,  # type: ignore[arg-type]
                label_of_key(o.period_key),  # type: ignore[arg-type]
                [r for _, r in reports if r.obligation_id == o.id],
                list(period_owing(o)),
                period=o,
            )
            for o in periods
        ]
        groups_by: str | None = "kỳ"
        current = ([o for o in periods if o.due_on <= at] or periods[:1])[-1:]
        if current:
            reports = [(path, r) for path, r in reports if r.obligation_id == current[0].id]
            owing = period_owing(current[0])
        scope_rows = grouped(scopes)
        whole.update({row.unit_code: row.progress.figure.value for row in scope_rows})
    else:
        scope_rows = grouped(scopes)
        whole.update({row.unit_code: row.progress.figure.value for row in scope_rows})
        group_rows, groups_by = groups()
    return TargetReport(
        code=spec.code,
        title=spec.title,
        rollup=spec.rollup,
        target=spec.value,
        unit_of_measure=spec.unit,
        deadline=spec.deadline,
        at=at,
        scope=scope_rows,
        breakdown=grouped(breakdown, part=True),
        breakdown_level=spec.breakdown_level,
        groups=group_rows,
        groups_by=groups_by,
        figures_to=_figures_to(obligations, at),
    )


def _figures_to(obligations, at: date) -> date | None:  # noqa: ANN001
    """The day a target's figures are counted to when all its sources are quick reports (their `as_of`), which
    may be before the day looked at; None for other sources."""
    days: list[str | None] = [(o.definition or {}).get("as_of") for o in obligations]
    counted_to = [date.fromisoformat(day) for day in days if day]
    if not days or len(counted_to) < len(days):
        return None
    return min(at, max(counted_to))


TOTALS = ("sum", "count")  # figures that add up over units (a part of them is a contribution)


def _coverage(session: Session, campaign: Campaign, obligations) -> dict[int, date]:  # noqa: ANN001
    """The last day each source obligation's report covers: the day a báo cáo nhanh counts to ('as_of'), its
    period's end (recurring), its round's end (round reports), else its due date; never after its due date (a
    report cannot cover days after it is sent)."""
    R = Round.__table__  # type: ignore[attr-defined]
    round_ends: dict[int, date] = {
        number: ends
        for number, ends in session.execute(select(R.c.number, R.c.ends_on).where(R.c.campaign_id == campaign.id))
    }
    covers: dict[int, date] = {}
    for o in obligations:
        as_of = (o.definition or {}).get("as_of")  # a báo cáo nhanh: its running figure is counted to this day
        end = (
            (date.fromisoformat(as_of) if as_of else None)
            or o.period_ends
            or round_ends.get(o.round_number)
            or o.due_on
        )
        covers[o.id] = min(end, o.due_on)
    return covers


def _by_group(groups_of, reports: list[tuple[str, Report]], owing: dict[int, str], figure_row) -> list[TargetRow]:  # noqa: ANN001
    """One figure per group; a unit with several groups (tags) counts in each, a unit with none in none."""
    bucket_reports: dict[str, list[Report]] = {}
    bucket_owing: dict[str, list[int]] = {}
    for _, report in reports:
        for group in groups_of(report.unit_id) or ():
            bucket_reports.setdefault(group, []).append(report)
    for unit_id in owing:
        for group in groups_of(unit_id) or ():
            bucket_owing.setdefault(group, []).append(unit_id)
    names = sorted(set(bucket_reports) | set(bucket_owing))
    return [figure_row(name, name, bucket_reports.get(name, []), bucket_owing.get(name, [])) for name in names]
