"""nominations: Rules that need the database: eligibility facts, quota counts, granted awards; Proposal shape and window (input checks before any rule)."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from typing import Any, Mapping, Sequence

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from thidua.models.awards import (
    Candidate,
    GrantedAward,
    NomineeFacts,
    Refusal,
    eligibility_refusals,
    occasion_label,
    quota_group,
    quota_refusal,
    window_closes,
)
from thidua.models.clock import fmt_date
from thidua.models.spec.awards import (
    OCCASION_LABELS,
    SUBJECT_LABELS,
    Award,
)
from thidua.models.status import SUBMITTED_STATUSES, AssignmentStatus
from thidua.models.tables import Assignment, Campaign, ObligationDef, Round
from thidua.services.campaigns import subtree_range

from .context import _candidate, _Ctx, _UnitRow
from .inputs import _ALIVE, _CHUNK, _GRANTED, QC, N, ProposalInput, RatingLookup, U, _Move


# ---------------------------------------------------------------------------------------------------
# Rules that need the database: eligibility facts, quota counts, granted awards
# ---------------------------------------------------------------------------------------------------
def _units_with_assignment(
    session: Session,
    campaign_id: int,
    unit_ids: set[int],
    *,
    kinds: Sequence[str],
    statuses: Sequence[str],
    round_number: int | None = None,
) -> set[int]:
    out: set[int] = set()
    ids = sorted(unit_ids)
    for start in range(0, len(ids), _CHUNK):
        query = (
            select(Assignment.unit_id)  # type: ignore[call-overload]
            .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)  # type: ignore[arg-type]
            .where(
                Assignment.campaign_id == campaign_id,
                ObligationDef.kind.in_(kinds),  # type: ignore[attr-defined]
                Assignment.active.is_(True),  # type: ignore[attr-defined]
                Assignment.status.in_(statuses),  # type: ignore[attr-defined]
                Assignment.unit_id.in_(ids[start : start + _CHUNK]),  # type: ignore[attr-defined]
            )
        )
        if round_number is not None:
            query = query.where(ObligationDef.round_number == round_number)
        out.update(session.execute(query).scalars())
    return out


def _facts(
    session: Session, ctx: _Ctx, candidates: Sequence[tuple[Candidate, int]], rating: RatingLookup
) -> list[NomineeFacts]:
    """Facts for (candidate, nominee unit id) pairs, read set-based for what the applicable criteria need."""

    def needs(kind: str) -> list[int]:
        return [
            unit_id
            for cand, unit_id in candidates
            if any(c.kind == kind and c.applies(cand.subject, cand.occasion) for c in cand.award.criteria)
        ]

    cid = ctx.campaign.id
    registered = _units_with_assignment(
        session, cid, set(needs("registered")), kinds=["registration"], statuses=list(SUBMITTED_STATUSES)
    )
    accepted: dict[int, set[int]] = {}
    by_round: dict[int, set[int]] = defaultdict(set)
    for cand, unit_id in candidates:
        if cand.round_number and any(
            c.kind == "round_report_accepted" and c.applies(cand.subject, cand.occasion) for c in cand.award.criteria
        ):
            by_round[cand.round_number].add(unit_id)
    for rnd, unit_ids in by_round.items():
        accepted[rnd] = _units_with_assignment(
            session,
            cid,
            unit_ids,
            kinds=["round_report", "final_report"],
            statuses=[AssignmentStatus.ACCEPTED.value],
            round_number=rnd,
        )
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


def _eligibility(
    session: Session, ctx: _Ctx, rows: Sequence[Mapping[str, Any]], rating: RatingLookup, labels: Sequence[str]
) -> dict[str, list[Refusal]]:
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


def _groups_of(
    ctx: _Ctx, row: Mapping[str, Any], nominees: Mapping[int, _UnitRow], roots: dict[int, _UnitRow] | None = None
) -> list[Any]:
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
        group = quota_group(
            quota,
            origin_unit_id=row["origin_unit_id"],
            subtree_root_id=root.id if root else None,
            occasion=row["occasion"],
            round_number=row["round_number"],
        )
        if group is not None:
            groups.append(group)
    return groups


def _quotas(
    session: Session, ctx: _Ctx, rows: Sequence[Mapping[str, Any]], labels: Sequence[str]
) -> dict[str, list[Refusal]]:
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
        scope_name = (
            root.name
            if root
            else (ctx.units.get(group.scope_id).name if quota.per == "proposer" and group.scope_id else "")
        )
        refusal = quota_refusal(
            quota,
            existing=totals.get(group, 0) - moving_alive,
            adding=len(indexes),
            level_name=ctx.level_name(quota.level or ""),
            scope_name=scope_name,
            round_number=group.round_number,
        )
        if refusal is not None:
            for i in indexes:
                out[labels[i]].append(refusal)
    return dict(out)


def _quota_key(quota: Any) -> str:
    """Names a quota's definition (not its maximum): counts stay valid while it is unchanged."""
    definition = "|".join(
        [
            quota.code,
            ",".join(sorted(quota.awards)),
            ",".join(sorted(quota.subjects or [])),
            quota.per,
            quota.level or "",
            quota.period,
        ]
    )
    return f"{quota.code[:80]}#{hashlib.sha1(definition.encode()).hexdigest()[:16]}"


