"""Pages of a unit: what it owes, one obligation with its form and history, its calendar feed."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import Session
from starlette.datastructures import FormData

from thidua.models.clock import fmt_date
from thidua.models.forms import applicable_fields, format_value
from thidua.models.spec.campaign import FormField
from thidua.models.status import SUBMITTED_STATUSES, STATUS_LABELS, AssignmentStatus
from thidua.models.submissions import REVIEW_STATUS_LABELS, FormInvalid, Submission, SubmissionError
from thidua.models.tables import ObligationDef
from thidua.services.accounts import renew_calendar_feed
from thidua.services.submissions import submit_report
from thidua.web.auth import read_link
from thidua.web.deps import (
    csrf_protect,
    db,
    form_data,
    now,
    optional_principal,
    principal,
    principal_for_user,
    today,
    write_turn,
)
from thidua.web.errors import BadLink, Forbidden
from thidua.web.ics import Deadline, build_calendar
from thidua.web.models import CalendarFeed
from thidua.web.permissions import Principal, can_act_for_unit, can_read_unit, can_review, require
from thidua.web.queries import AssignmentView, assignment_view, pick_campaign, unit_obligations, unit_ref
from thidua.web.rendering import render
from thidua.web.routes_auth import show_link
from thidua.web.service_errors import as_web_error, expected_version, field_errors

router = APIRouter(dependencies=[Depends(csrf_protect)])


@router.get("/don-vi")
def my_obligations(
    request: Request, chien_dich: str | None = None, me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    campaign = pick_campaign(session, me, chien_dich)
    rows = unit_obligations(session, me.unit_id, campaign.id) if campaign else []
    return render(
        request, "unit/obligations.html", {"campaign": campaign, "rows": rows, "submitted": SUBMITTED_STATUSES}
    )


@router.get("/don-vi/lich-su")
def my_history(
    request: Request, chien_dich: str | None = None, me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    """Every version the unit sent in the campaign, newest first, with the reviewers' comments."""
    campaign = pick_campaign(session, me, chien_dich)
    rows = []
    if campaign is not None:
        rows = session.execute(
            select(Submission, ObligationDef.title)
            .join(ObligationDef, ObligationDef.id == Submission.obligation_id)
            .where(Submission.unit_id == me.unit_id, ObligationDef.campaign_id == campaign.id)
            .order_by(Submission.submitted_at.desc(), Submission.id.desc())
        ).all()
    return render(
        request,
        "unit/history.html",
        {
            "campaign": campaign,
            "rows": rows,
            "review_labels": {s.value: label for s, label in REVIEW_STATUS_LABELS.items()},
        },
    )


def form_fields(view: AssignmentView) -> list[FormField]:
    return applicable_fields(
        [FormField.model_validate(f) for f in view.fields],
        view.unit.sector,
        level=view.unit.level_code,
        attributes=view.unit.attributes,
    )


def submission_history(session: Session, assignment_id: int) -> list[Submission]:
    return list(
        session.execute(
            select(Submission).where(Submission.assignment_id == assignment_id).order_by(Submission.version.desc())
        ).scalars()
    )


def shown_values(fields: list[FormField], data: dict[str, Any]) -> dict[str, str]:
    return {f.code: format_value(f, data[f.code]) for f in fields if f.code in data}


