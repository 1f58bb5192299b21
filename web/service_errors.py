"""Translating the service layer's refusals into web errors, with the current state for conflicts."""
from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import select
from sqlmodel import Session

from thidua.models.clock import fmt_datetime
from thidua.models.status import STATUS_LABELS, AssignmentStatus
from thidua.models.submissions import (
    FormInvalid, InvalidTransition, NotPermitted, StaleVersion, Submission,
    SubmissionError, UnknownReference,
)
from thidua.models.tables import Assignment
from thidua.web.errors import Conflict, Forbidden, InvalidInput, NotFound, Refused, WebError


def sentence(text: str) -> str:
    """Service messages are clauses ('không thể duyệt: ...'); pages show sentences."""
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")")) else text + "."


def field_errors(exc: FormInvalid) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors:
        message = sentence(error.message)
        errors[error.field] = f"{errors[error.field]} {message}" if error.field in errors else message
    return errors


def expected_version(form: Mapping[str, Any]) -> int | None:
    """The assignment version the page was built from (hidden field), so a stale page is detected."""
    value = form.get("_phien_ban")
    try:
        return int(value) if value not in (None, "") else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def assignment_state(session: Session, assignment_id: int) -> dict[str, str]:
    """What the assignment looks like now, in words, for a conflict page."""
    a = session.get(Assignment, assignment_id)
    if a is None:
        return {}
    session.refresh(a)
    state = {"Tình trạng": STATUS_LABELS[AssignmentStatus(a.status)], "Số bản đã gửi": str(a.current_version)}
    if a.submitted_at:
        state["Gửi lần đầu"] = fmt_datetime(a.submitted_at)
    latest = session.execute(
        select(Submission).where(Submission.assignment_id == assignment_id).order_by(Submission.version.desc()).limit(1)
    ).scalars().first()
    if latest is not None:
        state["Bản mới nhất"] = f"bản {latest.version}, gửi {fmt_datetime(latest.submitted_at)} bởi {latest.submitted_by}"
        if latest.reviewed_by:
            state["Người xử lý gần nhất"] = f"{latest.reviewed_by}, {fmt_datetime(latest.reviewed_at)}"
        if latest.review_comment:
            state["Ý kiến"] = latest.review_comment
    return state


def as_web_error(exc: SubmissionError, session: Session, assignment_id: int | None = None,
                 back: str | None = None) -> WebError:
    message = sentence(str(exc).splitlines()[0])
    detail: dict[str, Any] = {"back": back or (f"/don-vi/nghia-vu/{assignment_id}" if assignment_id else "/")}
    if isinstance(exc, (StaleVersion, InvalidTransition)):
        if assignment_id is not None:
            detail["current"] = assignment_state(session, assignment_id)
        return Conflict(message + " Tình trạng hiện tại ở dưới; hãy mở lại trang rồi thao tác lại nếu cần.", detail=detail)
    if isinstance(exc, NotPermitted):
        return Forbidden(message, detail=detail)
    if isinstance(exc, UnknownReference):
        return NotFound(message, detail=detail)
    if isinstance(exc, FormInvalid):
        return InvalidInput(message, field_errors(exc))
    return Refused(message, detail=detail)  # CampaignClosed, NotOpenYet and rules added later