def _counter_key(ctx: _Ctx, group: Any) -> tuple[str, int, int]:
    quota = next(q for q in ctx.catalogue.quotas if q.code == group.quota_code)
    return _quota_key(quota), group.scope_id or 0, group.round_number or 0


def _live_counts(
    session: Session,
    ctx: _Ctx,
    groups: Mapping[Any, list[int]],
    quotas: Mapping[str, Any],
    roots: Mapping[int, _UnitRow],
) -> dict[Any, int]:
    """Live nominations per quota group, from the counters (`nomination_quota_count`); a group without one is
    counted from the nominations (below) and its counter written, in the caller's transaction."""
    keys = {group: _counter_key(ctx, group) for group in groups}
    stored = {
        (r.quota_key, r.scope_id, r.round_number): r.live
        for r in session.execute(
            select(QC.c.quota_key, QC.c.scope_id, QC.c.round_number, QC.c.live).where(
                QC.c.campaign_id == ctx.campaign.id, QC.c.quota_key.in_({k[0] for k in keys.values()})
            )
        ).all()
    }
    counts = {group: stored[key] for group, key in keys.items() if key in stored}
    missing = [group for group in groups if group not in counts]
    if missing:
        fresh = _count_live(session, ctx, missing, quotas, roots)
        values = [
            {
                "campaign_id": ctx.campaign.id,
                "quota_key": keys[g][0],
                "scope_id": keys[g][1],
                "round_number": keys[g][2],
                "live": fresh[g],
            }
            for g in missing
        ]
        insert_ = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
        session.execute(insert_(QC).on_conflict_do_nothing(), values)
        counts.update(fresh)
    return counts


def _count_live(
    session: Session, ctx: _Ctx, groups: Sequence[Any], quotas: Mapping[str, Any], roots: Mapping[int, _UnitRow]
) -> dict[Any, int]:
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
            found = dict(
                session.execute(
                    select(N.c.origin_unit_id, func.count())
                    .where(*conditions, N.c.origin_unit_id.in_(ids))
                    .group_by(N.c.origin_unit_id)
                ).all()
            )
            for group in members:
                counts[group] = found.get(group.scope_id, 0)
        else:  # subtree: one range scan of the root's subtree on the unit path index per root
            for group in members:
                low, high = subtree_range(roots[group.scope_id].path)
                counts[group] = session.execute(
                    select(func.count())
                    .select_from(N.join(U, U.c.id == N.c.nominee_unit_id))
                    .where(*conditions, U.c.path >= low, U.c.path < high)
                ).scalar_one()
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
            update(QC)
            .where(
                QC.c.campaign_id == ctx.campaign.id,
                QC.c.quota_key == bindparam("b_key"),
                QC.c.scope_id == bindparam("b_scope"),
                QC.c.round_number == bindparam("b_round"),
            )
            .values(live=QC.c.live + bindparam("b_delta")),
            changes,
        )


def forget_quota_counts(session: Session) -> None:
    """The unit tree changed (a move, a level, a reorganisation): subtree groups may have changed, so every
    counter is counted again when next needed."""
    session.execute(QC.delete())


def _granted(session: Session, year: int, keys: set[str]) -> list[GrantedAward]:
    out: list[GrantedAward] = []
    key_list = sorted(keys)
    for start in range(0, len(key_list), _CHUNK):
        rows = session.execute(
            select(N)
            .join(Campaign.__table__, Campaign.__table__.c.id == N.c.campaign_id)  # type: ignore[attr-defined]
            .where(
                Campaign.__table__.c.year == year,  # type: ignore[attr-defined]
                N.c.status.in_(_GRANTED),
                N.c.nominee_key.in_(key_list[start : start + _CHUNK]),
            )
        ).mappings()
        out.extend(_granted_award(row) for row in rows)
    return out


