"""Errors of the web adapter. Each carries the HTTP status and a Vietnamese message fit to show a user;
app.py turns them into an error page (or JSON under /api). Nothing else is ever shown: unexpected errors
become a generic 500 page, never a stack trace or SQL."""
from __future__ import annotations

from typing import Any


class WebError(Exception):
    status = 400
    title = "Yêu cầu không hợp lệ"

    def __init__(self, message: str, *, detail: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail or {}


class NotSignedIn(WebError):
    status = 401
    title = "Cần đăng nhập"


class Forbidden(WebError):
    status = 403
    title = "Không có quyền"


class CsrfRejected(Forbidden):
    title = "Biểu mẫu đã hết hiệu lực"


class NotFound(WebError):
    status = 404
    title = "Không tìm thấy"


class Conflict(WebError):
    """Someone acted first: the page was stale. `detail` describes the current state."""

    status = 409
    title = "Dữ liệu đã thay đổi"


class InvalidInput(WebError):
    """Bad input; `errors` maps a field code to its message (shown beside the field)."""

    status = 422
    title = "Dữ liệu chưa hợp lệ"

    def __init__(self, message: str, errors: dict[str, str] | None = None):
        super().__init__(message, detail={"errors": errors or {}})
        self.errors = errors or {}


class RateLimited(WebError):
    status = 429
    title = "Quá nhiều yêu cầu"

    def __init__(self, message: str, retry_after_seconds: int):
        super().__init__(message, detail={"retry_after_seconds": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


class BadLink(WebError):
    """A sign-in link that cannot be honoured; the page offers a new one."""

    status = 400
    title = "Liên kết không dùng được"


class LinkTampered(BadLink):
    pass


class LinkExpired(BadLink):
    status = 410


class LinkReused(BadLink):
    status = 410


class Refused(WebError):
    """A rule of the campaign forbids the action now (closed campaign, form not open yet, ...)."""

    status = 409
    title = "Không thực hiện được"
