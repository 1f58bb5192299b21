"""nominations: Proposing; Batches: a level's list goes to its direct superior under one tờ trình; The proposal window as an obligation: fulfilled by sending the list, or by declaring there is none."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine, RowMapping
from sqlmodel import Session

from thidua.audit import audit_many
from thidua.models.awards import (
    achievement_key,
    dossier_refusals,
    nominee_key,
    occasion_label,
)
from thidua.models.clock import fmt_date, fmt_datetime
from thidua.models.nominations import (
    InvalidNominationInput,
    InvalidTransition,
    NominationConflict,
    NominationNotFound,
    NotPermitted,
    next_status,
)
from thidua.models.status import SUBMITTED_STATUSES
from thidua.models.tables import Assignment, Unit

from .context import _candidate, _change, _Ctx, _dossier_to_json, _label, _load, _UnitRow
from .inputs import (
    _A,
    _ALIVE,
    _S,
    Actor,
    B,
    BatchResult,
    DocumentRef,
    N,
    ProposalInput,
    ProposeResult,
    RatingLookup,
    S,
    _Move,
    submissions_rating,
)
from .rules import _eligibility, _quotas, _shape_problems, _window_for, _window_problem, _windows
from .transitions import (
    _apply_moves,
    _check_versions,
    _evidence_missing,
    _open_batch,
    _raise_problems,
    _raise_refusals,
    _reviewer_mail,
    _transition_or_error,
)


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
        who = (
            p.person_name.strip()
            if p.subject == "individual"
            else (nominee.name if nominee else f"#{p.nominee_unit_id}")
        )
        label = f"Đề nghị {index} ({award.name if award else p.award_code} – {who})"
        if p.person_id is not None and not found:
            from thidua.services.commendation.persons import person_problems

            found = (
                ["chỉ khen cá nhân mới chọn người trong sổ đoàn viên"]
                if p.subject != "individual"
                else person_problems(ctx.session, p.person_id, p.nominee_unit_id, p.person_name)
            )
        if found:
            problems[label] = found
            continue
        assert award is not None and decider is not None and nominee is not None
        rows.append(
            {
                "campaign_id": ctx.campaign.id,
                "catalogue_code": ctx.catalogue.code,
                "award_code": award.code,
                "award_name": award.name,
                "award_kind": award.kind,
                "award_scope": award.scope,
                "subject": p.subject,
                "nominee_unit_id": nominee.id,
                "nominee_name": who,
                "nominee_position": p.person_position.strip(),
                "nominee_key": f"ps:{p.person_id}"
                if p.person_id
                else nominee_key(p.subject, nominee.id, p.person_name),
                "person_id": p.person_id,
                "occasion": p.occasion,
                "round_number": p.round_number,
                "theme": p.theme.strip(),
                "achievement": p.achievement.strip(),
                "achievement_key": achievement_key(
                    ctx.campaign.id, p.occasion, p.round_number, p.theme if award.scope == "thematic" else ""
                ),
                "discipline": p.discipline.strip(),
                "dossier": _dossier_to_json(p.dossier),
                "origin_unit_id": origin.id,
                "origin_level": origin.level_code,
                "deciding_level": decider.level_code,
                "deciding_unit_id": decider.id,
                "status": _S.DRAFTED.value,
                "current_unit_id": origin.id,
                "current_level": origin.level_code,
                "returned_by_unit_id": None,
                "batch_id": None,
                "review_due_at": None,
                "decision_number": "",
                "decision_date": None,
                "decision_signer": "",
                "awarded_on": None,
                "created_by": actor.name,
                "created_at": ctx.now,
                "updated_at": ctx.now,
                "version": 1,
                "_label": label,
            }
        )
    _raise_problems(problems)
    return rows


def _insert_drafts(session: Session, ctx: _Ctx, rows: list[dict[str, Any]], actor: Actor) -> list[int]:
    payload = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    ids = list(session.execute(insert(N).returning(N.c.id, sort_by_parameter_order=True), payload).scalars())
    session.execute(
        insert(S),
        [
            {
                "nomination_id": i,
                "seq": 1,
                "action": _A.DRAFT.value,
                "from_status": None,
                "to_status": _S.DRAFTED.value,
                "at_unit_id": actor.unit_id,
                "to_unit_id": actor.unit_id,
                "actor": actor.name,
                "at": ctx.now,
                "comment": "",
                "review_due_at": None,
                "batch_id": None,
            }
            for i in ids
        ],
    )
    audit_many(
        session,
        (
            {
                "at": ctx.now,
                "actor": actor.name,
                "action": "nomination.draft",
                "entity": "nomination",
                "entity_id": i,
                "campaign_id": ctx.campaign.id,
                "unit_id": actor.unit_id,
                "after": {"status": _S.DRAFTED.value, "award_code": row["award_code"], "nominee": row["nominee_name"]},
            }
            for i, row in zip(ids, rows)
        ),
    )
    for i, row in zip(ids, rows):
        row["id"] = i
    return ids


def _acting_unit(ctx: _Ctx, actor: Actor) -> _UnitRow:
    unit = ctx.units.get(actor.unit_id)
    if not unit.active:
        raise NotPermitted(f"{unit.name} đã ngừng hoạt động")
    return unit


def draft(
    engine: Engine, campaign_id: int, actor: Actor, proposals: Sequence[ProposalInput], *, now: datetime | None = None
) -> list[int]:
    """Save proposals as drafts of the acting unit (input checked; rules are checked when proposing)."""
    if not proposals:
        raise InvalidNominationInput("Không có đề nghị nào")
    with _change(engine, campaign_id, now) as (session, ctx):
        origin = _acting_unit(ctx, actor)
        return _insert_drafts(session, ctx, _new_rows(ctx, origin, proposals, actor), actor)


def propose(
    engine: Engine,
    campaign_id: int,
    actor: Actor,
    proposals: Sequence[ProposalInput] = (),
    *,
    draft_ids: Sequence[int] = (),
    send: DocumentRef | None = None,
    rating: RatingLookup | None = None,
    expected_versions: Mapping[int, int] | None = None,
    now: datetime | None = None,
) -> ProposeResult:
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
        _raise_refusals(
            dossier,
            _eligibility(session, ctx, rows, rating or submissions_rating, labels),
            _quotas(session, ctx, rows, labels),
        )
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
                moves.append(
                    _Move(row, to_status, {"review_due_at": None, "batch_id": batch_id}, origin.id, None, batch_id)
                )
        own_review = [
            mail
            for m in moves
            if m.to_status == _S.UNDER_REVIEW.value
            for mail in _reviewer_mail(
                ctx, f"nomq:{m.row['id']}:{m.row['version'] + 1}", origin, 1, m.review_due_at, origin, m.row["id"]
            )
        ]
        _apply_moves(session, ctx, _A.PROPOSE, actor, moves, extra_mail=own_review)
        ids = [r["id"] for r in rows]
        unique_batches = list(dict.fromkeys(batch_ids))
        if send is not None:
            for batch_id in unique_batches:
                _send(session, ctx, actor, batch_id, send, rating or submissions_rating, checked=frozenset(ids))
        return ProposeResult(ids, unique_batches, send is not None and bool(unique_batches))


# ---------------------------------------------------------------------------------------------------
# Batches: a level's list goes to its direct superior under one tờ trình
# ---------------------------------------------------------------------------------------------------
def _batch_for(
    session: Session, ctx: _Ctx, actor: Actor, batch_id: int | None, occasion: str | None, round_number: int | None
) -> RowMapping:
    if batch_id is not None:
        batch = (
            session.execute(select(B).where(B.c.id == batch_id, B.c.campaign_id == ctx.campaign.id)).mappings().first()
        )
        if batch is None:
            raise NominationNotFound(f"Không có danh sách đề nghị #{batch_id}")
    else:
        batch = (
            session.execute(
                select(B).where(
                    B.c.campaign_id == ctx.campaign.id,
                    B.c.from_unit_id == actor.unit_id,
                    B.c.status == "open",
                    B.c.occasion == (occasion or "year_end"),
                    B.c.round_number == (round_number or 0),
                )
            )
            .mappings()
            .first()
        )
        if batch is None:
            raise NominationNotFound(
                f"{ctx.units.get(actor.unit_id).name} không có danh sách đề nghị đang mở cho "
                f"{occasion_label(occasion or 'year_end', round_number).lower()}"
            )
    if batch["from_unit_id"] != actor.unit_id:
        raise NotPermitted(f"Danh sách #{batch['id']} là của {ctx.units.get(batch['from_unit_id']).name}")
    if batch["status"] != "open":
        raise InvalidTransition(
            f"Danh sách #{batch['id']} đã gửi ngày {fmt_datetime(batch['sent_at'], ctx.tz)} "
            f"(tờ trình {batch['to_trinh_number']})"
        )
    return batch


def prepare_batch(
    engine: Engine,
    campaign_id: int,
    actor: Actor,
    to_trinh: DocumentRef,
    *,
    batch_id: int | None = None,
    occasion: str | None = None,
    round_number: int | None = None,
    now: datetime | None = None,
) -> int:
    """Record the tờ trình of an open list so that it leaves automatically when the level's window closes."""
    with _change(engine, campaign_id, now) as (session, ctx):
        _document_problems(to_trinh, ctx.today)
        batch = _batch_for(session, ctx, actor, batch_id, occasion, round_number)
        changed = session.execute(
            update(B)
            .where(B.c.id == batch["id"], B.c.version == batch["version"])
            .values(to_trinh_number=to_trinh.number.strip(), to_trinh_date=to_trinh.on, version=batch["version"] + 1)
        ).rowcount
        if changed != 1:
            raise NominationConflict(f"Danh sách #{batch['id']} vừa được thay đổi; hãy tải lại")
        audit_many(
            session,
            [
                {
                    "at": ctx.now,
                    "actor": actor.name,
                    "action": "nomination_batch.prepared",
                    "entity": "nomination_batch",
                    "entity_id": batch["id"],
                    "campaign_id": campaign_id,
                    "unit_id": actor.unit_id,
                    "after": {"to_trinh_number": to_trinh.number, "to_trinh_date": to_trinh.on},
                }
            ],
        )
        return batch["id"]


