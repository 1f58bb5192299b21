"""nominations: Writing: transitions, steps, audit, mail."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from thidua.audit import audit_many
from thidua.models.awards import (
    Refusal,
    occasion_label,
)
from thidua.models.clock import fmt_date, fmt_datetime, utc_to_local
from thidua.models.nominations import (
    InvalidNominationInput,
    InvalidTransition,
    NominationAction,
    NominationConflict,
    RulesRefused,
    next_status,
    status_label,
)
from thidua.models.spec.awards import (
    SUBJECT_LABELS,
)
from thidua.notifications.outbox import enqueue_many
from thidua.settings import get_settings

from .context import _Ctx, _label, _UnitRow
from .inputs import _A, Actor, B, N, S, _Move
from .rules import _adjust_quota_counts

# ---------------------------------------------------------------------------------------------------
# Writing: transitions, steps, audit, mail
# ---------------------------------------------------------------------------------------------------


def _apply_moves(
    session: Session,
    ctx: _Ctx,
    action: NominationAction,
    actor: Actor,
    moves: Sequence[_Move],
    *,
    comment: str = "",
    expected_versions: Mapping[int, int] | None = None,
    extra_context: Mapping[str, Any] | None = None,
    extra_audit: Sequence[Mapping[str, Any]] = (),
    extra_mail: Sequence[Mapping[str, Any]] = (),
) -> None:
    """One UPDATE … WHERE id = ? AND version = ? per nomination (executemany), then the steps, the audit rows and
    the mail, each in one statement (`extra_*`: rows of the same operation, e.g. the batch's audit row)."""
    if not moves:
        return
    columns = sorted(moves[0].values)
    params = []
    for move in moves:
        expected = (expected_versions or {}).get(move.row["id"], move.row["version"])
        params.append(
            {
                "b_id": move.row["id"],
                "b_version": expected,
                "v_status": move.to_status,
                "v_version": expected + 1,
                **{f"v_{c}": move.values[c] for c in columns},
            }
        )
    statement = (
        update(N)
        .where(N.c.id == bindparam("b_id"), N.c.version == bindparam("b_version"))
        .values(
            status=bindparam("v_status"),
            version=bindparam("v_version"),
            updated_at=ctx.now,
            **{c: bindparam(f"v_{c}") for c in columns},
        )
    )
    changed = session.execute(statement, params).rowcount
    if changed != len(moves):
        raise NominationConflict("Đề nghị vừa được người khác thay đổi; hãy tải lại và thực hiện lại")
    _adjust_quota_counts(session, ctx, moves)
    session.execute(
        insert(S),
        [
            {
                "nomination_id": m.row["id"],
                "seq": p["v_version"],
                "action": action.value,
                "from_status": m.row["status"],
                "to_status": m.to_status,
                "at_unit_id": actor.unit_id,
                "to_unit_id": m.to_unit_id,
                "actor": actor.name,
                "at": ctx.now,
                "comment": comment,
                "review_due_at": m.review_due_at,
                "batch_id": m.batch_id,
            }
            for m, p in zip(moves, params)
        ],
    )
    audit_many(
        session,
        [
            *(
                {
                    "at": ctx.now,
                    "actor": actor.name,
                    "action": f"nomination.{action.value}",
                    "entity": "nomination",
                    "entity_id": m.row["id"],
                    "campaign_id": ctx.campaign.id,
                    "unit_id": actor.unit_id,
                    "note": comment,
                    "before": {
                        "status": m.row["status"],
                        "version": p["b_version"],
                        "current_unit_id": m.row["current_unit_id"],
                    },
                    "after": {
                        "status": m.to_status,
                        "version": p["v_version"],
                        "current_unit_id": m.to_unit_id,
                        **{k: v for k, v in m.values.items() if k not in ("dossier", "updated_at")},
                    },
                }
                for m, p in zip(moves, params)
            ),
            *extra_audit,
        ],
    )
    mail = _proposer_mail(ctx, action, actor, moves, [p["v_version"] for p in params], comment, extra_context or {})
    enqueue_many(session, [*mail, *extra_mail])


def _link(nomination_id: int) -> str:
    return f"{get_settings().base_url.rstrip('/')}/don-vi/khen-thuong/{nomination_id}"


def _base_context(ctx: _Ctx) -> dict[str, Any]:
    return {
        "campaign_title": ctx.campaign.title,
        "office_department": ctx.campaign.owner_department,
        "office_email": ctx.campaign.owner_email,
    }


def _proposer_mail(
    ctx: _Ctx,
    action: NominationAction,
    actor: Actor,
    moves: Sequence[_Move],
    seqs: Sequence[int],
    comment: str,
    extra: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """One e-mail per step to each address of the proposing unit (queued in the step's transaction)."""
    units = ctx.units.load(
        [actor.unit_id] + [m.row["origin_unit_id"] for m in moves] + [m.to_unit_id for m in moves if m.to_unit_id]
    )
    acting = units[actor.unit_id]
    rows = []
    for move, seq in zip(moves, seqs):
        row, origin = move.row, units[move.row["origin_unit_id"]]
        holder = units.get(move.to_unit_id) if move.to_unit_id else None
        context = {
            **_base_context(ctx),
            "audience": "proposer",
            "unit_name": origin.name,
            "nomination_id": row["id"],
            "award_name": row["award_name"],
            "nominee_name": row["nominee_name"],
            "subject_label": SUBJECT_LABELS.get(row["subject"], row["subject"]),
            "occasion_label": occasion_label(row["occasion"], row["round_number"]),
            "action": action.value,
            "status": move.to_status,
            "status_label": status_label(move.to_status),
            "acting_unit": acting.name,
            "holder_unit": holder.name if holder else "",
            "comment": comment,
            "at": fmt_datetime(ctx.now, ctx.tz),
            "review_due": fmt_date(utc_to_local(move.review_due_at, ctx.tz)) if move.review_due_at else "",
            "decision_number": move.values.get("decision_number", row["decision_number"]) or "",
            "decision_date": fmt_date(move.values.get("decision_date", row["decision_date"])),
            "decision_signer": move.values.get("decision_signer", row["decision_signer"]) or "",
            "link": _link(row["id"]),
            "count": 1,
            "to_trinh_number": "",
            "to_trinh_date": "",
            **extra,
        }
        told = [(origin, context)]
        if action is _A.RETURN and holder is not None and holder.id != origin.id:
            told.append((holder, {**context, "unit_name": holder.name, "returned_to_sender": True}))
        for unit, unit_context in told:
            for email in dict.fromkeys(unit.emails):
                if email == actor.name:  # nobody is mailed about their own action
                    continue
                rows.append(
                    {
                        "key": f"nom:{row['id']}:{seq}:{email}",
                        "kind": "nomination",
                        "recipient": email,
                        "template": "nomination_step",
                        "context": unit_context,
                        "campaign_id": ctx.campaign.id,
                        "unit_id": unit.id,
                        "scheduled_at": ctx.now,
                    }
                )
    return rows


def _reviewer_mail(
    ctx: _Ctx, key: str, reviewer: _UnitRow, count: int, review_due_at: datetime | None, sender: _UnitRow, first_id: int
) -> list[dict[str, Any]]:
    """Tell the receiving unit that files wait for it (one e-mail per arrival, not per nomination)."""
    context = {
        **_base_context(ctx),
        "audience": "reviewer",
        "unit_name": reviewer.name,
        "count": count,
        "acting_unit": sender.name,
        "review_due": fmt_date(utc_to_local(review_due_at, ctx.tz)) if review_due_at else "",
        "link": _link(first_id) if count == 1 else f"{get_settings().base_url.rstrip('/')}/xet-duyet",
        "at": fmt_datetime(ctx.now, ctx.tz),
    }
    return [
        {
            "key": f"{key}:{email}",
            "kind": "nomination",
            "recipient": email,
            "template": "nomination_step",
            "context": context,
            "campaign_id": ctx.campaign.id,
            "unit_id": reviewer.id,
            "scheduled_at": ctx.now,
        }
        for email in dict.fromkeys(reviewer.emails)
    ]


def _check_versions(rows: Sequence[Mapping[str, Any]], expected_versions: Mapping[int, int] | None) -> None:
    for row in rows:
        expected = (expected_versions or {}).get(row["id"])
        if expected is not None and expected != row["version"]:
            raise NominationConflict(
                f"{_label(row)} đã được thay đổi sau khi bạn mở (phiên bản {row['version']}, bạn xem phiên bản "
                f"{expected}); trạng thái hiện tại: '{status_label(row['status'])}'. Hãy tải lại và thực hiện lại."
            )


def _evidence_missing(
    session: Session, ctx: _Ctx, rows: Sequence[Mapping[str, Any]], labels: Sequence[str]
) -> dict[str, list[Refusal]]:
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
    found = session.execute(
        select(B.c.id).where(
            B.c.campaign_id == ctx.campaign.id,
            B.c.from_unit_id == holder.id,
            B.c.occasion == occasion,
            B.c.round_number == rnd,
            B.c.status == "open",
        )
    ).scalar()
    if found is None:
        if holder.parent_id is None:
            raise InvalidNominationInput(f"{holder.name} không có cấp trên để gửi danh sách đề nghị")
        found = session.execute(
            insert(B).returning(B.c.id),
            {
                "campaign_id": ctx.campaign.id,
                "from_unit_id": holder.id,
                "to_unit_id": holder.parent_id,
                "from_level": holder.level_code,
                "occasion": occasion,
                "round_number": rnd,
                "status": "open",
                "to_trinh_number": "",
                "sent_by": "",
                "item_count": 0,
                "decision_number": "",
                "version": 1,
                "created_at": ctx.now,
            },
        ).scalar_one()
    ctx.open_batches[key] = found
    return found
