"""nominations: Proposer actions on its own files; Reviewer actions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.models.awards import (
    Refusal,
    achievement_key,
    dossier_refusals,
    exclusivity_refusals,
)
from thidua.models.clock import fmt_date
from thidua.models.nominations import (
    InvalidNominationInput,
    InvalidTransition,
    NominationNotFound,
    NotPermitted,
    status_label,
)

from .context import _candidate, _change, _Ctx, _dossier_to_json, _label, _load
from .inputs import _A, _S, Actor, B, Decision, N, ProposalChanges, RatingLookup, S, _Move, submissions_rating
from .rules import _eligibility, _granted, _granted_award, _quotas
from .transitions import (
    _apply_moves,
    _check_versions,
    _evidence_missing,
    _open_batch,
    _raise_refusals,
    _reviewer_mail,
    _transition_or_error,
)


# ---------------------------------------------------------------------------------------------------
# Proposer actions on its own files
# ---------------------------------------------------------------------------------------------------
def _own_rows(
    session: Session, ctx: _Ctx, ids: Sequence[int], actor: Actor, expected_versions: Mapping[int, int] | None
) -> list[dict[str, Any]]:
    rows = [dict(r) for r in _load(session, ids, ctx.campaign.id)]
    _check_versions(rows, expected_versions)
    for row in rows:
        if row["origin_unit_id"] != actor.unit_id:
            raise NotPermitted(
                f"{_label(row)}: chỉ đơn vị đề nghị ({ctx.units.get(row['origin_unit_id']).name}) mới được làm việc này"
            )
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
            values["achievement_key"] = achievement_key(
                ctx.campaign.id, row["occasion"], row["round_number"], values["theme"]
            )
    if changes.dossier is not None:
        values["dossier"] = {**(row["dossier"] or {}), **_dossier_to_json(changes.dossier)}
    return values


def edit(
    engine: Engine,
    campaign_id: int,
    nomination_id: int,
    actor: Actor,
    changes: ProposalChanges,
    *,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> int:
    """Change a draft or a returned file (status unchanged). Returns the new version."""
    with _change(engine, campaign_id, now) as (session, ctx):
        (row,) = _own_rows(session, ctx, [nomination_id], actor, _versions(nomination_id, expected_version))
        to_status = _transition_or_error(row, _A.EDIT, at_deciding_unit=False)
        values = _edited(ctx, row, changes)
        if not values:
            raise InvalidNominationInput("Không có thay đổi nào")
        _apply_moves(
            session,
            ctx,
            _A.EDIT,
            actor,
            [_Move(row, to_status, values, row["current_unit_id"])],
            expected_versions=_versions(nomination_id, expected_version),
        )
        return row["version"] + 1


def _versions(nomination_id: int, version: int | None) -> dict[int, int] | None:
    return None if version is None else {nomination_id: version}


def resubmit(
    engine: Engine,
    campaign_id: int,
    nomination_id: int,
    actor: Actor,
    *,
    changes: ProposalChanges | None = None,
    comment: str = "",
    expected_version: int | None = None,
    rating: RatingLookup | None = None,
    now: datetime | None = None,
) -> None:
    """Send a returned file back to the reviewer who returned it, with the changes asked for."""
    with _change(engine, campaign_id, now) as (session, ctx):
        expected = _versions(nomination_id, expected_version)
        rows = [dict(r) for r in _load(session, [nomination_id], campaign_id)]
        _check_versions(rows, expected)
        (row,) = rows
        if row["status"] == _S.RETURNED.value and row["current_unit_id"] != actor.unit_id:
            raise NotPermitted(
                f"{_label(row)}: hồ sơ đang được trả về {ctx.units.get(row['current_unit_id']).name}; "
                "chỉ đơn vị đang giữ hồ sơ mới gửi lại được"
            )
        if row["status"] != _S.RETURNED.value and row["origin_unit_id"] != actor.unit_id:
            raise NotPermitted(
                f"{_label(row)}: chỉ đơn vị đề nghị ({ctx.units.get(row['origin_unit_id']).name}) mới được làm việc này"
            )
        to_status = _transition_or_error(row, _A.RESUBMIT, at_deciding_unit=False)
        values = _edited(ctx, row, changes) if changes else {}
        updated = {**row, **values}
        updated["_label"] = _label(row)
        reviewer = ctx.units.get(row["returned_by_unit_id"])
        dossier = dossier_refusals(ctx.catalogue_for(updated), _candidate(ctx, updated))
        _raise_refusals(
            {updated["_label"]: dossier} if dossier else {},
            _eligibility(session, ctx, [updated], rating or submissions_rating, [updated["_label"]]),
            _quotas(session, ctx, [updated], [updated["_label"]]),
            _evidence_missing(session, ctx, [updated], [updated["_label"]]),
        )
        due = ctx.review_due_at(reviewer.level_code)
        values.update(current_unit_id=reviewer.id, current_level=reviewer.level_code, review_due_at=due)
        notice = _reviewer_mail(
            ctx, f"nomq:{row['id']}:{row['version'] + 1}", reviewer, 1, due, ctx.units.get(actor.unit_id), row["id"]
        )
        _apply_moves(
            session,
            ctx,
            _A.RESUBMIT,
            actor,
            [_Move(row, to_status, values, reviewer.id, due)],
            comment=comment,
            expected_versions=expected,
            extra_mail=notice,
        )


def withdraw(
    engine: Engine,
    campaign_id: int,
    nomination_id: int,
    actor: Actor,
    *,
    comment: str = "",
    expected_version: int | None = None,
    now: datetime | None = None,
) -> None:
    """The proposer takes its proposal back (until it is decided)."""
    with _change(engine, campaign_id, now) as (session, ctx):
        expected = _versions(nomination_id, expected_version)
        (row,) = _own_rows(session, ctx, [nomination_id], actor, expected)
        to_status = _transition_or_error(row, _A.WITHDRAW, at_deciding_unit=False)
        keep_batch = row["batch_id"] if row["status"] not in (_S.PROPOSED.value, _S.APPROVED.value) else None
        _apply_moves(
            session,
            ctx,
            _A.WITHDRAW,
            actor,
            [_Move(row, to_status, {"review_due_at": None, "batch_id": keep_batch}, row["current_unit_id"])],
            comment=comment,
            expected_versions=expected,
        )


# ---------------------------------------------------------------------------------------------------
# Reviewer actions
# ---------------------------------------------------------------------------------------------------
def _held_rows(
    session: Session, ctx: _Ctx, ids: Sequence[int], actor: Actor, expected_versions: Mapping[int, int] | None
) -> list[dict[str, Any]]:
    if not ids:
        raise InvalidNominationInput("Không có đề nghị nào được chọn")
    rows = [dict(r) for r in _load(session, ids, ctx.campaign.id)]
    _check_versions(rows, expected_versions)
    for row in rows:
        row["_label"] = _label(row)
        if row["current_unit_id"] != actor.unit_id:
            holder = ctx.units.get(row["current_unit_id"])
            raise NotPermitted(
                f"{row['_label']} đang ở {holder.name} ('{status_label(row['status'])}'); "
                f"{ctx.units.get(actor.unit_id).name} không phải đơn vị đang xét"
            )
    return rows


def approve(
    engine: Engine,
    campaign_id: int,
    nomination_ids: Sequence[int],
    actor: Actor,
    *,
    comment: str = "",
    expected_versions: Mapping[int, int] | None = None,
    rating: RatingLookup | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Approve at this level: the files join this level's outgoing list to the direct superior. Eligibility
    and quotas are checked again. Returns the outgoing list ids."""
    with _change(engine, campaign_id, now) as (session, ctx):
        rows = _held_rows(session, ctx, nomination_ids, actor, expected_versions)
        holder = ctx.units.get(actor.unit_id)
        for row in rows:
            row["_to"] = _transition_or_error(row, _A.APPROVE, at_deciding_unit=row["deciding_unit_id"] == holder.id)
        labels = [r["_label"] for r in rows]
        _raise_refusals(
            _eligibility(session, ctx, rows, rating or submissions_rating, labels),
            _quotas(session, ctx, rows, labels),
            _evidence_missing(session, ctx, rows, labels),
        )
        moves = []
        for row in rows:
            batch_id = _open_batch(session, ctx, holder, row["occasion"], row["round_number"])
            moves.append(
                _Move(row, row["_to"], {"review_due_at": None, "batch_id": batch_id}, holder.id, None, batch_id)
            )
        _apply_moves(session, ctx, _A.APPROVE, actor, moves, comment=comment, expected_versions=expected_versions)
        return list(dict.fromkeys(m.batch_id for m in moves if m.batch_id is not None))


