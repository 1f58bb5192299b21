"""Sign-in pages: ask for a link, follow it, choose a unit, sign out."""

from __future__ import annotations


from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import Session

from thidua.audit import audit
from thidua.models.emails import is_valid_email
from thidua.models.tables import Unit
from thidua.web.auth import (
    LinkClaims,
    record_sign_in,
    issue_login_link,
    new_session,
    normalise_email,
    read_link,
    safe_next_path,
    users_for_email,
)
from thidua.web.deps import (
    csrf_protect,
    db,
    now,
    optional_principal,
    principal,
    revoke_session,
    set_session,
    sign_out,
    write_turn,
)
from thidua.web.errors import BadLink, Forbidden, LinkReused
from thidua.web.models import LoginToken, RevokedSession
from thidua.web.permissions import Principal
from thidua.web.rendering import render

router = APIRouter(dependencies=[Depends(csrf_protect)])


def home_path(p: Principal) -> str:
    if p.is_office:
        return "/van-phong"
    if p.is_reviewer:
        return "/duyet"
    return "/don-vi"


@router.get("/")
def home(current: Principal | None = Depends(optional_principal)) -> Response:
    return RedirectResponse(home_path(current) if current else "/dang-nhap", status_code=303)


@router.get("/dang-nhap")
def sign_in_form(
    request: Request, next: str = "/", current: Principal | None = Depends(optional_principal)
) -> Response:
    if current is not None:
        return RedirectResponse(safe_next_path(next) if next != "/" else home_path(current), status_code=303)
    return render(request, "auth/sign_in.html", {"next": safe_next_path(next), "email": "", "errors": {}})


@router.post("/dang-nhap")
def request_link(
    request: Request,
    background: BackgroundTasks,
    email: str = Form(""),
    next: str = Form("/"),
    session: Session = Depends(db),
) -> Response:
    typed = email.strip()
    if not is_valid_email(typed):
        errors = {"email": "Địa chỉ e-mail chưa đúng dạng (ví dụ: tenban@ldld.binhdinh.vn)."}
        return render(
            request,
            "auth/sign_in.html",
            {"next": safe_next_path(next), "email": typed, "errors": errors},
            status_code=422,
        )
    client = request.client.host if request.client else "?"
    request.app.state.link_limits.check(normalise_email(typed), client)
    with write_turn(request):
        issued = issue_login_link(session, request.app.state.settings, typed, now=now(request), next_path=next)
    sender = request.app.state.send_mail_now
    if issued is not None and sender is not None:
        background.add_task(sender, f"login:{issued[0].jti}")
    # The same answer whether or not the address has an account: the page must not reveal who does.
    return render(request, "auth/link_sent.html", {"email": typed})


def _confirm_page(request: Request, token: str, claims: LinkClaims, session: Session) -> Response:
    unit_name = None
    if claims.unit_id is not None:
        unit_name = session.execute(select(Unit.name).where(Unit.id == claims.unit_id)).scalar_one_or_none()
    return render(request, "auth/confirm.html", {"token": token, "claims": claims, "unit_name": unit_name})


def show_link(request: Request, token: str, session: Session) -> Response:
    """A link opened from an e-mail: checked, then confirmed with a button, because mail scanners
    open links too and must not use them up."""
    claims = read_link(request.app.state.settings, token, now=now(request))
    used = session.execute(select(LoginToken.used_at).where(LoginToken.jti == claims.jti)).scalar_one_or_none()
    if used is not None:
        raise LinkReused("Liên kết này đã được dùng. Mỗi liên kết chỉ đăng nhập được một lần.")
    return _confirm_page(request, token, claims, session)


@router.get("/dang-nhap/lien-ket")
def open_link(request: Request, t: str = "", session: Session = Depends(db)) -> Response:
    return show_link(request, t, session)


@router.post("/dang-nhap/lien-ket")
def use_link(request: Request, t: str = Form(""), session: Session = Depends(db)) -> Response:
    moment = now(request)
    claims = read_link(request.app.state.settings, t, now=moment)
    users = users_for_email(session, claims.email, claims.unit_id)
    if not users:
        raise BadLink("Tài khoản gắn với liên kết này không còn hoạt động. Hãy liên hệ văn phòng chiến dịch.")
    try:
        with write_turn(request):
            user = users[0]
            record_sign_in(session, claims, user, now=moment)
    except LinkReused:
        current = request.state.web_session
        if current.signed_in and current.email == claims.email:
            return RedirectResponse(claims.target_path, status_code=303)  # already signed in: nothing to grant
        raise
    set_session(request, new_session(moment, user))
    if len(users) > 1:
        return RedirectResponse(f"/chon-don-vi?next={claims.target_path}", status_code=303)
    return RedirectResponse(claims.target_path, status_code=303)


@router.get("/chon-don-vi")
def choose_unit_form(
    request: Request, next: str = "/", me: Principal = Depends(principal), session: Session = Depends(db)
) -> Response:
    users = users_for_email(session, me.email)
    units = {u.id: u for u in session.execute(select(Unit).where(Unit.id.in_([x.unit_id for x in users]))).scalars()}
    choices = [(u, units[u.unit_id]) for u in users]
    return render(request, "auth/choose_unit.html", {"choices": choices, "next": safe_next_path(next)})


@router.post("/chon-don-vi")
def choose_unit(
    request: Request,
    user_id: int = Form(...),
    next: str = Form("/"),
    me: Principal = Depends(principal),
    session: Session = Depends(db),
) -> Response:
    chosen = [u for u in users_for_email(session, me.email) if u.id == user_id]
    if not chosen:
        raise Forbidden("Tài khoản được chọn không thuộc địa chỉ e-mail của bạn.")
    set_session(request, new_session(now(request), chosen[0]))
    return RedirectResponse(safe_next_path(next), status_code=303)


@router.post("/dang-xuat")
def sign_out_route(request: Request, session: Session = Depends(db)) -> Response:
    current = request.state.web_session
    if current.signed_in:
        moment = now(request)
        with write_turn(request):
            already = session.get(RevokedSession, current.sid)
            if already is None:
                revoke_session(session, current, moment)
                audit(
                    session,
                    actor=current.email or "?",
                    action="auth.signed_out",
                    entity="user",
                    entity_id=current.user_id,
                    after=None,
                    at=moment,
                )
            session.commit()
    sign_out(request)
    return RedirectResponse("/dang-nhap", status_code=303)