def _document_problems(doc: DocumentRef | None, today: date) -> None:
    if doc is None or not doc.number.strip():
        raise InvalidNominationInput("Gửi danh sách đề nghị cần số tờ trình")
    if doc.on is None:
        raise InvalidNominationInput("Gửi danh sách đề nghị cần ngày tờ trình")
    if doc.on > today:
        raise InvalidNominationInput(f"Ngày tờ trình {fmt_date(doc.on)} sau hôm nay ({fmt_date(today)})")


def send_batch(
    engine: Engine,
    campaign_id: int,
    actor: Actor,
    *,
    batch_id: int | None = None,
    occasion: str | None = None,
    round_number: int | None = None,
    to_trinh: DocumentRef | None = None,
    rating: RatingLookup | None = None,
    now: datetime | None = None,
) -> BatchResult:
    """Send the acting unit's open list (by id, or by occasion) to its direct superior under a tờ trình.
    Eligibility and quotas are checked again for every file; nothing leaves unless all pass."""
    with _change(engine, campaign_id, now) as (session, ctx):
        batch = _batch_for(session, ctx, actor, batch_id, occasion, round_number)
        return _send(session, ctx, actor, batch["id"], to_trinh, rating or submissions_rating)


def _send(
    session: Session,
    ctx: _Ctx,
    actor: Actor,
    batch_id: int,
    to_trinh: DocumentRef | None,
    rating: RatingLookup,
    *,
    checked: frozenset[int] = frozenset(),
) -> BatchResult:
    """`checked`: nominations whose rules were checked earlier in this transaction (not checked twice)."""
    batch = session.execute(select(B).where(B.c.id == batch_id)).mappings().one()
    if to_trinh is None and batch["to_trinh_number"]:
        to_trinh = DocumentRef(batch["to_trinh_number"], batch["to_trinh_date"])
    _document_problems(to_trinh, ctx.today)
    assert to_trinh is not None
    rows = [
        dict(r)
        for r in session.execute(
            select(N)
            .where(N.c.batch_id == batch_id, N.c.status.in_([_S.PROPOSED.value, _S.APPROVED.value]))
            .order_by(N.c.id)
        ).mappings()
    ]
    if not rows:
        raise InvalidNominationInput(f"Danh sách #{batch_id} không có đề nghị nào để gửi")
    for row in rows:
        row["_label"] = _label(row)
    unchecked = [r for r in rows if r["id"] not in checked]
    labels = [r["_label"] for r in unchecked]
    _raise_refusals(
        _eligibility(session, ctx, unchecked, rating, labels),
        _quotas(session, ctx, unchecked, labels),
        _evidence_missing(session, ctx, rows, [r["_label"] for r in rows]),
    )
    target = ctx.units.get(batch["to_unit_id"])
    changed = session.execute(
        update(B)
        .where(B.c.id == batch_id, B.c.version == batch["version"], B.c.status == "open")
        .values(
            status="sent",
            to_trinh_number=to_trinh.number.strip(),
            to_trinh_date=to_trinh.on,
            sent_at=ctx.now,
            sent_by=actor.name,
            item_count=len(rows),
            version=batch["version"] + 1,
        )
    ).rowcount
    if changed != 1:
        raise NominationConflict(f"Danh sách #{batch_id} vừa được gửi hoặc thay đổi; hãy tải lại")
    due = ctx.review_due_at(target.level_code)
    values = {
        "current_unit_id": target.id,
        "current_level": target.level_code,
        "review_due_at": due,
        "batch_id": batch_id,
    }
    moves = [_Move(row, _S.UNDER_REVIEW.value, values, target.id, due, batch_id) for row in rows]
    batch_audit = {
        "at": ctx.now,
        "actor": actor.name,
        "action": "nomination_batch.sent",
        "entity": "nomination_batch",
        "entity_id": batch_id,
        "campaign_id": ctx.campaign.id,
        "unit_id": actor.unit_id,
        "after": {"to_unit_id": target.id, "count": len(rows), "to_trinh_number": to_trinh.number},
    }
    notice = _reviewer_mail(
        ctx, f"nombatch:{batch_id}", target, len(rows), due, ctx.units.get(batch["from_unit_id"]), rows[0]["id"]
    )
    _apply_moves(
        session,
        ctx,
        _A.SEND,
        actor,
        moves,
        comment=f"Tờ trình số {to_trinh.number.strip()} ngày {fmt_date(to_trinh.on)}",
        extra_context={"to_trinh_number": to_trinh.number.strip(), "to_trinh_date": fmt_date(to_trinh.on)},
        extra_audit=[batch_audit],
        extra_mail=notice,
    )
    _fulfil_window(
        session,
        ctx,
        batch["from_unit_id"],
        batch["occasion"],
        batch["round_number"] or None,
        actor,
        {
            "danh_sach": batch_id,
            "so_de_nghi": len(rows),
            "to_trinh": to_trinh.number.strip(),
            "ngay_to_trinh": fmt_date(to_trinh.on),
        },
    )
    return BatchResult(batch_id, target.id, [r["id"] for r in rows])


