"""Nomination pages: a unit's proposals and where each one is, the proposal form, one file with the actions
its viewer may take (resubmit, withdraw / approve and forward, return, reject, decide), sending a list
upwards under a tờ trình."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import Session
from starlette.datastructures import FormData

from thidua.models.nominations import Nomination, NominationError, NominationStatus
from thidua.models.tables import Assignment, ObligationDef
from thidua.services import nominations as service
from thidua.web.deps import csrf_protect, db, form_data, now, principal, today, write_turn
from thidua.web.errors import Conflict, InvalidInput, NotFound
from thidua.web.nomination_views import (
    access,
    actor_for,
    as_web_error,
    current_state,
    proposal_form,
    read_day,
    read_proposal,
    readable,
)
from thidua.web.permissions import Principal, can_act_for_unit, require
from thidua.web.queries import assignment_view, pick_campaign, unit_ref
from thidua.web.rendering import render
from thidua.web.routes_commendation import commendation_panels
from thidua.web.service_errors import present

router = APIRouter(dependencies=[Depends(csrf_protect)])

HOLDER_ACTIONS = ("duyet", "tra_lai", "tu_choi", "quyet_dinh")
PROPOSER_ACTIONS = ("gui_lai", "rut")
NOTICE = {
    "duyet": "da-duyet-cho-chuyen",
    "tra_lai": "da-tra-lai",
    "tu_choi": "da-tu-choi",
    "quyet_dinh": "da-quyet-dinh",
    "gui_lai": "da-gui",
    "rut": "da-rut",
}


def _campaign(session: Session, me: Principal, code: str | None = None):  # noqa: ANN202
    campaign = pick_campaign(session, me, code)
    if campaign is None:
        raise NotFound("Đơn vị của bạn chưa tham gia chiến dịch thi đua nào.")
    return campaign


def outgoing_lists(engine, campaign_id: int, unit_id: int) -> list[dict[str, Any]]:  # noqa: ANN001
    """The unit's open lists that carry files, waiting for a tờ trình to leave, each with the files it carries."""
    lists = [
        b
        for b in service.list_batches(engine, campaign_id, unit_id=unit_id)
        if b["from_unit_id"] == unit_id and b["status"] == "open" and b["live_count"]
    ]
    if lists:
        held = service.list_nominations(engine, campaign_id, holder_unit_id=unit_id)
        for b in lists:
            b["items"] = [n for n in held if n.batch_id == b["id"] and n.status in ("proposed", "approved")]
    return lists


def own_list(engine, campaign_id: int, me: Principal, batch_id: int) -> dict[str, Any]:  # noqa: ANN001
    """A list the unit sends (NotFound when the unit neither sends nor receives it; Forbidden when it receives it)."""
    batch = next(
        (b for b in service.list_batches(engine, campaign_id, unit_id=me.unit_id) if b["id"] == batch_id), None
    )
    if batch is None:
        raise NotFound(f"Không có danh sách đề nghị #{batch_id} của đơn vị bạn.")
    require(batch["from_unit_id"] == me.unit_id, "gửi danh sách đề nghị của đơn vị khác")
    return batch


@router.get("/don-vi/khen-thuong")
def my_nominations(request: Request, me: Principal = Depends(principal), session: Session = Depends(db)) -> Response:
    campaign = _campaign(session, me)
    engine = request.app.state.engine
    return render(
        request,
        "nominations/list.html",
        {
            "campaign": campaign,
            "rows": service.list_nominations(engine, campaign.id, origin_unit_id=me.unit_id),
            "outgoing": outgoing_lists(engine, campaign.id, me.unit_id),
            "open_windows": open_windows(session, engine, campaign, me, today(request)),
            "typed": {},
            "errors": {},
        },
    )


