"""FastAPI dependencies shared by the routes: database session, clock, signed-in person, CSRF check."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from contextlib import contextmanager
from typing import Any, AsyncIterator, Iterator

from fastapi import Depends, Request
from sqlalchemy import delete, insert, literal, select
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.datastructures import FormData

from thidua.models.clock import utc_to_local
from thidua.models.tables import Unit, User
from thidua.settings import Settings
from thidua.web.auth import SESSION_TTL, WebSession, new_session
from thidua.web.errors import NotSignedIn
from thidua.web.models import ApiToken, RevokedSession
from thidua.web.permissions import Principal, Role
from thidua.web.security import CSRF_FIELD, CSRF_HEADER, check_csrf, csrf_token


def app_settings(request: Request) -> Settings:
    return request.app.state.settings


def app_engine(request: Request) -> Engine:
    return request.app.state.engine


def now(request: Request) -> datetime:
    """The application's clock (tests and demos set it; see create_app)."""
    return request.app.state.clock()


def today(request: Request) -> date:
    return utc_to_local(request.app.state.clock(), request.app.state.settings.timezone).date()


async def db(request: Request) -> AsyncIterator[Session]:
    """One session per request; routes that change state commit explicitly. Opened and closed on the event
    loop (closing only hands the connection back): were the closing left to a worker thread, a burst of
    requests holding every worker while waiting for a connection could never get one back."""
    session = Session(request.app.state.engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


async def form_data(request: Request) -> FormData:
    """The posted form, read on the event loop so that the route itself can be a plain (threaded) function."""
    return await request.form()


@contextmanager
def write_turn(request: Request) -> Iterator[None]:
    """SQLite has one writer at a time: writers of this process take turns here instead of polling the
    database lock (whose back-off adds tens of milliseconds under load). PostgreSQL needs no turn.
    Afterwards the dashboard's figures are out of date."""
    gate = request.app.state.write_gate
    if gate is None:
        yield
    else:
        with gate:
            yield
    request.app.state.figures.changed()


def web_session(request: Request) -> WebSession:
    return request.state.web_session


def set_session(request: Request, data: WebSession) -> None:
    request.state.web_session = data
    request.state.web_session_changed = True


def sign_out(request: Request) -> None:
    set_session(request, new_session(now(request)))


def revoke_session(session: Session, data: WebSession, moment: datetime) -> None:
    """Record that a signed-in cookie must no longer be honoured (a copy of it dies with it), and forget
    revocations of cookies that have expired anyway. The caller commits."""
    table = RevokedSession.__table__  # type: ignore[attr-defined]
    session.execute(delete(table).where(table.c.expires_at < moment))
    session.execute(
        insert(table).values(
            sid=data.sid, user_id=data.user_id, revoked_at=moment, expires_at=data.issued_at + SESSION_TTL
        )
    )


def principal_for_user(session: Session, user_id: int, email: str | None, sid: str | None = None) -> Principal | None:
    """The signed-in person; None when the account or unit is inactive, or (`sid` given) the session was revoked."""
    revoked = (
        select(RevokedSession.sid).where(RevokedSession.sid == sid).exists() if sid is not None else literal(False)
    )
    row = session.execute(
        select(User, Unit, revoked).join(Unit, Unit.id == User.unit_id).where(User.id == user_id)
    ).first()
    if row is None or row[2]:
        return None
    user, unit, _ = row
    if not user.active or not unit.active or (email is not None and user.email.strip().lower() != email):
        return None
    try:
        role = Role(user.role)
    except ValueError:
        return None
    return Principal(
        user_id=user.id,
        email=user.email.strip().lower(),
        full_name=user.full_name,
        role=role,
        unit_id=unit.id,
        unit_code=unit.code,
        unit_name=unit.name,
        unit_path=unit.path,
        unit_level=unit.level_code,
        unit_sector=unit.sector,
    )


def _bearer_principal(request: Request, session: Session) -> Principal | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    digest = hashlib.sha256(header[7:].strip().encode()).hexdigest()
    token = (
        session.execute(select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None)))
        .scalars()
        .first()
    )
    if token is None:
        raise NotSignedIn("Mã truy cập (bearer token) không hợp lệ hoặc đã bị thu hồi.")
    request.state.auth_by_bearer = True
    return principal_for_user(session, token.user_id, None)


