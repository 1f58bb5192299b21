"""Errors of the web adapter, on the one taxonomy of thidua.errors. The single exception handler in app.py
maps every ThiduaError (these and the service layer's) by category to a status, a Vietnamese page or JSON under
/api. A few web errors pin a status of their own (401 sign-in, 429 rate limit, 400/410 sign-in links). Nothing
else is ever shown: unexpected errors become a generic 500 page, never a stack trace or SQL."""

from __future__ import annotations

from typing import Any

from thidua.errors import (
    HTTP_TITLE,
    ConflictError,
    InvalidFields,
    NotFoundError,
    NotPermittedError,
    RefusedError,
    ThiduaError,
)
from thidua.links import BadLink, LinkExpired, LinkReused, LinkTampered

__all__ = [
    "WebError",
    "NotSignedIn",
    "Forbidden",
    "CsrfRejected",
    "NotFound",
    "Conflict",
    "InvalidInput",
    "RateLimited",
    "Refused",
    "BadLink",
    "LinkTampered",
    "LinkExpired",
    "LinkReused",
    "title_of",
]


class WebError(ThiduaError):
    def __init__(self, message: str, *, detail: dict[str, Any] | None = None):
        super().__init__(message, detail=detail)
        self.message = message


class NotSignedIn(NotPermittedError, WebError):
    status = 401
    title = "Cần đăng nhập"


class Forbidden(NotPermittedError, WebError):
    pass


class CsrfRejected(Forbidden):
    title = "Biểu mẫu đã hết hiệu lực"


class NotFound(NotFoundError, WebError):
    pass


class Conflict(ConflictError, WebError):
    """Someone acted first: the page was stale. `detail` describes the current state."""


class InvalidInput(InvalidFields, WebError):
    """Bad input; `errors` maps a field code to its message (shown beside the field)."""


class RateLimited(RefusedError, WebError):
    status = 429
    title = "Quá nhiều yêu cầu"
    retryable = True

    def __init__(self, message: str, retry_after_seconds: int):
        super().__init__(message, detail={"retry_after_seconds": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


class Refused(RefusedError, WebError):
    """A rule of the campaign forbids the action now (closed campaign, form not open yet, ...)."""


def title_of(exc: ThiduaError) -> str:
    return getattr(exc, "title", None) or HTTP_TITLE[exc.category]