# ---------------------------------------------------------------------------------------------------
# The proposal window as an obligation: fulfilled by sending the list, or by declaring there is none
# ---------------------------------------------------------------------------------------------------
def _fulfil_window(
    session: Session,
    ctx: _Ctx,
    unit_id: int,
    occasion: str,
    round_number: int | None,
    actor: Actor,
    data: dict[str, Any],
) -> bool:
    """Record the unit's part of the window's obligation as done (a submission, so that reminders stop and
    status, digests and reports count it). False when the unit owes nothing there or has already done it."""
    from thidua.services.submissions import (  # submissions imports us lazily
        _apply_submissions,
        _Planned,
        obligation_spec,
    )

    if occasion == "ad_hoc":
        return False
    window = _window_for(_windows(session, ctx.campaign.id), occasion, round_number)
    if window is None:
        return False
    assignment = (
        session.execute(
            select(Assignment).where(
                Assignment.obligation_id == window.id,  # type: ignore[arg-type]
                Assignment.unit_id == unit_id,  # type: ignore[arg-type]
                Assignment.active.is_(True),  # type: ignore[attr-defined]
            )
        )
        .scalars()
        .first()
    )
    if assignment is None or assignment.status in SUBMITTED_STATUSES:
        return False
    unit = session.get(Unit, unit_id)
    _apply_submissions(
        session,
        ctx.campaign,  # type: ignore[arg-type]
        window,
        obligation_spec(window),
        [_Planned(assignment, unit, data)],  # type: ignore[arg-type]
        actor=actor.name,
        now=ctx.now,
        source="nomination",
        accept=False,
    )
    return True