def optional_principal(request: Request, session: Session = Depends(db)) -> Principal | None:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = _bearer_principal(request, session)
    if principal is None:
        data: WebSession = request.state.web_session
        if data.signed_in:
            principal = principal_for_user(session, data.user_id, data.email, data.sid)  # type: ignore[arg-type]
            if principal is None:  # signed out elsewhere, account deactivated or moved since sign-in
                sign_out(request)
    request.state.principal = principal
    return principal


def principal(request: Request, current: Principal | None = Depends(optional_principal)) -> Principal:
    if current is None:
        raise NotSignedIn("Vui lòng đăng nhập để tiếp tục.")
    return current


async def csrf_protect(request: Request) -> None:
    """Every state-changing request carries the session's CSRF token (form field or header);
    API calls authenticated by a bearer token carry no cookie and need none."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    supplied = request.headers.get(CSRF_HEADER)
    if supplied is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        supplied = value if isinstance(value, str) else None
    check_csrf(request.app.state.settings, request.state.web_session, supplied)


# Confirmations shown after a redirect (?tb=<code>): fixed texts, so no message can be injected by a URL.
NOTICES = {
    "da-gui": "Đã gửi. Đơn vị cấp trên sẽ xem xét và phản hồi.",
    "da-duyet": "Đã duyệt.",
    "da-tra-lai": "Đã trả lại kèm ý kiến cho đơn vị.",
    "da-chuyen": "Đã chuyển lên cấp trên.",
    "da-duyet-cho-chuyen": "Đã duyệt; đề nghị nằm trong danh sách chờ gửi cấp trên kèm tờ trình của đơn vị.",
    "da-tu-choi": "Đã từ chối.",
    "da-quyet-dinh": "Đã ghi quyết định khen thưởng.",
    "da-dinh-kem": "Đã đính kèm tệp minh chứng.",
    "da-go-tep": "Đã gỡ tệp minh chứng.",
    "da-gop-y": "Đã ghi nhận ý kiến của bạn. Cảm ơn bạn đã góp ý.",
    "da-ghi": "Đã ghi.",
    "da-huy-qd": "Đã hủy quyết định khen thưởng.",
    "duyet-hang-loat": "Đã duyệt các hồ sơ được chọn.",
    "da-de-xuat": "Đã ghi đề nghị khen thưởng; đề nghị nằm trong danh sách chờ gửi tờ trình lên cấp trên.",
    "da-rut": "Đã rút đề nghị.",
    "khong-de-nghi": "Đã ghi: đơn vị không có đề nghị khen thưởng trong đợt này. Hệ thống thôi nhắc việc.",
    "da-gui-danh-sach": "Đã gửi danh sách đề nghị lên cấp trên; nghĩa vụ đề xuất khen thưởng của đơn vị đã hoàn thành.",
    "lich-moi": "Đã tạo địa chỉ lịch mới; địa chỉ cũ không còn dùng được.",
    "da-them": "Đã thêm người dùng.",
    "da-nhap": "Đã nhập người dùng từ e-mail của các đơn vị.",
}


def template_globals(request: Request) -> dict[str, Any]:
    """What every page needs: the person, the CSRF token, today's date, a confirmation if any."""
    web_session = getattr(request.state, "web_session", None)
    return {
        "me": getattr(request.state, "principal", None),
        "csrf": csrf_token(request.app.state.settings, web_session) if web_session else "",
        "today": today(request),
        "notice": NOTICES.get(request.query_params.get("tb", "")),
    }