def open_windows(session: Session, engine, campaign, me: Principal, day) -> list[dict[str, Any]]:  # noqa: ANN001
    """The proposal windows open today for the unit's level, each with the unit's obligation (for the link)."""
    closes = {(w.title, w.level): w.closes_on for w in service.window_schedule(engine, campaign.id)}
    rows = session.execute(
        select(Assignment.id, ObligationDef.title, ObligationDef.opens_on)
        .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
        .where(
            Assignment.unit_id == me.unit_id,
            Assignment.campaign_id == campaign.id,
            Assignment.active.is_(True),
            ObligationDef.kind == "nomination_window",
        )
    ).all()
    return [
        {"assignment_id": r.id, "title": r.title, "closes_on": closes[(r.title, me.unit_level)]}
        for r in rows
        if (r.opens_on is None or r.opens_on <= day)
        and (r.title, me.unit_level) in closes
        and day <= closes[(r.title, me.unit_level)]
    ]


def _proposal_page(
    request: Request,
    session: Session,
    me: Principal,
    *,
    typed: dict[str, str],
    errors: dict[str, str],
    problems: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    campaign = _campaign(session, me)
    form, catalogue = proposal_form(session, me, campaign)
    return render(
        request,
        "nominations/propose.html",
        {
            "campaign": campaign,
            "form": form,
            "catalogue": catalogue,
            "typed": typed,
            "errors": errors,
            "problems": problems or [],
        },
        status_code=status_code,
    )


@router.get("/don-vi/khen-thuong/moi")
def proposal(
    request: Request,
    nghia_vu: int | None = None,
    dip: str | None = None,
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    typed = {"don_vi": str(me.unit_id)}
    if dip == "ad_hoc":  # no window open: an ad-hoc proposal
        typed["dip"] = dip
    if nghia_vu is not None:  # opened from a proposal window's page: that window's occasion
        view = assignment_view(session, nghia_vu)
        if view.obligation.kind == "nomination_window" and view.unit.id == me.unit_id:
            round_number = view.obligation.round_number
            typed.update(
                dip="round" if round_number is not None else "year_end",
                dot=str(round_number) if round_number is not None else "",
            )
    return _proposal_page(request, session, me, typed=typed, errors={})


@router.post("/don-vi/khen-thuong/moi")
def propose(
    request: Request,
    form: FormData = Depends(form_data),
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    typed = {k: str(v) for k, v in form.items() if k != "_csrf"}
    campaign = _campaign(session, me)
    form, _ = proposal_form(session, me, campaign)
    proposal_input, errors = read_proposal(typed, form)
    if proposal_input is None:
        return _proposal_page(request, session, me, typed=typed, errors=errors, status_code=422)
    try:
        with write_turn(request):
            result = service.propose(
                request.app.state.engine, campaign.id, actor_for(me), [proposal_input], now=now(request)
            )
    except NominationError as exc:
        error = present(as_web_error(exc))
        refusals = error.detail.get("refusals")
        problems = (
            [f"{label}: {r}" for label, reasons in refusals.items() for r in reasons] if refusals else [error.message]
        )
        return _proposal_page(request, session, me, typed=typed, errors={}, problems=problems, status_code=error.status)
    return RedirectResponse(f"/don-vi/khen-thuong/{result.nomination_ids[0]}?tb=da-de-xuat", status_code=303)


@router.post("/don-vi/khen-thuong/danh-sach/{batch_id}")
def send_list(
    request: Request,
    batch_id: int,
    form: FormData = Depends(form_data),
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    """Send the unit's list upwards under its tờ trình (number and date)."""
    campaign = _campaign(session, me)
    engine = request.app.state.engine
    own_list(engine, campaign.id, me, batch_id)
    errors: dict[str, str] = {}
    number = str(form.get("so_to_trinh") or "").strip()
    if not number:
        errors["so_to_trinh"] = "Cần số tờ trình."
    day = read_day(str(form.get("ngay_to_trinh") or ""), "ngay_to_trinh", "ngày tờ trình", errors)
    if errors:  # back to the page the form was on (the list page or the reviewer queue), kept, errors beside the fields
        kept = {
            "typed": {"so_to_trinh": number, "ngay_to_trinh": str(form.get("ngay_to_trinh") or "")},
            "errors": errors,
            "error_list": batch_id,
        }
        if form.get("_tu") == "/duyet" and (me.is_reviewer or me.is_office):
            from thidua.web.review_queries import QueueFilters
            from thidua.web.routes_review import queue_page

            return queue_page(request, me, session, QueueFilters(), campaign.code, extra=kept, status_code=422)
        return render(
            request,
            "nominations/list.html",
            {
                "campaign": campaign,
                "rows": service.list_nominations(engine, campaign.id, origin_unit_id=me.unit_id),
                "outgoing": outgoing_lists(engine, campaign.id, me.unit_id),
                "open_windows": open_windows(session, engine, campaign, me, today(request)),
                **kept,
            },
            status_code=422,
        )
    try:
        with write_turn(request):
            service.send_batch(
                engine,
                campaign.id,
                actor_for(me),
                batch_id=batch_id,
                to_trinh=service.DocumentRef(number, day),
                now=now(request),
            )
    except NominationError as exc:
        raise as_web_error(exc) from None
    return RedirectResponse("/don-vi/khen-thuong?tb=da-gui-danh-sach", status_code=303)


@router.post("/don-vi/nghia-vu/{assignment_id}/khong-co-de-nghi")
def declare_none(
    request: Request, assignment_id: int, me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    """The unit proposes nobody in this window: its proposal obligation is done and reminders stop."""
    view = assignment_view(session, assignment_id)
    require(can_act_for_unit(me, unit_ref(view.unit)), "khai báo thay cho đơn vị khác")
    if view.obligation.kind != "nomination_window":
        raise InvalidInput("Nghĩa vụ này không phải đợt đề xuất khen thưởng.", {})
    round_number = view.obligation.round_number
    try:
        with write_turn(request):
            service.declare_no_proposals(
                request.app.state.engine,
                view.campaign.id,
                actor_for(me),
                occasion="round" if round_number is not None else "year_end",
                round_number=round_number,
                now=now(request),
            )
    except NominationError as exc:
        raise as_web_error(exc, back=f"/don-vi/nghia-vu/{assignment_id}") from None
    return RedirectResponse(f"/don-vi/nghia-vu/{assignment_id}?tb=khong-de-nghi", status_code=303)


@router.get("/don-vi/khen-thuong/{nomination_id}")
def nomination(
    request: Request, nomination_id: int, me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    view, rights = readable(session, request.app.state.engine, me, nomination_id)
    return nomination_page(request, me, view, rights)


def nomination_page(
    request: Request,
    me: Principal,
    view,
    rights,
    *,
    typed: dict[str, str] | None = None,  # noqa: ANN001
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    status = NominationStatus(view.status)
    held = rights.hold_side and status in (NominationStatus.UNDER_REVIEW, NominationStatus.APPROVED)
    # A level that sent the file up and got it back: it fixes and resubmits it, or passes it down.
    returned_here = (
        status is NominationStatus.RETURNED
        and view.current_unit_id == me.unit_id
        and view.origin_unit_id != me.unit_id
        and rights.hold_side
    )
    return render(
        request,
        "nominations/detail.html",
        {
            "n": view,
            "typed": typed or {},
            "errors": errors or {},
            "can_decide": held
            and status is NominationStatus.UNDER_REVIEW
            and view.current_unit_id == view.deciding_unit_id,
            "can_forward": held
            and status is NominationStatus.UNDER_REVIEW
            and view.current_unit_id != view.deciding_unit_id,
            "can_return": held or returned_here,
            "can_reject": held,
            "can_resubmit": status is NominationStatus.RETURNED
            and view.current_unit_id == me.unit_id
            and (rights.propose_side or returned_here),
            "can_withdraw": rights.propose_side
            and status
            not in (
                NominationStatus.DECIDED,
                NominationStatus.AWARDED,
                NominationStatus.REJECTED,
                NominationStatus.WITHDRAWN,
                NominationStatus.REVOKED,
            ),
            **commendation_panels(request.app.state.engine, me, view, rights),
        },
        status_code=status_code,
    )


@router.post("/don-vi/khen-thuong/{nomination_id}")
def act(
    request: Request,
    nomination_id: int,
    form: FormData = Depends(form_data),
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    typed = {k: str(v) for k, v in form.items() if k != "_csrf"}
    engine = request.app.state.engine
    view, rights = readable(session, engine, me, nomination_id)
    action = typed.get("hanh_dong", "")
    if action not in HOLDER_ACTIONS + PROPOSER_ACTIONS:
        raise InvalidInput("Thao tác không hợp lệ.", {"hanh_dong": "thao tác không hợp lệ"})
    if typed.get("_phien_ban", "").isdigit() and int(typed["_phien_ban"]) != view.version:
        raise Conflict(
            "Đề nghị đã thay đổi từ lúc bạn mở trang (có người vừa xử lý); thao tác chưa được thực hiện.",
            detail={"back": f"/don-vi/khen-thuong/{view.id}", "current": current_state(view)},
        )
    returned_here = view.status == NominationStatus.RETURNED.value and view.current_unit_id == me.unit_id
    require(
        rights.hold_side
        if action in HOLDER_ACTIONS
        else rights.propose_side or (action == "gui_lai" and returned_here and rights.hold_side),
        "xét đề nghị này" if action in HOLDER_ACTIONS else "thay đổi đề nghị của đơn vị khác",
    )
    with write_turn(request):
        errors = perform(engine, me, view, action, typed, now(request))
    if errors:
        return nomination_page(
            request, me, view, access(session, me, view), typed=typed, errors=errors, status_code=422
        )
    return RedirectResponse(f"/don-vi/khen-thuong/{nomination_id}?tb={NOTICE[action]}", status_code=303)


def perform(engine, me: Principal, view, action: str, typed: dict[str, str], moment) -> dict[str, str]:  # noqa: ANN001
    """Run one action through the nominations service; field errors are returned, refusals raised."""
    campaign_id = _campaign_id(engine, view)
    comment = typed.get("y_kien", "").strip()
    version = int(typed["_phien_ban"]) if typed.get("_phien_ban", "").isdigit() else None
    versions = {view.id: version} if version is not None else None
    holder = actor_for(me, view.current_unit_id)
    errors: dict[str, str] = {}
    if action in ("tra_lai", "tu_choi") and not comment:
        return {"y_kien": "Cần ghi lý do để đơn vị đề nghị biết."}
    decision = None
    if action == "quyet_dinh":
        number = typed.get("so_quyet_dinh", "").strip()
        if not number:
            errors["so_quyet_dinh"] = "Cần số quyết định."
        day = read_day(typed.get("ngay_quyet_dinh", ""), "ngay_quyet_dinh", "ngày quyết định", errors)
        if not typed.get("nguoi_ky", "").strip():
            errors["nguoi_ky"] = "Cần người ký quyết định."
        if errors:
            return errors
        decision = service.Decision(number, day, typed["nguoi_ky"].strip())
    try:
        if action == "duyet":
            service.approve(
                engine, campaign_id, [view.id], holder, comment=comment, expected_versions=versions, now=moment
            )
        elif action == "tra_lai":
            service.return_for_revision(
                engine, campaign_id, [view.id], holder, comment=comment, expected_versions=versions, now=moment
            )
        elif action == "tu_choi":
            service.reject(
                engine, campaign_id, [view.id], holder, comment=comment, expected_versions=versions, now=moment
            )
        elif action == "quyet_dinh":
            assert decision is not None
            service.decide(
                engine, campaign_id, holder, decision, nomination_ids=[view.id], expected_versions=versions, now=moment
            )
        elif action == "gui_lai":
            changes = service.ProposalChanges(achievement=typed.get("thanh_tich", "").strip() or None)
            service.resubmit(
                engine,
                campaign_id,
                view.id,
                actor_for(me),
                changes=changes,
                comment=comment,
                expected_version=version,
                now=moment,
            )
        elif action == "rut":
            service.withdraw(
                engine, campaign_id, view.id, actor_for(me), comment=comment, expected_version=version, now=moment
            )
    except NominationError as exc:
        raise as_web_error(exc, back=f"/don-vi/khen-thuong/{view.id}") from None
    return {}


def _campaign_id(engine, view) -> int:  # noqa: ANN001
    with Session(engine) as session:
        return session.execute(select(Nomination.campaign_id).where(Nomination.id == view.id)).scalar_one()


@router.get("/xet-duyet")
def review_alias() -> Response:
    """The address printed in the nominations service's e-mails to reviewers."""
    return RedirectResponse("/duyet", status_code=303)