def declare_no_proposals(
    engine: Engine,
    campaign_id: int,
    actor: Actor,
    *,
    occasion: str = "year_end",
    round_number: int | None = None,
    now: datetime | None = None,
) -> str:
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
                f"chiến dịch không mở đợt đề xuất khen thưởng cho {occasion_label(occasion, round_number).lower()}"
            )
        if window.opens_on is not None and ctx.today < window.opens_on:
            raise InvalidNominationInput(
                f"'{window.title}' mở từ ngày {fmt_date(window.opens_on)}; hôm nay {fmt_date(ctx.today)}"
            )
        waiting = session.execute(
            select(func.count())
            .select_from(N)
            .join(B, B.c.id == N.c.batch_id)
            .where(
                B.c.campaign_id == campaign_id,
                B.c.from_unit_id == origin.id,
                B.c.status == "open",
                B.c.occasion == occasion,
                B.c.round_number == (round_number or 0),
                N.c.status.in_(_ALIVE),
            )
        ).scalar_one()
        if waiting:
            raise InvalidNominationInput(
                f"{origin.name} còn {waiting} đề nghị chưa gửi trong '{window.title}': "
                "hãy gửi danh sách kèm tờ trình, hoặc rút các đề nghị đó trước"
            )
        if not _fulfil_window(session, ctx, origin.id, occasion, round_number, actor, {"khong_co_de_nghi": True}):
            raise InvalidTransition(f"{origin.name} không còn nợ '{window.title}' (đã gửi danh sách hoặc đã khai báo)")
        return window.title
