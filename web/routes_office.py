"""The campaign office: the province at a glance, the audit log, accounts."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy import func, or_, select
from sqlmodel import Session
from starlette.background import BackgroundTask
from starlette.datastructures import FormData

from thidua.errors import InvalidFields
from thidua.models.clock import parse_date
from thidua.models.nominations import STATUS_LABELS as NOMINATION_STATUS_LABELS
from thidua.models.submissions import SubmissionError
from thidua.models.tables import Level, Unit, User
from thidua.services.nominations import write_award_register
from thidua.services.reports import build_final_report, build_round_report
from thidua.services.units import subtree_clause
from thidua.web import office_views
from thidua.web.deps import csrf_protect, db, form_data, now, principal, write_turn
from thidua.web.errors import InvalidInput, NotFound, Refused
from thidua.web.permissions import Principal, Role, require, require_office
from thidua.web.queries import pick_campaign
from thidua.web.rendering import render
from thidua.web.service_errors import sentence
from thidua.web.users import add_user, import_from_units

router = APIRouter(dependencies=[Depends(csrf_protect)])

AUDIT_PAGE = 100


@router.get("/van-phong")
def dashboard(
    request: Request,
    chien_dich: str | None = None,
    nghia_vu: str | None = None,
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    require_office(me)
    campaign = pick_campaign(session, me, chien_dich)
    if campaign is None:
        return render(request, "office/dashboard.html", {"campaign": None})
    board, targets = office_views.office_figures(request.app.state.figures, me, campaign, nghia_vu)
    return render(
        request,
        "office/dashboard.html",
        {
            "campaign": campaign,
            "d": board.value,
            "computed_at": board.computed_at,
            "targets": targets,
            "pipeline_columns": office_views.PIPELINE_COLUMNS,
            "nomination_labels": {s.value: label for s, label in NOMINATION_STATUS_LABELS.items()},
            "pdf_available": _pdf_available(),
            "target_chart": office_views.target_chart,
        },
    )


@router.get("/tien-do")
def subtree_progress(
    request: Request,
    chien_dich: str | None = None,
    nghia_vu: str | None = None,
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    """A federation's own units: who has not sent, who is overdue — the office's figures, for its subtree."""
    has_units = session.execute(
        select(Unit.id).where(Unit.parent_id == me.unit_id, Unit.active.is_(True)).limit(1)
    ).first()
    require(
        has_units is not None and (me.is_reviewer or me.is_office or me.role == Role.UNIT_OFFICER),
        "xem tiến độ của đơn vị trực thuộc (trang dành cho đơn vị có đơn vị trực thuộc)",
    )
    campaign = pick_campaign(session, me, chien_dich)
    if campaign is None:
        return render(request, "office/dashboard.html", {"campaign": None, "district": True})
    cache = request.app.state.figures
    board = cache.get(
        ("tien-do", campaign.id, me.unit_id, nghia_vu),
        lambda s: office_views.dashboard(s, me, campaign, cache.clock(), obligation_code=nghia_vu),
    )
    return render(
        request,
        "office/dashboard.html",
        {
            "campaign": campaign,
            "d": board.value,
            "computed_at": board.computed_at,
            "targets": None,
            "district": True,
        },
    )


# ---------------------------------------------------------------------------------------------------
# Audit log
# ---------------------------------------------------------------------------------------------------
def _day(text: str, field: str, errors: dict[str, str]) -> date | None:
    if not text.strip():
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        errors[field] = sentence(str(exc))
        return None


@router.get("/van-phong/nhat-ky")
def audit_log(
    request: Request,
    don_vi: str = "",
    tu_ngay: str = "",
    den_ngay: str = "",
    thao_tac: str = "",
    trang: int = 1,
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    require_office(me)
    errors: dict[str, str] = {}
    since, until = _day(tu_ngay, "tu_ngay", errors), _day(den_ngay, "den_ngay", errors)
    rows, total, page = [], 0, max(trang, 1)
    try:
        conditions = office_views.audit_conditions(
            session, me, don_vi, since, until, thao_tac, tz=request.app.state.settings.timezone
        )
    except InvalidInput as exc:
        errors.update(exc.errors)
    if not errors:
        total, rows = office_views.audit_page(session, conditions, page=page, size=AUDIT_PAGE)
    return render(
        request,
        "office/audit.html",
        {
            "rows": rows,
            "total": total,
            "errors": errors,
            "page": page,
            "pages": (total + AUDIT_PAGE - 1) // AUDIT_PAGE,
            "q": {"don_vi": don_vi, "tu_ngay": tu_ngay, "den_ngay": den_ngay, "thao_tac": thao_tac},
        },
        status_code=422 if errors else 200,
    )


# ---------------------------------------------------------------------------------------------------
# Accounts
# ---------------------------------------------------------------------------------------------------
def _users_page(
    request: Request,
    session: Session,
    me: Principal,
    *,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    q: str = "",
    status_code: int = 200,
) -> Response:
    query = select(User, Unit.code, Unit.name).join(Unit, Unit.id == User.unit_id).where(subtree_clause(me.unit_path))
    if q.strip():
        needle = f"%{q.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(User.email).like(needle),
                func.lower(Unit.code).like(needle),
                func.lower(Unit.name).like(needle),
            )
        )
    rows = session.execute(query.order_by(Unit.path, User.email).limit(200)).all()
    return render(
        request,
        "office/users.html",
        {
            "rows": rows,
            "typed": typed or {"role": Role.UNIT_OFFICER.value},
            "errors": errors or {},
            "q": q,
            "roles": list(Role),
        },
        status_code=status_code,
    )


@router.get("/van-phong/nguoi-dung")
def users(
    request: Request, q: str = "", me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    require_office(me)
    return _users_page(request, session, me, q=q)


@router.post("/van-phong/nguoi-dung")
def create_user(
    request: Request,
    form: FormData = Depends(form_data),
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    require_office(me)
    typed = {k: str(form.get(k) or "").strip() for k in ("email", "unit", "role", "full_name")}
    unit = session.execute(select(Unit.path).where(Unit.code == typed["unit"])).scalar_one_or_none()
    try:
        if unit is not None and not unit.startswith(me.unit_path):
            raise InvalidInput("Chưa thêm được người dùng.", {"unit": "đơn vị này nằm ngoài phạm vi của văn phòng"})
        with write_turn(request):
            add_user(
                session,
                email=typed["email"],
                unit_code=typed["unit"],
                role=typed["role"],
                full_name=typed["full_name"],
                actor=me.actor,
                now=now(request),
            )
    except InvalidFields as exc:
        return _users_page(request, session, me, typed=typed, errors=exc.errors, status_code=422)
    return RedirectResponse("/van-phong/nguoi-dung?tb=da-them", status_code=303)


@router.post("/van-phong/nguoi-dung/nhap-tu-don-vi")
def import_users(request: Request, me: Principal = Depends(principal), session: Session = Depends(db)) -> Response:
    require_office(me)
    with write_turn(request):
        import_from_units(session, actor=me.actor, now=now(request), root_code=me.unit_code)
    return RedirectResponse("/van-phong/nguoi-dung?tb=da-nhap", status_code=303)


# ---------------------------------------------------------------------------------------------------
# Reminder delivery problems
# ---------------------------------------------------------------------------------------------------
@router.get("/van-phong/thu-loi")
def delivery_failures(
    request: Request, chien_dich: str | None = None, me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    require_office(me)
    campaign = pick_campaign(session, me, chien_dich)
    rows = office_views.failed_mail(session, me, campaign.id if campaign else None, limit=500) if campaign else []
    return render(request, "office/failures.html", {"campaign": campaign, "rows": rows})


# ---------------------------------------------------------------------------------------------------
# Exports (the reports service writes the files; consolidation it runs is idempotent)
# ---------------------------------------------------------------------------------------------------
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",  # the Word report through LibreOffice, where it is installed
}


def _pdf_available() -> bool:
    from thidua.services.pdf import soffice_path

    return soffice_path() is not None


def _file_response(path: Path, folder: Path, ext: str) -> Response:
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[ext],
        filename=path.name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


def _export(request: Request, me: Principal, session: Session, build, ext: str) -> Response:  # noqa: ANN001
    require_office(me)
    if ext not in MEDIA_TYPES:
        raise NotFound("Chỉ xuất được tệp .xlsx, .docx hoặc .pdf.")
    campaign = pick_campaign(session, me, None)
    if campaign is None:
        raise NotFound("Chưa có chiến dịch nào.")
    folder = Path(tempfile.mkdtemp(prefix="thidua-xuat-"))
    try:
        with write_turn(request):
            files = build(session, campaign, folder)
    except SubmissionError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise Refused(sentence(str(exc)), detail={"back": "/van-phong"}) from None
    if ext == "pdf":
        from thidua.services.pdf import to_pdf

        try:
            return _file_response(to_pdf([files.docx], folder / "pdf")[0], folder, ext)
        except Exception:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return _file_response(files.xlsx if ext == "xlsx" else files.docx, folder, ext)


@router.get("/van-phong/xuat/so-ket-dot-{round_number:int}.{ext}")
def export_round(
    request: Request, round_number: int, ext: str, me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    return _export(
        request,
        me,
        session,
        lambda s, c, out: build_round_report(
            s, campaign_code=c.code, round_number=round_number, out_dir=out, now=now(request), actor=me.actor
        ),
        ext,
    )


@router.get("/van-phong/xuat/tong-ket.{ext}")
def export_final(
    request: Request, ext: str, me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    return _export(
        request,
        me,
        session,
        lambda s, c, out: build_final_report(s, campaign_code=c.code, out_dir=out, now=now(request), actor=me.actor),
        ext,
    )


@router.get("/van-phong/xuat/so-khen-thuong.xlsx")
def export_award_register(
    request: Request, me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    require_office(me)
    campaign = pick_campaign(session, me, None)
    if campaign is None:
        raise NotFound("Chưa có chiến dịch nào.")
    folder = Path(tempfile.mkdtemp(prefix="thidua-xuat-"))
    path = write_award_register(
        request.app.state.engine, campaign.id, folder / f"so-khen-thuong-{campaign.code}.xlsx", now=now(request)
    )
    return _file_response(path, folder, "xlsx")


# ---------------------------------------------------------------------------------------------------
# A unit as of a date (the tree's history)
# ---------------------------------------------------------------------------------------------------
@router.get("/van-phong/don-vi/{code}")
def unit_as_of_page(
    request: Request, code: str, ngay: str = "", me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    """The unit as it stood on a day (default today): name, level, parent chain, children, and its versions."""
    from thidua.models.clock import utc_to_local, utcnow
    from thidua.services import unit_history

    require_office(me)
    errors: dict[str, str] = {}
    day = _day(ngay, "ngay", errors) or utc_to_local(utcnow()).date()
    if errors:
        raise InvalidInput(errors["ngay"])
    unit = unit_history.unit_as_of(session, code, day)
    if unit is None:
        raise NotFound(f"Đơn vị '{code}' không có hoặc chưa tồn tại vào ngày {day:%d/%m/%Y}.")
    levels = {row.code: row.short_name or row.name for row in session.execute(select(Level)).scalars()}
    return render(
        request,
        "office/unit_as_of.html",
        {
            "unit": unit,
            "day": day,
            "levels": levels,
            "chain": unit_history.ancestors_as_of(session, unit, day),
            "children": unit_history.children_as_of(session, unit.id, day),
            "versions": unit_history.unit_versions(session, unit.id),
        },
    )