def obligation_page(
    request: Request,
    session: Session,
    me: Principal,
    view: AssignmentView,
    *,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    fields = form_fields(view)
    history = submission_history(session, view.assignment.id)
    if typed is None:  # start from the latest version, so a returned report is corrected, not retyped
        typed = shown_values(fields, history[0].data) if history else {}
    assignment = view.assignment
    may_submit = can_act_for_unit(me, unit_ref(view.unit)) and view.campaign.status == "active"
    opens_on = view.obligation.opens_on
    is_nomination = view.obligation.kind == "nomination_window"
    closes_on = window_closes_on(request, view) if is_nomination else None
    return render(
        request,
        "unit/obligation.html",
        {
            "view": view,
            "a": assignment,
            "fields": fields,
            "typed": typed,
            "errors": errors or {},
            "history": history,
            "field_labels": {f.code: f.label for f in fields},
            "shown": lambda sub: shown_values(fields, sub.data),
            "review_labels": {s.value: label for s, label in REVIEW_STATUS_LABELS.items()},
            "may_submit": may_submit and (opens_on is None or opens_on <= today(request)),
            "not_open_yet": opens_on is not None and opens_on > today(request),
            "may_review": can_review(me, assignment.reviewer_unit_id, unit_ref(view.unit))
            and assignment.status == AssignmentStatus.SUBMITTED.value,
            "is_nomination": is_nomination,
            "window_closes_on": closes_on,
            "window_closed": closes_on is not None and today(request) > closes_on,
        },
        status_code=status_code,
    )


def window_closes_on(request: Request, view: AssignmentView):  # noqa: ANN201
    """The day a proposal window closes for the unit's level (proposals are refused after it), or None."""
    from thidua.services.nominations import window_schedule

    assert view.campaign.id is not None
    return next(
        (
            w.closes_on
            for w in window_schedule(request.app.state.engine, view.campaign.id)
            if w.title == view.obligation.title and w.level == view.unit.level_code
        ),
        None,
    )


@router.get("/don-vi/nghia-vu/{assignment_id}")
def obligation(
    request: Request,
    assignment_id: int,
    t: str | None = None,
    me: Principal | None = Depends(optional_principal),
    session: Session = Depends(db),
) -> Response:
    plain = RedirectResponse(f"/don-vi/nghia-vu/{assignment_id}", status_code=303)
    if t is not None:
        if me is not None:  # already signed in: the link grants nothing more; an outdated one is no obstacle
            try:
                claims = read_link(request.app.state.settings, t, now=now(request))
            except BadLink:
                return plain
            if me.email == claims.email and claims.unit_id in (None, me.unit_id):
                return plain
        return show_link(request, t, session)
    if me is None:
        return RedirectResponse(f"/dang-nhap?next=/don-vi/nghia-vu/{assignment_id}", status_code=303)
    view = assignment_view(session, assignment_id)
    require(can_read_unit(me, unit_ref(view.unit)), "xem nghĩa vụ của đơn vị khác")
    return obligation_page(request, session, me, view)


@router.post("/don-vi/nghia-vu/{assignment_id}")
def submit(
    request: Request,
    assignment_id: int,
    form: FormData = Depends(form_data),
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    view = assignment_view(session, assignment_id)
    require(can_act_for_unit(me, unit_ref(view.unit)), "gửi báo cáo thay cho đơn vị khác")
    fields = form_fields(view)
    typed = {f.code: str(form.get(f.code) or "").strip() for f in fields}
    try:
        with write_turn(request):
            submit_report(
                session,
                campaign_code=view.campaign.code,
                obligation_code=view.obligation.code,
                unit_code=view.unit.code,
                raw=typed,
                actor=me.actor,
                acting_unit_code=me.unit_code,
                now=now(request),
                expected_version=expected_version(form),
                source="web",
            )
    except FormInvalid as exc:
        return obligation_page(request, session, me, view, typed=typed, errors=field_errors(exc), status_code=422)
    except SubmissionError as exc:
        raise as_web_error(exc, session, assignment_id) from None
    return RedirectResponse(f"/don-vi/nghia-vu/{assignment_id}?tb=da-gui", status_code=303)


# ---------------------------------------------------------------------------------------------------
# Calendar feed
# ---------------------------------------------------------------------------------------------------
def _calendar_page(
    request: Request, me: Principal, session: Session, *, error: str = "", status_code: int = 200
) -> Response:
    feed = session.get(CalendarFeed, me.user_id)
    context: dict = {"url": None, "error": error}
    if feed is not None:
        url = f"{request.app.state.settings.base_url.rstrip('/')}/lich/{feed.token}.ics"
        webcal = "webcal://" + url.split("://", 1)[1]
        context.update(
            url=url,
            webcal=webcal,
            created_at=feed.created_at,
            google=f"https://calendar.google.com/calendar/r?cid={quote(webcal, safe='')}",
        )
    return render(request, "unit/calendar.html", context, status_code=status_code)


@router.get("/don-vi/lich")
def calendar_page(request: Request, me: Principal = Depends(principal), session: Session = Depends(db)) -> Response:
    """The one address of the user's calendar feed, to add on every device (the same address everywhere)."""
    return _calendar_page(request, me, session)


@router.post("/don-vi/lich")
async def new_calendar_link(
    request: Request, me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    """Create the secret calendar address, or replace it (revoking the old one on every device) only when the
    person confirms that: adding the calendar on a second device must not stop the first one."""
    feed = session.get(CalendarFeed, me.user_id)
    form = await request.form()
    if feed is not None and form.get("thu_hoi") != "1":
        return _calendar_page(
            request,
            me,
            session,
            status_code=422,
            error=(
                "Địa chỉ lịch đã có: hãy dùng đúng địa chỉ này trên thiết bị mới. Chỉ tạo địa chỉ mới khi muốn thu hồi "
                "địa chỉ cũ (đánh dấu ô xác nhận); lịch đã thêm trên các thiết bị khác sẽ ngừng cập nhật."
            ),
        )
    with write_turn(request):
        renew_calendar_feed(session, user_id=me.user_id, unit_id=me.unit_id, actor=me.actor, now=now(request))
        session.commit()
    return RedirectResponse("/don-vi/lich?tb=lich-moi", status_code=303)


@router.get("/lich/{token}.ics")
def calendar_feed(request: Request, token: str, session: Session = Depends(db)) -> Response:
    """The feed a calendar application subscribes to; the secret in the address is the only credential."""

    feed = session.execute(select(CalendarFeed).where(CalendarFeed.token == token)).scalars().first()
    me = principal_for_user(session, feed.user_id, None) if feed else None
    if me is None:
        raise Forbidden("Địa chỉ lịch không hợp lệ hoặc đã được thay bằng địa chỉ mới.")
    settings = request.app.state.settings
    base = settings.base_url.rstrip("/")
    deadlines = []
    campaign = pick_campaign(session, me, None)
    if campaign is not None:
        for row in unit_obligations(session, me.unit_id, campaign.id):
            done = row.status in SUBMITTED_STATUSES
            label = STATUS_LABELS[AssignmentStatus(row.status)]
            deadlines.append(
                Deadline(
                    uid=f"assignment-{row.assignment_id}@{settings.mail_domain}",
                    day=row.due_on,
                    summary=("✓ " if done else "Hạn nộp: ") + row.obligation_title,
                    description=f"{me.unit_name}\nHạn nộp: {fmt_date(row.due_on)}\nTình trạng: {label}\n"
                    f"{base}/don-vi/nghia-vu/{row.assignment_id}",
                    url=f"{base}/don-vi/nghia-vu/{row.assignment_id}",
                    done=done,
                )
            )
    body = build_calendar(f"Hạn nộp – {me.unit_name}", deadlines, generated_at=now(request), tz=settings.timezone)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'inline; filename="han-nop.ics"'},
    )
