"""Reviewer pages: the queue, one report with accept / return, bulk accept."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import Session
from starlette.datastructures import FormData

from thidua.models.forms import format_value
from thidua.models.submissions import InvalidTransition, StaleVersion, SubmissionError
from thidua.models.tables import ObligationDef
from thidua.db import owns_transaction
from thidua.services import nominations as nomination_service
from thidua.services.submissions import RATING_FIELD, ReviewResult, review_report
from thidua.web.deps import csrf_protect, db, form_data, now, principal, write_turn
from thidua.web.errors import InvalidInput
from thidua.web.permissions import Principal, can_review, require, require_reviewer
from thidua.web.queries import AssignmentView, assignment_view, pick_campaign, unit_by_id, unit_ref
from thidua.web.rendering import render
from thidua.web.review_queries import PAGE_SIZE, QueueFilters, review_queue
from thidua.web.routes_nominations import outgoing_lists
from thidua.web.routes_unit import form_fields, submission_history
from thidua.web.service_errors import as_web_error, expected_version, sentence

router = APIRouter(dependencies=[Depends(csrf_protect)])
NOMINATIONS_SHOWN = 100  # oldest first; the rest after these are decided


@router.get("/duyet")
def queue(
    request: Request,
    chien_dich: str | None = None,
    nghia_vu: str | None = None,
    don_vi: str | None = None,
    muon: bool = False,
    trang: int = 1,
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    require_reviewer(me)
    filters = QueueFilters(obligation=nghia_vu or None, unit=don_vi or None, late_only=muon, page=max(trang, 1))
    return queue_page(request, me, session, filters, chien_dich)


def queue_page(
    request: Request,
    me: Principal,
    session: Session,
    filters: QueueFilters,
    chien_dich: str | None = None,
    *,
    extra: dict | None = None,
    status_code: int = 200,
) -> Response:
    """The queue; `extra` carries a list-sending form's input and errors back to it."""
    campaign = pick_campaign(session, me, chien_dich)
    rows, total = review_queue(session, me, campaign.id, filters) if campaign else ([], 0)
    obligations = []
    if campaign is not None:
        obligations = list(
            session.execute(
                select(ObligationDef.code, ObligationDef.title)
                .where(
                    ObligationDef.campaign_id == campaign.id,
                    ObligationDef.active.is_(True),
                    ObligationDef.kind != "nomination_window",
                )
                .order_by(ObligationDef.due_on)
            ).all()
        )
    engine = request.app.state.engine
    return render(
        request,
        "review/queue.html",
        {
            "campaign": campaign,
            "rows": rows,
            "total": total,
            "filters": filters,
            "obligations": obligations,
            "pages": (total + PAGE_SIZE - 1) // PAGE_SIZE,
            "nominations": nomination_service.reviewer_queue(
                engine, campaign.id, me.unit_id, limit=NOMINATIONS_SHOWN + 1
            )
            if campaign
            else [],
            "nominations_shown": NOMINATIONS_SHOWN,
            "outgoing": outgoing_lists(engine, campaign.id, me.unit_id) if campaign else [],
            "typed": {},
            "errors": {},
            "back_to": "/duyet",
            **(extra or {}),
        },
        status_code=status_code,
    )


def _reviewable(session: Session, me: Principal, assignment_id: int) -> AssignmentView:
    view = assignment_view(session, assignment_id)
    require(can_review(me, view.assignment.reviewer_unit_id, unit_ref(view.unit)), "duyệt báo cáo của đơn vị này")
    return view