def return_for_revision(
    engine: Engine,
    campaign_id: int,
    nomination_ids: Sequence[int],
    actor: Actor,
    *,
    comment: str,
    expected_versions: Mapping[int, int] | None = None,
    now: datetime | None = None,
) -> None:
    """Return files to their proposer with the reason; resubmission comes back to this unit."""
    if not comment.strip():
        raise InvalidNominationInput("Trả lại hồ sơ cần ghi lý do (nội dung cần bổ sung, sửa đổi)")
    with _change(engine, campaign_id, now) as (session, ctx):
        rows = _held_rows(session, ctx, nomination_ids, actor, expected_versions)
        moves = []
        for row in rows:
            if row["status"] == _S.RETURNED.value and row["origin_unit_id"] == actor.unit_id:
                raise InvalidTransition(
                    f"{_label(row)}: đơn vị đề nghị không trả lại được nữa; hãy sửa và gửi lại, hoặc rút đề nghị"
                )
            to_status = _transition_or_error(row, _A.RETURN, at_deciding_unit=row["deciding_unit_id"] == actor.unit_id)
            incoming = row["batch_id"] if row["status"] == _S.UNDER_REVIEW.value else None
            to_unit = ctx.units.get(
                _sender_of(session, row) if ctx.catalogue.return_to == "sender" else row["origin_unit_id"]
            )
            moves.append(
                _Move(
                    row,
                    to_status,
                    {
                        "current_unit_id": to_unit.id,
                        "current_level": to_unit.level_code,
                        "returned_by_unit_id": actor.unit_id,
                        "review_due_at": None,
                        "batch_id": incoming,
                    },
                    to_unit.id,
                )
            )
        _apply_moves(
            session, ctx, _A.RETURN, actor, moves, comment=comment.strip(), expected_versions=expected_versions
        )