def _granted_award(row: Mapping[str, Any]) -> GrantedAward:
    return GrantedAward(
        nomination_id=row["id"],
        award_code=row["award_code"],
        award_name=row["award_name"],
        award_kind=row["award_kind"],
        scope=row["award_scope"],
        deciding_level=row["deciding_level"],
        occasion=row["occasion"],
        subject=row["subject"],
        nominee_key=row["nominee_key"],
        achievement_key=row["achievement_key"],
        decision_number=row["decision_number"],
        decision_date=row["decision_date"],
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
        return (
            [f"không có hình thức khen thưởng '{p.award_code}' trong danh mục {ctx.catalogue.code} (có: {known})"],
            None,
            None,
        )
    if origin.level_code not in award.proposed_by:
        allowed = ", ".join(ctx.level_name(lvl) for lvl in award.proposed_by)
        problems.append(
            f"{origin.name} ({ctx.level_name(origin.level_code)}) không được đề nghị {award.name}; "
            f"cấp được đề nghị: {allowed}"
        )
    if p.subject not in award.subjects:
        problems.append(f"{award.name} không khen đối tượng '{SUBJECT_LABELS.get(p.subject, p.subject)}'")
    if p.occasion not in award.occasions:
        allowed = ", ".join(OCCASION_LABELS[o] for o in award.occasions)
        problems.append(
            f"{award.name} không xét dịp '{OCCASION_LABELS.get(p.occasion, p.occasion)}' (chỉ xét: {allowed})"
        )
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
            problems.append(
                f"{nominee.name} không thuộc {origin.name}: đơn vị chỉ đề nghị khen thưởng tập thể, "
                "cá nhân thuộc đơn vị mình"
            )
        if p.subject == "collective" and award.nominee_levels and nominee.level_code not in award.nominee_levels:
            allowed = ", ".join(ctx.level_name(lvl) for lvl in award.nominee_levels)
            problems.append(
                f"{award.name} chỉ khen tập thể cấp {allowed}; {nominee.name} là {ctx.level_name(nominee.level_code)}"
            )
    if p.subject == "individual" and not p.person_name.strip():
        problems.append("khen cá nhân cần họ tên người được đề nghị")
    if p.subject == "collective" and p.person_name.strip():
        problems.append("khen tập thể không ghi họ tên cá nhân")
    decider = ctx.units.ancestor_at_level(origin, award.decided_by)
    if (
        decider is None
        and origin.parent_id is not None
        and award.decided_by in ctx.levels
        and ctx.levels.index(award.decided_by) == ctx.levels.index(origin.level_code) - 1
    ):
        # "Cấp trên trực tiếp" is a relationship: a CĐCS directly under the province has the province as its
        # direct superior, which then gives the award meant for that tier.
        decider = ctx.units.get(origin.parent_id)
    if decider is None:
        problems.append(
            f"{origin.name} không có đơn vị cấp {ctx.level_name(award.decided_by)} phía trên để quyết định {award.name}"
        )
    return problems, award, decider


def _rounds(ctx: _Ctx) -> list[Round]:
    return list(ctx.session.execute(select(Round).where(Round.campaign_id == ctx.campaign.id)).scalars())  # type: ignore[arg-type]


def _windows(session: Session, campaign_id: int) -> list[ObligationDef]:
    return list(
        session.execute(
            select(ObligationDef)
            .where(
                ObligationDef.campaign_id == campaign_id,  # type: ignore[arg-type]
                ObligationDef.kind == "nomination_window",
                ObligationDef.active.is_(True),  # type: ignore[attr-defined]
            )
            .order_by(ObligationDef.due_on)  # type: ignore[arg-type]
        ).scalars()
    )


def _window_for(windows: Sequence[ObligationDef], occasion: str, round_number: int | None) -> ObligationDef | None:
    wanted = round_number if occasion == "round" else None
    return next((w for w in windows if w.round_number == wanted), None)


def _window_problem(
    ctx: _Ctx, windows: Sequence[ObligationDef], origin: _UnitRow, occasion: str, round_number: int | None
) -> str | None:
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
        return (
            f"ngoài thời gian đề xuất: '{window.title}' đối với {ctx.level_name(origin.level_code)} là {span}; "
            f"hôm nay {fmt_date(ctx.today)}"
        )
    return None