def review_page(
    request: Request,
    session: Session,
    me: Principal,
    view: AssignmentView,
    *,
    comment: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    fields = form_fields(view)
    history = submission_history(session, view.assignment.id)
    rating_field = next((f for f in fields if f.code == RATING_FIELD), None)
    return render(
        request,
        "review/detail.html",
        {
            "view": view,
            "a": view.assignment,
            "fields": fields,
            "history": history,
            "shown": lambda sub: {f.code: format_value(f, sub.data[f.code]) for f in fields if f.code in sub.data},
            "rating_field": rating_field,
            "comment": comment,
            "errors": errors or {},
            "reviewer_unit": unit_by_id(session, view.assignment.reviewer_unit_id)
            if view.assignment.reviewer_unit_id
            else None,
            "waiting": view.assignment.status == "da_gui",
        },
        status_code=status_code,
    )


@router.get("/duyet/bai-nop/{assignment_id}")
def review_detail(
    request: Request, assignment_id: int, me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    return review_page(request, session, me, _reviewable(session, me, assignment_id))


def decide_report(
    session: Session,
    me: Principal,
    view: AssignmentView,
    *,
    accept: bool,
    comment: str | None,
    rating: str | None,
    version: int | None,
    moment,
) -> ReviewResult:  # noqa: ANN001
    """Accept or return through the submissions service. The office decides in the reviewer unit's name
    (the audit log records who acted)."""
    reviewer = unit_by_id(session, view.assignment.reviewer_unit_id) if view.assignment.reviewer_unit_id else None
    return review_report(
        session,
        campaign_code=view.campaign.code,
        obligation_code=view.obligation.code,
        unit_code=view.unit.code,
        reviewer_code=reviewer.code if reviewer else me.unit_code,
        accept=accept,
        actor=me.actor,
        comment=comment,
        appraised_rating=rating or None,
        now=moment,
        expected_version=version,
    )


@router.post("/duyet/bai-nop/{assignment_id}")
def review_action(
    request: Request,
    assignment_id: int,
    form: FormData = Depends(form_data),
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    view = _reviewable(session, me, assignment_id)
    action = str(form.get("hanh_dong") or "")
    comment = str(form.get("y_kien") or "").strip()
    if action not in ("duyet", "tra_lai"):
        raise InvalidInput(
            "Thao tác không hợp lệ (chỉ 'duyệt' hoặc 'trả lại').", {"hanh_dong": "thao tác không hợp lệ"}
        )
    if action == "tra_lai" and not comment:
        return review_page(
            request,
            session,
            me,
            view,
            comment=comment,
            status_code=422,
            errors={"y_kien": "Trả lại phải kèm ý kiến để đơn vị biết cần sửa gì."},
        )
    try:
        with write_turn(request):
            result = decide_report(
                session,
                me,
                view,
                accept=action == "duyet",
                comment=comment or None,
                rating=str(form.get("xep_loai") or "") or None,
                version=expected_version(form),
                moment=now(request),
            )
    except SubmissionError as exc:
        raise as_web_error(exc, session, assignment_id, back=f"/duyet/bai-nop/{assignment_id}") from None
    send_now = request.app.state.send_mail_now
    for key in result.mail_keys if send_now is not None else ():  # the unit learns of the return at once
        send_now(key)
    return RedirectResponse("/duyet?tb=" + ("da-duyet" if action == "duyet" else "da-tra-lai"), status_code=303)


@router.post("/duyet/hang-loat")
def bulk_accept(
    request: Request,
    form: FormData = Depends(form_data),
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    """Accept every ticked report (routine reports). Each one is accepted on its own, so one that changed
    meanwhile is reported and does not stop the others."""
    require_reviewer(me)
    picked = [str(v) for v in form.getlist("chon")]
    with write_turn(request):
        accepted, problems = bulk_accept_items(session, me, picked, now(request))
    if not problems:
        return RedirectResponse("/duyet?tb=duyet-hang-loat", status_code=303)
    return render(
        request,
        "review/bulk_result.html",
        {"accepted": accepted, "problems": problems},
        status_code=409 if not accepted else 200,
    )


@owns_transaction
def bulk_accept_items(session: Session, me: Principal, picked: list[str], moment) -> tuple[int, list[str]]:  # noqa: ANN001
    """Items are 'assignment_id:version' as shown on the queue page."""
    accepted, problems = 0, []
    for item in picked:
        try:
            assignment_id, version = (int(part) for part in item.split(":", 1))
        except ValueError:
            problems.append(f"Mục '{item}' không hợp lệ.")
            continue
        view = _reviewable(session, me, assignment_id)
        try:
            with session.begin_nested():
                decide_report(session, me, view, accept=True, comment=None, rating=None, version=version, moment=moment)
            accepted += 1
        except (StaleVersion, InvalidTransition) as exc:
            problems.append(f"{view.unit.name} – {view.obligation.title}: {sentence(str(exc))}")
    return accepted, problems
