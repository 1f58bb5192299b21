"""The web application: server-rendered pages for units, reviewers and the campaign office, and the same
actions as a JSON API under /api/v1."""

from __future__ import annotations

import logging
import math
import threading
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import AsyncIterator, Callable
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as SqlTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import thidua.web.models  # noqa: F401  (registers the web tables before the schema is created)
from thidua.models.clock import utcnow
from thidua.db import get_engine, storage_failure
from thidua.errors import ThiduaError
from thidua.settings import Settings, get_settings
from thidua.web import (
    mail,
    routes_api,
    routes_auth,
    routes_commendation,
    routes_nominations,
    routes_office,
    routes_review,
    routes_unit,
    routes_unsubscribe,
    routes_clusters,
)
from thidua.web.capacity import RequestLimitMiddleware, request_slots
from thidua.web.errors import BadLink, InvalidInput, NotFound, NotSignedIn, RateLimited
from thidua.web.rendering import make_templates, render
from thidua.web.service_errors import present
from thidua.web.security import LinkRequestLimits, WebSecurityMiddleware
from thidua.web.sqlite_tuning import start_background_checkpoints
from thidua.web.figure_cache import FigureCache

log = logging.getLogger("thidua.web")
STATIC_DIR = Path(__file__).resolve().parent / "static"

HTTP_TITLES = {
    400: "Yêu cầu không hợp lệ",
    403: "Không có quyền",
    404: "Không tìm thấy trang",
    405: "Thao tác không được hỗ trợ",
    413: "Dữ liệu gửi lên quá lớn",
    500: "Đã có lỗi xảy ra",
}


