"""JSON API beside the pages (/api/v1): the same actions, the same rules, the same service calls.
Authenticate with the session cookie (send X-CSRF-Token with every POST) or `Authorization: Bearer <token>`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import Session

from thidua.models.awards import DossierEntry
from thidua.models.nominations import NominationError
from thidua.models.submissions import FormInvalid, Submission, SubmissionError
from thidua.models.emails import is_valid_email
from thidua.models.tables import Unit
from thidua.services import nominations as nomination_service
from thidua.services.submissions import submit_report
from thidua.web.auth import issue_login_link, normalise_email
from thidua.web.deps import csrf_protect, db, now, principal, write_turn
from thidua.web.errors import InvalidInput
from thidua.web.nomination_views import actor_for, readable
from thidua.web.nomination_views import as_web_error as nomination_error
from thidua.web.office_views import audit_conditions, audit_page, office_figures
from thidua.web.permissions import Principal, can_act_for_unit, can_read_unit, require, require_office, require_reviewer
from thidua.web.queries import assignment_view, pick_campaign, unit_obligations, unit_ref
from thidua.web.review_queries import QueueFilters, review_queue
from thidua.web.routes_nominations import HOLDER_ACTIONS, own_list, perform
from thidua.web.security import csrf_token
from thidua.web.routes_review import _reviewable, bulk_accept_items, decide_report
from thidua.web.routes_unit import form_fields, submission_history
from thidua.web.service_errors import as_web_error, field_errors

router = APIRouter(prefix="/api/v1", dependencies=[Depends(csrf_protect)], tags=["api"])


class Me(BaseModel):
    email: str
    full_name: str
    role: str
    unit_code: str
    unit_name: str


class OwedItem(BaseModel):
    assignment_id: int
    obligation_code: str
    title: str
    kind: str
    due_on: date
    status: str
    submitted_at: datetime | None
    late: bool


class SubmissionOut(BaseModel):
    version: int
    data: dict[str, Any]
    submitted_by: str
    submitted_at: datetime
    late: bool
    review_status: str
    review_comment: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None


class AssignmentOut(BaseModel):
    assignment_id: int
    unit_code: str
    obligation_code: str
    title: str
    due_on: date
    status: str
    version: int = Field(description="Gửi lại trong `expected_version` để phát hiện thay đổi đồng thời")
    fields: list[dict[str, Any]]
    history: list[SubmissionOut]


class SubmitIn(BaseModel):
    data: dict[str, Any] = Field(description="Giá trị các trường của biểu mẫu, theo mã trường")
    expected_version: int | None = None


class ReviewIn(BaseModel):
    action: Literal["accept", "return"]
    comment: str | None = None
    appraised_rating: str | None = None
    expected_version: int | None = None


class BulkAcceptIn(BaseModel):
    items: list[str] = Field(description="Mỗi mục dạng 'assignment_id:version'")


class BulkAcceptOut(BaseModel):
    accepted: int
    problems: list[str]


class LinkRequestIn(BaseModel):
    email: str
    next: str = "/"


class QueueItem(BaseModel):
    assignment_id: int
    assignment_version: int
    unit_code: str
    unit_name: str
    obligation_code: str
    submission_version: int
    submitted_at: datetime
    late: bool


class ComplianceOut(BaseModel):
    key: str
    label: str
    total: int
    submitted: int
    accepted: int
    returned: int
    overdue: int
    late: int
    done_percent: float


class TargetOut(BaseModel):
    code: str
    title: str
    target: float
    unit_of_measure: str
    deadline: date
    value: float | None
    percent_of_target: float | None
    verdict: str
    computed_at: datetime


class DashboardOut(BaseModel):
    campaign: str
    computed_at: datetime = Field(description="Lúc tính các số liệu (số liệu toàn quốc có thể cũ vài giây)")
    scope_unit: str
    obligations: list[ComplianceOut]
    selected_obligation: str | None
    by_level: list[ComplianceOut]
    by_branch: list[ComplianceOut]
    overdue_total: int
    delivery: dict[str, int]
    targets: list[TargetOut]
    nomination_pipeline: dict[str, dict[str, int]]


class AuditOut(BaseModel):
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    unit_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str


def _compliance(c) -> ComplianceOut:  # noqa: ANN001
    return ComplianceOut(
        key=c.key,
        label=c.label,
        total=c.total,
        submitted=c.submitted,
        accepted=c.accepted,
        returned=c.returned,
        overdue=c.overdue,
        late=c.late,
        done_percent=round(c.done_percent, 2),
    )


@router.get("/auth/csrf", summary="Mã CSRF của phiên hiện tại (gửi trong tiêu đề X-CSRF-Token)")
def csrf(request: Request) -> dict[str, str]:
    return {"csrf_token": csrf_token(request.app.state.settings, request.state.web_session)}


@router.post("/auth/link", status_code=202, summary="Yêu cầu liên kết đăng nhập qua e-mail")
def request_link(body: LinkRequestIn, request: Request, session: Session = Depends(db)) -> dict[str, str]:
    if not is_valid_email(body.email):
        raise InvalidInput("Địa chỉ e-mail chưa đúng dạng.", {"email": "địa chỉ e-mail chưa đúng dạng"})
    request.app.state.link_limits.check(normalise_email(body.email), request.client.host if request.client else "?")
    with write_turn(request):
        issued = issue_login_link(
            session, request.app.state.settings, body.email, now=now(request), next_path=body.next
        )
    if issued is not None and request.app.state.send_mail_now is not None:
        request.app.state.send_mail_now(f"login:{issued[0].jti}")
    return {"thong_diep": "Nếu địa chỉ có tài khoản, liên kết đăng nhập đã được gửi."}


@router.get("/me", response_model=Me, summary="Người đang đăng nhập")
def me_(me: Principal = Depends(principal)) -> Me:
    return Me(
        email=me.email, full_name=me.full_name, role=me.role.value, unit_code=me.unit_code, unit_name=me.unit_name
    )


@router.get("/assignments", response_model=list[OwedItem], summary="Nghĩa vụ của đơn vị trong chiến dịch")
def my_assignments(
    campaign: str | None = None, me: Principal = Depends(principal), session: Session = Depends(db)
) -> list[OwedItem]:
    chosen = pick_campaign(session, me, campaign)
    rows = unit_obligations(session, me.unit_id, chosen.id) if chosen else []
    return [
        OwedItem(
            assignment_id=r.assignment_id,
            obligation_code=r.obligation_code,
            title=r.obligation_title,
            kind=r.kind,
            due_on=r.due_on,
            status=r.status,
            submitted_at=r.submitted_at,
            late=r.late,
        )
        for r in rows
    ]


def _assignment_out(session: Session, assignment_id: int, me: Principal) -> AssignmentOut:
    view = assignment_view(session, assignment_id)
    require(can_read_unit(me, unit_ref(view.unit)), "xem nghĩa vụ của đơn vị khác")
    return AssignmentOut(
        assignment_id=view.assignment.id,
        unit_code=view.unit.code,
        obligation_code=view.obligation.code,
        title=view.obligation.title,
        due_on=view.assignment.due_on,
        status=view.assignment.status,
        version=view.assignment.version,
        fields=[f.model_dump(mode="json") for f in form_fields(view)],
        history=[_submission_out(s) for s in submission_history(session, view.assignment.id)],
    )


def _submission_out(s: Submission) -> SubmissionOut:
    return SubmissionOut(
        version=s.version,
        data=s.data,
        submitted_by=s.submitted_by,
        submitted_at=s.submitted_at,
        late=s.late,
        review_status=s.review_status,
        review_comment=s.review_comment,
        reviewed_by=s.reviewed_by,
        reviewed_at=s.reviewed_at,
    )


@router.get("/assignments/{assignment_id}", response_model=AssignmentOut, summary="Một nghĩa vụ, biểu mẫu và lịch sử")
def assignment(assignment_id: int, me: Principal = Depends(principal), session: Session = Depends(db)) -> AssignmentOut:
    return _assignment_out(session, assignment_id, me)


@router.post(
    "/assignments/{assignment_id}/submissions",
    response_model=AssignmentOut,
    status_code=201,
    summary="Gửi báo cáo (một bản mới)",
)
def submit(
    assignment_id: int,
    body: SubmitIn,
    request: Request,
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> AssignmentOut:
    view = assignment_view(session, assignment_id)
    require(can_act_for_unit(me, unit_ref(view.unit)), "gửi báo cáo thay cho đơn vị khác")
    try:
        with write_turn(request):
            submit_report(
                session,
                campaign_code=view.campaign.code,
                obligation_code=view.obligation.code,
                unit_code=view.unit.code,
                raw=body.data,
                actor=me.actor,
                acting_unit_code=me.unit_code,
                now=now(request),
                expected_version=body.expected_version,
                source="api",
            )
    except FormInvalid as exc:
        raise InvalidInput("Báo cáo chưa hợp lệ, chưa ghi gì.", field_errors(exc)) from None
    except SubmissionError as exc:
        raise as_web_error(exc, session, assignment_id) from None
    return _assignment_out(session, assignment_id, me)


@router.get("/review/queue", response_model=list[QueueItem], summary="Báo cáo chờ đơn vị mình duyệt, cũ nhất trước")
def queue(
    campaign: str | None = None,
    obligation: str | None = None,
    unit: str | None = None,
    late_only: bool = False,
    page: int = Query(1, ge=1),
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> list[QueueItem]:
    require_reviewer(me)
    chosen = pick_campaign(session, me, campaign)
    if chosen is None:
        return []
    rows, _ = review_queue(session, me, chosen.id, QueueFilters(obligation, unit, late_only, page))
    return [
        QueueItem(
            assignment_id=r.assignment_id,
            assignment_version=r.assignment_version,
            unit_code=r.unit_code,
            unit_name=r.unit_name,
            obligation_code=r.obligation_code,
            submission_version=r.submission_version,
            submitted_at=r.submitted_at,
            late=r.late,
        )
        for r in rows
    ]


@router.post("/review/bulk-accept", response_model=BulkAcceptOut, summary="Duyệt hàng loạt báo cáo thường kỳ")
def bulk_accept(
    body: BulkAcceptIn, request: Request, me: Principal = Depends(principal), session: Session = Depends(db)
) -> BulkAcceptOut:
    require_reviewer(me)
    with write_turn(request):
        accepted, problems = bulk_accept_items(session, me, body.items, now(request))
    return BulkAcceptOut(accepted=accepted, problems=problems)


@router.post("/review/{assignment_id}", response_model=AssignmentOut, summary="Duyệt hoặc trả lại một báo cáo")
def review(
    assignment_id: int,
    body: ReviewIn,
    request: Request,
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> AssignmentOut:
    view = _reviewable(session, me, assignment_id)
    try:
        with write_turn(request):
            decide_report(
                session,
                me,
                view,
                accept=body.action == "accept",
                comment=body.comment,
                rating=body.appraised_rating,
                version=body.expected_version,
                moment=now(request),
            )
    except SubmissionError as exc:
        raise as_web_error(exc, session, assignment_id) from None
    return _assignment_out(session, assignment_id, me)


@router.get("/office/dashboard", response_model=DashboardOut, summary="Toàn cảnh của văn phòng chiến dịch")
def dashboard(
    request: Request,
    campaign: str | None = None,
    obligation: str | None = None,
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> DashboardOut:
    require_office(me)
    chosen = pick_campaign(session, me, campaign)
    if chosen is None:
        raise InvalidInput("Chưa có chiến dịch nào.")
    board, figures = office_figures(request.app.state.figures, me, chosen, obligation)
    d = board.value
    targets = [
        TargetOut(
            code=t.code,
            title=t.title,
            target=t.target,
            unit_of_measure=t.unit_of_measure,
            deadline=t.deadline,
            value=t.scope[0].progress.figure.value if t.scope else None,
            percent_of_target=t.scope[0].progress.percent_of_target if t.scope else None,
            verdict=t.scope[0].progress.verdict if t.scope else "",
            computed_at=figures.computed_at,
        )
        for t in figures.value
    ]
    return DashboardOut(
        campaign=chosen.code,
        computed_at=board.computed_at,
        scope_unit=d.scope.code,
        obligations=[_compliance(c) for _, c in d.obligations],
        selected_obligation=d.selected.code if d.selected else None,
        by_level=[_compliance(c) for c in d.by_level],
        by_branch=[_compliance(c) for c in d.by_branch],
        overdue_total=d.overdue_total,
        delivery=d.delivery,
        targets=targets,
        nomination_pipeline={row.level: row.counts for row in d.pipeline},
    )


@router.get("/office/audit", response_model=list[AuditOut], summary="Nhật ký thao tác (mới nhất trước)")
def audit_log(
    request: Request,
    unit: str | None = None,
    since: date | None = None,
    until: date | None = None,
    action: str | None = None,
    page: int = Query(1, ge=1),
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> list[AuditOut]:
    require_office(me)
    conditions = audit_conditions(session, me, unit, since, until, action, tz=request.app.state.settings.timezone)
    _, rows = audit_page(session, conditions, page=page, size=100)
    return [
        AuditOut(
            at=r.at,
            actor=r.actor,
            action=r.action,
            entity=r.entity,
            entity_id=r.entity_id,
            unit_id=r.unit_id,
            before=r.before,
            after=r.after,
            note=r.note,
        )
        for r, _code, _name in rows
    ]


# ---------------------------------------------------------------------------------------------------
# Nominations
# ---------------------------------------------------------------------------------------------------
class DossierIn(BaseModel):
    ref: str = ""
    votes_for: int | None = None
    votes_total: int | None = None


class NominationOut(BaseModel):
    id: int
    version: int
    status: str
    status_label: str
    award_code: str
    award_name: str
    subject: str
    nominee_name: str
    nominee_unit: str
    occasion: str
    round_number: int | None
    origin_unit: str
    current_unit: str
    deciding_unit: str
    decision_number: str
    decision_date: date | None


class ProposalIn(BaseModel):
    award_code: str
    subject: Literal["collective", "individual"]
    nominee_unit_code: str
    achievement: str
    occasion: Literal["round", "year_end", "ad_hoc"] = "year_end"
    round_number: int | None = None
    person_name: str = ""
    person_position: str = ""
    theme: str = ""
    discipline: str = ""
    dossier: dict[str, DossierIn] = Field(default_factory=dict, description="Mã tài liệu → số, ký hiệu (và phiếu bầu)")


class NominationActionIn(BaseModel):
    action: Literal["approve", "return", "reject", "decide", "resubmit", "withdraw"]
    comment: str = ""
    expected_version: int | None = None
    decision_number: str = ""
    decision_date: date | None = None
    decision_signer: str = ""


class SendListIn(BaseModel):
    to_trinh_number: str
    to_trinh_date: date


def _nomination_out(v) -> NominationOut:  # noqa: ANN001
    return NominationOut(
        id=v.id,
        version=v.version,
        status=v.status,
        status_label=v.status_label,
        award_code=v.award_code,
        award_name=v.award_name,
        subject=v.subject,
        nominee_name=v.nominee_name,
        nominee_unit=v.nominee_unit,
        occasion=v.occasion,
        round_number=v.round_number,
        origin_unit=v.origin_unit,
        current_unit=v.current_unit,
        deciding_unit=v.deciding_unit,
        decision_number=v.decision_number,
        decision_date=v.decision_date,
    )


@router.get("/nominations", response_model=list[NominationOut], summary="Đề nghị khen thưởng của đơn vị mình")
def my_nominations(
    request: Request, campaign: str | None = None, me: Principal = Depends(principal), session: Session = Depends(db)
) -> list[NominationOut]:
    chosen = pick_campaign(session, me, campaign)
    if chosen is None:
        return []
    return [
        _nomination_out(v)
        for v in nomination_service.list_nominations(request.app.state.engine, chosen.id, origin_unit_id=me.unit_id)
    ]


@router.get("/review/nominations", response_model=list[NominationOut], summary="Đề nghị chờ đơn vị mình xét")
def nominations_queue(
    request: Request, campaign: str | None = None, me: Principal = Depends(principal), session: Session = Depends(db)
) -> list[NominationOut]:
    require_reviewer(me)
    chosen = pick_campaign(session, me, campaign)
    if chosen is None:
        return []
    return [
        _nomination_out(v) for v in nomination_service.reviewer_queue(request.app.state.engine, chosen.id, me.unit_id)
    ]


@router.post("/nominations", response_model=NominationOut, status_code=201, summary="Lập đề nghị khen thưởng")
def propose_nomination(
    body: ProposalIn, request: Request, me: Principal = Depends(principal), session: Session = Depends(db)
) -> NominationOut:
    chosen = pick_campaign(session, me, None)
    if chosen is None:
        raise InvalidInput("Chưa có chiến dịch nào.")
    nominee = session.execute(select(Unit).where(Unit.code == body.nominee_unit_code)).scalars().first()
    if nominee is None:
        raise InvalidInput(
            "Không có đơn vị được đề nghị.", {"nominee_unit_code": f"không có đơn vị mã '{body.nominee_unit_code}'"}
        )
    proposal_input = nomination_service.ProposalInput(
        award_code=body.award_code,
        subject=body.subject,
        nominee_unit_id=nominee.id,
        achievement=body.achievement,
        occasion=body.occasion,
        round_number=body.round_number,
        person_name=body.person_name,
        person_position=body.person_position,
        theme=body.theme,
        discipline=body.discipline,
        dossier={
            code: DossierEntry(ref=d.ref, votes_for=d.votes_for, votes_total=d.votes_total)
            for code, d in body.dossier.items()
        },
    )
    try:
        with write_turn(request):
            result = nomination_service.propose(
                request.app.state.engine, chosen.id, actor_for(me), [proposal_input], now=now(request)
            )
    except NominationError as exc:
        raise nomination_error(exc) from None
    return _nomination_out(nomination_service.get_nomination(request.app.state.engine, result.nomination_ids[0]))


@router.get("/nominations/{nomination_id}", response_model=NominationOut, summary="Một đề nghị khen thưởng")
def nomination(
    nomination_id: int, request: Request, me: Principal = Depends(principal), session: Session = Depends(db)
) -> NominationOut:
    view, _ = readable(session, request.app.state.engine, me, nomination_id)
    return _nomination_out(view)


API_TO_PAGE_ACTION = {
    "approve": "duyet",
    "return": "tra_lai",
    "reject": "tu_choi",
    "decide": "quyet_dinh",
    "resubmit": "gui_lai",
    "withdraw": "rut",
}


@router.post(
    "/nominations/{nomination_id}/actions",
    response_model=NominationOut,
    summary="Xét một đề nghị (duyệt, trả lại, không chấp nhận, quyết định) hoặc gửi lại, rút",
)
def nomination_action(
    nomination_id: int,
    body: NominationActionIn,
    request: Request,
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> NominationOut:
    engine = request.app.state.engine
    view, rights = readable(session, engine, me, nomination_id)
    action = API_TO_PAGE_ACTION[body.action]
    require(rights.hold_side if action in HOLDER_ACTIONS else rights.propose_side, "thực hiện thao tác này với đề nghị")
    typed = {
        "y_kien": body.comment,
        "so_quyet_dinh": body.decision_number,
        "nguoi_ky": body.decision_signer,
        "ngay_quyet_dinh": body.decision_date.strftime("%d/%m/%Y") if body.decision_date else "",
        "_phien_ban": "" if body.expected_version is None else str(body.expected_version),
    }
    with write_turn(request):
        errors = perform(engine, me, view, action, typed, now(request))
    if errors:
        raise InvalidInput("Thao tác chưa hợp lệ.", errors)
    return _nomination_out(nomination_service.get_nomination(engine, nomination_id))


@router.post("/nomination-lists/{batch_id}/send", response_model=dict, summary="Gửi danh sách đề nghị lên cấp trên")
def send_nomination_list(
    batch_id: int,
    body: SendListIn,
    request: Request,
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> dict[str, Any]:
    chosen = pick_campaign(session, me, None)
    if chosen is None:
        raise InvalidInput("Chưa có chiến dịch nào.")
    engine = request.app.state.engine
    own_list(engine, chosen.id, me, batch_id)
    try:
        with write_turn(request):
            sent = nomination_service.send_batch(
                engine,
                chosen.id,
                actor_for(me),
                batch_id=batch_id,
                now=now(request),
                to_trinh=nomination_service.DocumentRef(body.to_trinh_number, body.to_trinh_date),
            )
    except NominationError as exc:
        raise nomination_error(exc) from None
    return {"batch_id": sent.batch_id, "nomination_ids": sent.nomination_ids}