def _sender_of(session: Session, row: Mapping[str, Any]) -> int:
    """The unit that sent the file to its current holder (by a list or a resubmission); the proposer if none."""
    holder = row["current_unit_id"]
    sender = session.execute(
        select(S.c.at_unit_id)
        .where(
            S.c.nomination_id == row["id"],
            S.c.to_unit_id == holder,
            S.c.at_unit_id != holder,
            S.c.action.in_([_A.SEND.value, _A.RESUBMIT.value]),
        )
        .order_by(S.c.seq.desc())
        .limit(1)
    ).scalar()
    return sender if sender is not None else row["origin_unit_id"]


def reject(
    engine: Engine,
    campaign_id: int,
    nomination_ids: Sequence[int],
    actor: Actor,
    *,
    comment: str,
    expected_versions: Mapping[int, int] | None = None,
    now: datetime | None = None,
) -> None:
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
        _apply_moves(
            session, ctx, _A.REJECT, actor, moves, comment=comment.strip(), expected_versions=expected_versions
        )


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


def decide(
    engine: Engine,
    campaign_id: int,
    actor: Actor,
    decision: Decision,
    *,
    nomination_ids: Sequence[int] = (),
    batch_id: int | None = None,
    expected_versions: Mapping[int, int] | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Record the deciding level's decision for the listed files, or for every file of an incoming list still
    under review here. Exclusivity rules are checked against what the nominees already hold this year."""
    if not nomination_ids and batch_id is None:
        raise InvalidNominationInput("Cần chọn đề nghị hoặc danh sách (tờ trình) để ra quyết định")
    with _change(engine, campaign_id, now) as (session, ctx):
        return decide_in(
            session,
            ctx,
            actor,
            decision,
            nomination_ids=nomination_ids,
            batch_id=batch_id,
            expected_versions=expected_versions,
        )


def decide_in(
    session: Session,
    ctx: _Ctx,
    actor: Actor,
    decision: Decision,
    *,
    nomination_ids: Sequence[int] = (),
    batch_id: int | None = None,
    expected_versions: Mapping[int, int] | None = None,
) -> list[int]:
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
            raise NotPermitted(
                f"Danh sách #{batch_id} không phải danh sách gửi đến {ctx.units.get(actor.unit_id).name}"
            )
        ids += list(
            session.execute(
                select(N.c.id)
                .where(
                    N.c.batch_id == batch_id, N.c.status == _S.UNDER_REVIEW.value, N.c.current_unit_id == actor.unit_id
                )
                .order_by(N.c.id)
            ).scalars()
        )
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
    values = {
        "decision_number": decision.number.strip(),
        "decision_date": decision.on,
        "decision_signer": decision.signer.strip(),
        "review_due_at": None,
    }
    _apply_moves(
        session,
        ctx,
        _A.DECIDE,
        actor,
        [_Move(r, r["_to"], values, actor.unit_id) for r in rows],
        expected_versions=expected_versions,
    )
    if batch_id is not None:
        session.execute(
            update(B)
            .where(B.c.id == batch_id)
            .values(decision_number=decision.number.strip(), decision_date=decision.on, version=B.c.version + 1)
        )
    return [r["id"] for r in rows]


def mark_awarded(
    engine: Engine,
    campaign_id: int,
    nomination_ids: Sequence[int],
    actor: Actor,
    *,
    awarded_on: date,
    now: datetime | None = None,
) -> None:
    """The award was handed over (trao tặng)."""
    with _change(engine, campaign_id, now) as (session, ctx):
        if awarded_on > ctx.today:
            raise InvalidNominationInput(f"Ngày trao tặng {fmt_date(awarded_on)} sau hôm nay ({fmt_date(ctx.today)})")
        rows = _held_rows(session, ctx, nomination_ids, actor, None)
        moves = []
        for row in rows:
            to_status = _transition_or_error(row, _A.AWARD, at_deciding_unit=True)
            if row["decision_date"] and awarded_on < row["decision_date"]:
                raise InvalidNominationInput(
                    f"{row['_label']}: ngày trao tặng trước ngày quyết định {fmt_date(row['decision_date'])}"
                )
            moves.append(_Move(row, to_status, {"awarded_on": awarded_on}, actor.unit_id))
        _apply_moves(session, ctx, _A.AWARD, actor, moves)