def create_app(
    settings: Settings | None = None, engine: Engine | None = None, *, clock: Callable[[], datetime] | None = None
) -> FastAPI:
    """`clock` (aware UTC) lets demos and tests run the campaign at a chosen date; default: real time."""
    settings = settings or get_settings()
    settings.signing_key()  # refuse to start with an example key; create the key file before the first request
    engine = engine or get_engine(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop_checkpoints = start_background_checkpoints(engine)
        yield
        if stop_checkpoints is not None:
            stop_checkpoints()

    app = FastAPI(
        lifespan=lifespan,
        title="Thi đua công đoàn – API",
        description="Các thao tác của trang web dưới dạng JSON. Xác thực bằng cookie phiên (kèm tiêu đề "
        "X-CSRF-Token khi gửi dữ liệu) hoặc tiêu đề `Authorization: Bearer <mã truy cập>`.",
        version="1",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        dependencies=[Depends(reject_numbers_out_of_range)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.clock = clock or utcnow
    app.state.templates = make_templates()
    app.state.link_limits = LinkRequestLimits()
    app.state.send_mail_now = mail.default_sender(settings, engine, clock=lambda: app.state.clock())
    app.state.figures = FigureCache(engine, clock=lambda: app.state.clock())
    app.state.write_gate = threading.Lock() if engine.dialect.name == "sqlite" else None

    app.add_middleware(
        WebSecurityMiddleware,
        settings=settings,
        clock=lambda: app.state.clock(),
        error_response=_unexpected_error_response,
    )
    app.add_middleware(RequestLimitMiddleware, slots=request_slots(engine))
    # Outermost: the client's address (sign-in rate limits) comes from X-Forwarded-For only via a trusted proxy.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _install_error_handlers(app)

    pages, api = _routers()
    for router in pages:
        app.include_router(router, include_in_schema=False)
    app.include_router(api)
    return app


def _routers() -> tuple[list[APIRouter], APIRouter]:
    pages = (
        routes_auth,
        routes_unit,
        routes_commendation,
        routes_nominations,
        routes_review,
        routes_office,
        routes_unsubscribe,
        routes_clusters,
    )
    return [m.router for m in pages], routes_api.router


def route_table() -> list[tuple[str, str]]:
    """Every (method, path) the application serves (pages and API), e.g. for the authorisation test."""
    pages, api = _routers()
    out = []
    for router in [*pages, api]:
        for route in router.routes:
            if isinstance(route, APIRoute):
                out.extend((method, route.path) for method in sorted(route.methods - {"HEAD"}))
    return sorted(out, key=lambda pair: (pair[1], pair[0]))


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _json_error(
    status: int, code: str, message: str, detail: dict | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"loi": {"ma": code, "thong_diep": message, "chi_tiet": _json_safe(detail or {})}},
        status_code=status,
        headers=headers,
    )


def _json_safe(value: object) -> object:
    """Echoed input may hold what JSON cannot carry (1e400 arrives as infinity): shown as text instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


LARGEST_ID = 2**63 - 1


async def reject_numbers_out_of_range(request: Request) -> None:
    """An id or number in the address beyond what a database integer holds names nothing: 404 for the path,
    422 for the query (instead of an overflow deep in the database driver)."""
    for value in request.path_params.values():
        if isinstance(value, str) and value.lstrip("-").isdigit() and abs(int(value)) > LARGEST_ID:
            raise NotFound("Không tìm thấy: mã số trong địa chỉ vượt quá giới hạn nên không thuộc hồ sơ nào.")
    for key, value in request.query_params.multi_items():
        if value.strip().lstrip("-").isdigit() and abs(int(value)) > LARGEST_ID:
            raise InvalidInput(f"Giá trị số của '{key}' vượt quá giới hạn cho phép.", {key: "vượt quá giới hạn"})


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ThiduaError)
    async def thidua_error(request: Request, exc: ThiduaError) -> Response:
        """The one handler: any error of the taxonomy (web or service layer) by its category."""
        shown = present(exc)
        headers = {"Retry-After": str(exc.retry_after_seconds)} if isinstance(exc, RateLimited) else None
        if _wants_json(request):
            return _json_error(shown.status, shown.code, shown.message, shown.detail, headers)
        if isinstance(exc, NotSignedIn):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/dang-nhap?next={quote(target)}", status_code=303)
        template = "auth/link_error.html" if isinstance(exc, BadLink) else "error.html"
        response = render(
            request,
            template,
            {"title": shown.title, "message": shown.message, "detail": shown.detail},
            status_code=shown.status,
        )
        if headers:
            response.headers.update(headers)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        title = HTTP_TITLES.get(exc.status_code, "Không thực hiện được")
        message = {
            404: "Trang hoặc hồ sơ bạn tìm không tồn tại (có thể địa chỉ bị gõ sai).",
            405: "Địa chỉ này không nhận thao tác như vậy.",
        }.get(exc.status_code, title)
        if _wants_json(request):
            return _json_error(exc.status_code, f"http_{exc.status_code}", message)
        return render(request, "error.html", {"title": title, "message": message}, status_code=exc.status_code)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def number_out_of_range(request: Request, exc: Exception) -> Response:
        """A number in the request the database cannot hold (SQLite: OverflowError while binding; PostgreSQL:
        numeric value out of range). Any other data error is an unexpected error."""
        if isinstance(exc, DataError) and "out of range" not in str(exc.orig).lower():
            raise exc
        return await thidua_error(
            request,
            InvalidInput(
                "Một giá trị số trong yêu cầu vượt quá giới hạn cho phép (mã số, phiên bản hoặc số liệu quá lớn).",
                {"so": "vượt quá giới hạn"},
            ),
        )

    @app.exception_handler(SqlTimeout)
    @app.exception_handler(OperationalError)
    async def database_busy(request: Request, exc: Exception) -> Response:
        """The database stayed locked (SQLite: another program holds it) or no connection came free in time:
        say so and when to retry; any other database failure is an unexpected error."""
        if isinstance(exc, OperationalError) and "locked" not in str(exc.orig).lower():
            failure = storage_failure(exc)  # a full disk: 503 with its message, the transaction rolled back
            if failure is None:
                raise exc
            log.error("Không ghi được cơ sở dữ liệu khi xử lý %s %s: %s", request.method, request.url.path, exc)
            return await thidua_error(request, failure)
        log.warning("Cơ sở dữ liệu bận khi xử lý %s %s: %s", request.method, request.url.path, exc)
        message = "Hệ thống đang bận (cơ sở dữ liệu đang bị khoá bởi một thao tác khác). Vui lòng thử lại sau ít phút."
        headers = {"Retry-After": "30"}
        if _wants_json(request):
            return _json_error(503, "DatabaseBusy", message, headers=headers)
        response = render(request, "error.html", {"title": "Hệ thống đang bận", "message": message}, status_code=503)
        response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        fields = sorted(
            {
                ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form"))
                for err in exc.errors()
            }
        )
        message = "Dữ liệu gửi lên không hợp lệ" + (
            f" (trường: {', '.join(f for f in fields if f)})." if fields else "."
        )
        if _wants_json(request):
            return _json_error(422, "InvalidInput", message, {"fields": fields})
        return render(request, "error.html", {"title": "Dữ liệu chưa hợp lệ", "message": message}, status_code=422)


def _unexpected_error_response(request: Request) -> Response:
    """Any error nobody anticipated: logged with its traceback, shown as a plain apology."""
    message = "Hệ thống gặp lỗi khi xử lý yêu cầu. Lỗi đã được ghi lại; vui lòng thử lại sau ít phút."
    if _wants_json(request):
        return _json_error(500, "InternalError", message)
    return render(request, "error.html", {"title": HTTP_TITLES[500], "message": message}, status_code=500)
