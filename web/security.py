"""Request-level protections: session cookie handling, CSRF tokens, rate limits, security headers."""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections import deque
from http.cookies import SimpleCookie
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from thidua.settings import Settings
from thidua.web.auth import SESSION_COOKIE, SESSION_TTL, WebSession, decode_session, encode_session, new_session
from thidua.web.errors import CsrfRejected, RateLimited

log = logging.getLogger("thidua.web")

CSRF_FIELD = "_csrf"
CSRF_HEADER = "x-csrf-token"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's interactive documentation loads its script and style from a CDN and starts with an inline script.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/api/docs", "/api/redoc")


# ---------------------------------------------------------------------------------------------------
# CSRF: one token per session, derived from the session id (rotated at sign-in with the id)
# ---------------------------------------------------------------------------------------------------
def csrf_token(settings: Settings, session: WebSession) -> str:
    digest = hmac.new(settings.signing_key().encode(), f"csrf:{session.sid}".encode(), hashlib.sha256)
    return digest.hexdigest()[:40]


def check_csrf(settings: Settings, session: WebSession | None, supplied: str | None) -> None:
    if session is None or not supplied or not hmac.compare_digest(csrf_token(settings, session), supplied):
        raise CsrfRejected(
            "Biểu mẫu đã hết hiệu lực hoặc không phát ra từ trang này. Hãy tải lại trang rồi thực hiện lại."
        )


# ---------------------------------------------------------------------------------------------------
# Rate limits (in memory, per process)
# ---------------------------------------------------------------------------------------------------
class RateLimiter:
    """At most `limit` hits per `window_seconds` for each key (sliding window)."""

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Record a hit; returns 0 when allowed, else the seconds until the next hit would be."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return hits[0] + self.window - now
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle keys now and then
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.window}
            return 0.0


class LinkRequestLimits:
    """Sign-in link requests: per e-mail (stops mail-bombing someone) and per client address."""

    def __init__(self, per_email: int = 5, per_ip: int = 20, window_seconds: float = 15 * 60):
        self.by_email = RateLimiter(per_email, window_seconds)
        self.by_ip = RateLimiter(per_ip, window_seconds)

    def check(self, email: str, ip: str) -> None:
        for limiter, key in ((self.by_ip, ip), (self.by_email, email)):
            wait = limiter.hit(key)
            if wait:
                minutes = max(1, round(wait / 60))
                raise RateLimited(
                    f"Đã có quá nhiều yêu cầu gửi liên kết đăng nhập. Vui lòng thử lại sau khoảng {minutes} phút.",
                    retry_after_seconds=int(wait) + 1,
                )


# ---------------------------------------------------------------------------------------------------
# ASGI middleware: session cookie in, cookie and security headers out
# ---------------------------------------------------------------------------------------------------
def _cookie_value(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header is treated as no cookie
                return None
            if name in jar:
                return jar[name].value
    return None


class WebSecurityMiddleware:
    """Loads the session (a fresh anonymous one when there is none, so that every form has a CSRF token),
    writes it back when a handler replaced it, and adds the security headers to every response.

    Handlers read `request.state.web_session` and replace it with `set_session(request, ...)`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        clock: Callable[[], Any],
        error_response: Callable[[Request], Response],
    ):
        self.app = app
        self.settings = settings
        self.clock = clock
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        now = self.clock()
        state = scope.setdefault("state", {})
        current = decode_session(self.settings, _cookie_value(scope, SESSION_COOKIE), now=now)
        state["web_session"] = current or new_session(now)
        state["web_session_changed"] = current is None
        path: str = scope.get("path", "")
        secure = scope.get("scheme") == "https" or self.settings.base_url.startswith("https://")

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                csp = DOCS_CONTENT_SECURITY_POLICY if path.startswith(DOCS_PATHS) else CONTENT_SECURITY_POLICY
                extra = [
                    (b"content-security-policy", csp.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),  # links carry tokens: never leak them
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                ]
                if not path.startswith("/static/"):
                    extra.append((b"cache-control", b"no-store"))
                headers.extend((k, v) for k, v in extra if k not in names)
                if state.get("web_session_changed") and not path.startswith("/static/"):
                    headers.append((b"set-cookie", self._cookie(state["web_session"], secure).encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("Lỗi không lường trước khi xử lý %s %s", scope.get("method"), path)
            if started:
                raise
            await self.error_response(Request(scope, receive))(scope, receive, send_with_headers)

    def _cookie(self, data: WebSession, secure: bool) -> str:
        value = encode_session(self.settings, data)
        parts = [f"{SESSION_COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if data.signed_in:
            parts.append(f"Max-Age={int(SESSION_TTL.total_seconds())}")
        if secure:
            parts.append("Secure")
        return "; ".join(parts)
