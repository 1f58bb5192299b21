"""The one mapping from the error taxonomy (thidua.errors) to what the web shows, plus page context (a link back,
the current state of a conflicting assignment)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import select
from sqlmodel import Session

from thidua.errors import HTTP_TITLE, ThiduaError
from thidua.models.clock import fmt_datetime
from thidua.models.nominations import RulesRefused
from thidua.models.spec.problems import SpecError
from thidua.models.status import STATUS_LABELS, AssignmentStatus
from thidua.models.submissions import FormInvalid, ImportRejected, Submission
from thidua.models.tables import Assignment
from thidua.web.errors import WebError, title_of


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
    latest = (
        session.execute(
            select(Submission)
            .where(Submission.assignment_id == assignment_id)
            .order_by(Submission.version.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )
    if latest is not None:
        state["Bản mới nhất"] = (
            f"bản {latest.version}, gửi {fmt_datetime(latest.submitted_at)} bởi {latest.submitted_by}"
        )
        if latest.reviewed_by:
            state["Người xử lý gần nhất"] = f"{latest.reviewed_by}, {fmt_datetime(latest.reviewed_at)}"
        if latest.review_comment:
            state["Ý kiến"] = latest.review_comment
    return state


def as_web_error(
    exc: ThiduaError, session: Session, assignment_id: int | None = None, back: str | None = None
) -> ThiduaError:
    """Add the page context (a link back; for a conflict the assignment's current state) to a service error and
    return it to be raised; the app's one handler turns it into a status and page by its category."""
    exc.detail.setdefault("back", back or (f"/don-vi/nghia-vu/{assignment_id}" if assignment_id else "/"))
    if exc.category == "conflict" and assignment_id is not None:
        exc.detail["current"] = assignment_state(session, assignment_id)
    return exc


@dataclass(frozen=True)
class Presented:
    status: int
    code: str  # the exception's class name, the stable `ma` of the JSON body
    title: str
    message: str
    detail: dict[str, Any]


def present(exc: ThiduaError) -> Presented:
    """The one mapping from any ThiduaError to what a user sees: status by category, a Vietnamese sentence,
    and structured detail (field errors, rule refusals, file problems, the current state)."""
    detail: dict[str, Any] = dict(exc.detail)
    if isinstance(exc, WebError):
        message = exc.message
    elif isinstance(exc, RulesRefused):
        detail["refusals"] = {label: [str(r) for r in reasons] for label, reasons in exc.refusals.items()}
        message = "Quy định khen thưởng chưa cho phép: " + "; ".join(
            f"{label}: {'; '.join(str(r) for r in reasons)}" for label, reasons in exc.refusals.items()
        )
    elif isinstance(exc, SpecError):
        detail["problems"] = [str(p) for p in exc.problems]
        message = f"Có {len(exc.problems)} lỗi trong tệp khai báo."
    elif isinstance(exc, ImportRejected):
        detail["problems"] = [str(p) for p in exc.problems]
        message = sentence(str(exc).splitlines()[0])
    elif isinstance(exc, FormInvalid):
        detail["errors"] = field_errors(exc)
        message = sentence(str(exc).splitlines()[0])
    else:
        lines = str(exc).splitlines()
        message = sentence(lines[0]) if lines else HTTP_TITLE[exc.category] + "."
    if exc.category == "conflict" and not isinstance(exc, WebError):
        message += (
            " Tình trạng hiện tại ở dưới; hãy mở lại trang rồi thao tác lại nếu cần."
            if detail.get("current")
            else " Hãy mở lại trang để xem tình trạng hiện tại."
        )
    return Presented(exc.http_status, type(exc).__name__, title_of(exc), message, detail)
